import json

from synesthesia.finetune import finetune_glue
from synesthesia.logs import log_to_file

log_to_file(snakemake.log[0])
spec = json.loads(snakemake.params.spec)
settings = spec["finetune"]
finetune_glue(
    snakemake.wildcards.model, spec["model"], snakemake.input.table, snakemake.input.labels, snakemake.wildcards.task,
    snakemake.output[0], learning_rate=settings["learning_rate"], batch_size=settings["batch_size"],
    epochs=settings.get("epochs"), seed=settings["seed"], device=spec["model"]["device"],
    max_steps=settings.get("max_steps"), precision=settings["precision"],
)
