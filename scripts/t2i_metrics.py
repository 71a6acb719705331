import json
from pathlib import Path

from synesthesia.logs import log_to_file
from synesthesia.t2i.metrics import score_generated

log_to_file(snakemake.log[0])
score_generated(snakemake.input.images, Path(snakemake.input.real).parent, snakemake.input.split,
                json.loads(snakemake.params.spec), snakemake.wildcards.encoder, snakemake.output[0])
