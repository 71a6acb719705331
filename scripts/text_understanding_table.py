from synesthesia.figures import save_figure, text_understanding_figure
from synesthesia.logs import log_to_file
from synesthesia.paper_tables import TEXT_UNDERSTANDING_PARTS, text_understanding_paper_table, write_paper_table
from synesthesia.report import text_understanding_summary, text_understanding_table

log_to_file(snakemake.log[0])
table = text_understanding_table(
    snakemake.input.glue, snakemake.input.sts, snakemake.input.association, snakemake.input.finetune
)
table.to_csv(snakemake.output.table, index=False)
summary = text_understanding_summary(table)
summary.to_csv(snakemake.output.summary, index=False)
save_figure(text_understanding_figure(table, models=snakemake.params.models), snakemake.output.figure,
            snakemake.output.figure_pdf)
for part in TEXT_UNDERSTANDING_PARTS:
    write_paper_table(text_understanding_paper_table(table, summary, snakemake.params.models, part),
                      *snakemake.output[part], snakemake.output[f"{part}_html"])
