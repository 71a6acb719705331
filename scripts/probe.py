import json

from synesthesia.logs import log_to_file
from synesthesia.probe import score_glue_probe

log_to_file(snakemake.log[0])
score_glue_probe(
    snakemake.input.embeddings, snakemake.input.labels, snakemake.wildcards.task, snakemake.output[0],
    json.loads(snakemake.params.spec),
)
