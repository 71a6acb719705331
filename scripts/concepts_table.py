import pandas as pd

from synesthesia.figures import concept_heatmap, precision_by_size, save_figure
from synesthesia.logs import log_to_file
from synesthesia.paper_tables import concept_paper_table, write_paper_table
from synesthesia.records import read_records
from synesthesia.report import concept_summary, concept_table, size_summary

log_to_file(snakemake.log[0])
table = concept_table(read_records(snakemake.input))
table.to_csv(snakemake.output.table, index=False)
concept_summary(table).to_csv(snakemake.output.summary, index=False)
models = {"text_models": snakemake.params.text_models, "vision_models": snakemake.params.vision_models}
save_figure(concept_heatmap(table, k=snakemake.params.k, **models), snakemake.output.figure,
            snakemake.output.figure_pdf)
save_figure(precision_by_size(table, k=snakemake.params.k, **models), snakemake.output.by_size,
            snakemake.output.by_size_pdf)
pd.concat([size_summary(table, side).assign(side=side) for side in ("text", "vision")]).to_csv(
    snakemake.output.by_size_table, index=False)
write_paper_table(concept_paper_table(table, snakemake.params.k, text_models=snakemake.params.text_models,
                                      vision_models=snakemake.params.vision_models),
                  *snakemake.output.paper, snakemake.output.paper_html)
