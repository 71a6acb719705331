from synesthesia.figures import save_figure, similarity_by_size, similarity_heatmap, similarity_layer_heatmaps
from synesthesia.logs import log_to_file
from synesthesia.paper_tables import similarity_paper_table, write_paper_table
from synesthesia.records import read_records
from synesthesia.report import similarity_table

log_to_file(snakemake.log[0])
table = similarity_table(read_records(snakemake.input))
table.to_csv(snakemake.output.table, index=False)
write_paper_table(similarity_paper_table(table, text_models=snakemake.params.text_models),
                  *snakemake.output.paper, snakemake.output.paper_html)
save_figure(similarity_heatmap(table, text_models=snakemake.params.text_models,
                               vision_models=snakemake.params.vision_models),
            snakemake.output.figure, snakemake.output.figure_pdf)
save_figure(similarity_by_size(table, text_models=snakemake.params.text_models), snakemake.output.by_size,
            snakemake.output.by_size_pdf)
save_figure(similarity_layer_heatmaps(table, text_models=snakemake.params.text_models,
                                      vision_models=snakemake.params.vision_models),
            snakemake.output.layers, snakemake.output.layers_pdf)
if "alignment_layers" in snakemake.output.keys():
    save_figure(similarity_layer_heatmaps(table, metric="alignment", text_models=snakemake.params.text_models,
                                          vision_models=snakemake.params.vision_models),
                snakemake.output.alignment_layers, snakemake.output.alignment_layers_pdf)
