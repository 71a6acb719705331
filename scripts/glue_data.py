import json
from pathlib import Path

from synesthesia.data.glue import prepare_glue
from synesthesia.logs import log_to_file

log_to_file(snakemake.log[0])
spec = json.loads(snakemake.params.glue)
prepare_glue(
    Path(snakemake.output.text).parent,
    snakemake.wildcards.task,
    dataset_id=snakemake.input[0] if snakemake.input else spec["dataset"],
    limit_train=spec["limit_train"],
    limit_eval=spec["limit_eval"],
)
