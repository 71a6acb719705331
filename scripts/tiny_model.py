from synesthesia.logs import log_to_file
from synesthesia.models.tiny import build_tiny_model

log_to_file(snakemake.log[0])
build_tiny_model(snakemake.wildcards.architecture, snakemake.output[0])
