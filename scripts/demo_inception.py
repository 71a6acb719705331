from synesthesia.logs import log_to_file
from synesthesia.models.tiny import build_inception_weights

log_to_file(snakemake.log[0])
build_inception_weights(snakemake.output[0])
