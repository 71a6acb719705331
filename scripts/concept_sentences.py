import json
from pathlib import Path

from synesthesia.data.sentences import prepare_sentences
from synesthesia.logs import log_to_file

log_to_file(snakemake.log[0])
prepare_sentences(Path(snakemake.output[0]).parent, snakemake.input.dictionary, json.loads(snakemake.params.dataset))
