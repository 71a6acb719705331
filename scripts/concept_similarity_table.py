from synesthesia.logs import log_to_file
from synesthesia.report import read_records, similarity_by_size, similarity_heatmap, similarity_table

log_to_file(snakemake.log[0])
table = similarity_table(read_records(snakemake.input))
table.to_csv(snakemake.output.table, index=False)
similarity_heatmap(table, snakemake.output.figure)
similarity_by_size(table, snakemake.output.by_size)
