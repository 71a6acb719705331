import json

from synesthesia.align import score_concepts
from synesthesia.logs import log_to_file

log_to_file(snakemake.log[0])
score_concepts(
    snakemake.input.text, snakemake.input.vision, snakemake.input.dictionary, snakemake.output[0],
    json.loads(snakemake.params.spec), tables=(snakemake.input.text_table, snakemake.input.vision_table),
)
