from pathlib import Path

from synesthesia.association import association_table
from synesthesia.logs import log_to_file

log_to_file(snakemake.log[0])
association_table(Path(snakemake.output[0]).parent)
