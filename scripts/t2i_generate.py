import json

from synesthesia.logs import log_to_file
from synesthesia.t2i.generate import generate_heldout

log_to_file(snakemake.log[0])
generate_heldout(json.loads(snakemake.params.generator), snakemake.input.adapter, snakemake.input.tokens,
                 snakemake.input.split, snakemake.output[0], snakemake.params.batch_size)
