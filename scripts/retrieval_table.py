from synesthesia.figures import retrieval_heatmap, save_figure
from synesthesia.logs import log_to_file
from synesthesia.paper_tables import retrieval_paper_table, write_paper_table
from synesthesia.records import read_records
from synesthesia.report import retrieval_table

log_to_file(snakemake.log[0])
table = retrieval_table(read_records(snakemake.input))
table.to_csv(snakemake.output.table, index=False)
save_figure(retrieval_heatmap(table, k=snakemake.params.k, text_models=snakemake.params.text_models,
                              vision_models=snakemake.params.vision_models),
            snakemake.output.figure, snakemake.output.figure_pdf)
write_paper_table(retrieval_paper_table(table, snakemake.params.k, snakemake.params.text_models,
                                        snakemake.params.vision_models),
                  *snakemake.output.paper, snakemake.output.paper_html)
