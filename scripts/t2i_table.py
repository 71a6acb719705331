from pathlib import Path

from synesthesia.logs import log_to_file
from synesthesia.report import read_records, t2i_table
from synesthesia.t2i.generate import image_grid

log_to_file(snakemake.log[0])
t2i_table(read_records(snakemake.input.metrics)).to_csv(snakemake.output.table, index=False)
image_grid(dict(zip(snakemake.params.encoders, snakemake.input.images)), Path(snakemake.input.text).parent,
           snakemake.input.split, snakemake.output.figure)
