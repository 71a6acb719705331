from pathlib import Path

from synesthesia.data.demo import make_demo_sts
from synesthesia.logs import log_to_file

log_to_file(snakemake.log[0])
make_demo_sts(Path(snakemake.output.sts).parent, seed=0)
