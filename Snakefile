from pathlib import Path

from snakemake.utils import min_version

from synesthesia.config import ConfigError, validate_config
from synesthesia.gpu import export_gpu_slots

min_version("9.0")

# A config given with --configfile replaces the paper grid instead of being merged into it.
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


try:
    _validated = validate_config(config, Path(workflow.basedir) / "workflow/schemas/config.schema.yaml")
except ConfigError as error:
    raise SystemExit(str(error))
config.clear()
config.update(_validated)
export_gpu_slots(workflow.global_resources.get("gpu"))

report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/embed.smk"
include: "workflow/rules/probe.smk"
include: "workflow/rules/sts.smk"
include: "workflow/rules/align.smk"
include: "workflow/rules/t2i.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        get_final_outputs(),
    default_target: True
