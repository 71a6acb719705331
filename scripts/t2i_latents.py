import json
from pathlib import Path

from synesthesia.logs import log_to_file
from synesthesia.t2i.cache import cache_latents
from synesthesia.t2i.generator import load_generator

log_to_file(snakemake.log[0])
cache_latents(load_generator(json.loads(snakemake.params.generator)), Path(snakemake.input.images).parent,
              snakemake.input.split, snakemake.output[0], snakemake.wildcards.dataset, snakemake.params.batch_size)
