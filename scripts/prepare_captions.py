import json
from pathlib import Path

from synesthesia.data.captions import prepare
from synesthesia.logs import log_to_file

log_to_file(snakemake.log[0])
prepare(Path(snakemake.output.text).parent, json.loads(snakemake.params.dataset), snakemake.wildcards.dataset)
