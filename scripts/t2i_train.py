import json

from synesthesia.logs import log_to_file
from synesthesia.t2i.train import train_from_caches

log_to_file(snakemake.log[0])
spec = json.loads(snakemake.params.spec)
train_from_caches(json.loads(snakemake.params.generator), spec["adapter"], spec["training"], snakemake.input.latents,
                  snakemake.input.tokens, snakemake.input.split, snakemake.output.adapter, snakemake.output.losses)
