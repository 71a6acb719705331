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
)
