from synesthesia.data.demo import make_demo_glue
from synesthesia.logs import log_to_file

log_to_file(snakemake.log[0])
make_demo_glue(snakemake.output[0], seed=0)
