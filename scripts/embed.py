import json

from synesthesia.embed import embed_dataset
from synesthesia.logs import log_to_file

log_to_file(snakemake.log[0])
embed_dataset(
    table=snakemake.input.table,
    out=snakemake.output[0],
    model=snakemake.wildcards.model,
    spec=json.loads(snakemake.params.model),
    dataset=snakemake.wildcards.dataset,
    workers=snakemake.params.workers,
    occurrences_allowed=snakemake.params.occurrences_allowed,
    blank_texts_allowed=snakemake.params.blank_texts_allowed,
)
