from synesthesia.logs import log_to_file
from synesthesia.sts import score_sts

log_to_file(snakemake.log[0])
score_sts(snakemake.input.embeddings, snakemake.input.pairs, snakemake.output[0])
