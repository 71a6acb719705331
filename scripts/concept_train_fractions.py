import json

from synesthesia.factors import score_train_fractions
from synesthesia.logs import log_to_file

log_to_file(snakemake.log[0])
score_train_fractions(snakemake.input.text, snakemake.input.vision, snakemake.input.dictionary, snakemake.output[0],
                      json.loads(snakemake.params.spec),
                      tables=(snakemake.input.text_table, snakemake.input.vision_table))
