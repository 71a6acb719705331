from synesthesia.logs import log_to_file
from synesthesia.report import factor_figure, factor_table, read_records

log_to_file(snakemake.log[0])
table = factor_table(read_records(snakemake.input))
table.to_csv(snakemake.output.table, index=False)
factor_figure(table, snakemake.output.figure, k=snakemake.params.k)
