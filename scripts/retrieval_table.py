from synesthesia.logs import log_to_file
from synesthesia.report import read_records, retrieval_heatmap, retrieval_table

log_to_file(snakemake.log[0])
table = retrieval_table(read_records(snakemake.input))
table.to_csv(snakemake.output.table, index=False)
retrieval_heatmap(table, snakemake.output.figure, k=snakemake.params.k)
