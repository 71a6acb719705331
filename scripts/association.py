from synesthesia.association import score_association
from synesthesia.logs import log_to_file

log_to_file(snakemake.log[0])
score_association(snakemake.input[0], snakemake.output[0])
