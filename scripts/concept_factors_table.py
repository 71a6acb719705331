from synesthesia.figures import factor_figure, save_figure
from synesthesia.logs import log_to_file
from synesthesia.paper_tables import factor_paper_table, write_paper_table
from synesthesia.records import read_records
from synesthesia.report import factor_table

log_to_file(snakemake.log[0])
table = factor_table(read_records(snakemake.input))
table.to_csv(snakemake.output.table, index=False)
write_paper_table(factor_paper_table(table, snakemake.params.k, text_models=snakemake.params.text_models),
                  *snakemake.output.paper, snakemake.output.paper_html)
save_figure(factor_figure(table, k=snakemake.params.k, text_models=snakemake.params.text_models),
            snakemake.output.figure, snakemake.output.figure_pdf)
