import json

from synesthesia.data.concepts import prepare_dictionary
from synesthesia.logs import log_to_file

log_to_file(snakemake.log[0])
prepare_dictionary(
    snakemake.wildcards.dictionary, json.loads(snakemake.params.dictionary), snakemake.output[0],
    snakemake.params.wordnet_dir, vocabulary_path=snakemake.input.get("vocabulary"),
    study_dir=snakemake.params.study_dir,
)
