import json

from synesthesia.align import score_retrieval
from synesthesia.logs import log_to_file

log_to_file(snakemake.log[0])
score_retrieval(snakemake.input.text, snakemake.input.vision, snakemake.output[0], json.loads(snakemake.params.spec),
                tables=(snakemake.input.text_table, snakemake.input.vision_table))
