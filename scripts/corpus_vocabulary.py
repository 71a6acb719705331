import json

from synesthesia.data.sentences import corpus_vocabulary
from synesthesia.logs import log_to_file

log_to_file(snakemake.log[0])
corpus_vocabulary(json.loads(snakemake.params.corpus), snakemake.output[0])
