from synesthesia.logs import log_to_file
from synesthesia.report import read_records, train_fraction_figure, train_fraction_table

log_to_file(snakemake.log[0])
table = train_fraction_table(read_records(snakemake.input))
table.to_csv(snakemake.output.table, index=False)
train_fraction_figure(table, snakemake.output.figure, k=snakemake.params.k)
