from synesthesia.logs import log_to_file
from synesthesia.paper_tables import text_understanding_paper_table, write_paper_table
from synesthesia.report import text_understanding_figure, text_understanding_summary, text_understanding_table

log_to_file(snakemake.log[0])
table = text_understanding_table(
    snakemake.input.glue, snakemake.input.sts, snakemake.input.association, snakemake.input.finetune
)
table.to_csv(snakemake.output.table, index=False)
summary = text_understanding_summary(table)
summary.to_csv(snakemake.output.summary, index=False)
text_understanding_figure(table, snakemake.output.figure)
write_paper_table(text_understanding_paper_table(table, summary, snakemake.params.models),
                  snakemake.output.paper_csv, snakemake.output.paper_md, snakemake.output.paper_tex)
