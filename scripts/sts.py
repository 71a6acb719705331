from synesthesia.sts import score_sts
from synesthesia.logs import log_to_file

log_to_file(snakemake.log[0])
score_sts(snakemake.input.embeddings, snakemake.input.pairs, snakemake.output[0])
