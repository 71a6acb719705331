from synesthesia.logs import log_to_file
from synesthesia.paper_tables import retrieval_paper_table, write_paper_table
from synesthesia.report import read_records, retrieval_heatmap, retrieval_table

log_to_file(snakemake.log[0])
table = retrieval_table(read_records(snakemake.input))
table.to_csv(snakemake.output.table, index=False)
retrieval_heatmap(table, snakemake.output.figure, k=snakemake.params.k)
write_paper_table(retrieval_paper_table(table, snakemake.params.k, snakemake.params.text_models,
                                        snakemake.params.vision_models),
                  snakemake.output.paper_csv, snakemake.output.paper_md, snakemake.output.paper_tex)
