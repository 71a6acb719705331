from synesthesia.logs import log_to_file
from synesthesia.report import text_understanding_figure, text_understanding_summary, text_understanding_table

log_to_file(snakemake.log[0])
table = text_understanding_table(
    snakemake.input.glue, snakemake.input.sts, snakemake.input.association, snakemake.input.finetune
)
table.to_csv(snakemake.output.table, index=False)
text_understanding_summary(table).to_csv(snakemake.output.summary, index=False)
text_understanding_figure(table, snakemake.output.figure)
