from pathlib import Path

from synesthesia.logs import log_to_file
from synesthesia.paper_tables import t2i_paper_table, write_paper_table
from synesthesia.report import read_records, t2i_table
from synesthesia.t2i.generate import image_grid

log_to_file(snakemake.log[0])
table = t2i_table(read_records(snakemake.input.metrics))
table.to_csv(snakemake.output.table, index=False)
write_paper_table(t2i_paper_table(table, snakemake.params.encoders), *snakemake.output.paper,
                  snakemake.output.paper_html)
image_grid(dict(zip(snakemake.params.encoders, snakemake.input.images)), Path(snakemake.input.text).parent,
           snakemake.input.split, snakemake.output.figure, snakemake.output.figure_pdf)
