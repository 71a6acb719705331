import pandas as pd

from synesthesia.factors import size_summary
from synesthesia.logs import log_to_file
from synesthesia.paper_tables import concept_paper_table, write_paper_table
from synesthesia.report import concept_heatmap, concept_summary, concept_table, precision_by_size, read_records

log_to_file(snakemake.log[0])
table = concept_table(read_records(snakemake.input))
table.to_csv(snakemake.output.table, index=False)
concept_summary(table).to_csv(snakemake.output.summary, index=False)
concept_heatmap(table, snakemake.output.figure, k=snakemake.params.k)
precision_by_size(table, snakemake.output.by_size, k=snakemake.params.k)
pd.concat([size_summary(table, side).assign(side=side) for side in ("text", "vision")]).to_csv(
    snakemake.output.by_size_table, index=False)
write_paper_table(concept_paper_table(table, snakemake.params.k, text_models=snakemake.params.text_models,
                                      vision_models=snakemake.params.vision_models),
                  snakemake.output.paper_csv, snakemake.output.paper_md, snakemake.output.paper_tex)
