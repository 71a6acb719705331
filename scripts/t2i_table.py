from pathlib import Path

from synesthesia.figures import image_grid, save_figure
from synesthesia.logs import log_to_file
from synesthesia.paper_tables import t2i_paper_table, write_paper_table
from synesthesia.records import read_records
from synesthesia.report import t2i_table
from synesthesia.t2i.generate import heldout_images

log_to_file(snakemake.log[0])
table = t2i_table(read_records(snakemake.input.metrics))
table.to_csv(snakemake.output.table, index=False)
write_paper_table(t2i_paper_table(table, snakemake.params.encoders), *snakemake.output.paper,
                  snakemake.output.paper_html)
captions, images = heldout_images(dict(zip(snakemake.params.encoders, snakemake.input.images)),
                                  Path(snakemake.input.text).parent, snakemake.input.split)
save_figure(image_grid(captions, images), snakemake.output.figure, snakemake.output.figure_pdf)
