import json
from pathlib import Path

from synesthesia.data.concept_images import prepare_images
from synesthesia.logs import log_to_file

log_to_file(snakemake.log[0])
prepare_images(Path(snakemake.output[0]).parent, snakemake.input.dictionary, json.loads(snakemake.params.dataset),
               snakemake.wildcards.dataset)
