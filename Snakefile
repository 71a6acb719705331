import sys
from pathlib import Path

from snakemake_interface_executor_plugins.settings import DeploymentMethod
from snakemake.utils import min_version

from synesthesia.config import ConfigError, load_yaml, validate_config
from synesthesia.deployment import share_package_with_jobs
from synesthesia.gpu import export_gpu_slots
from synesthesia.prefetch import offline_gaps, preflight
from synesthesia.slurm import StatusUnreliable, status_without_accounting

min_version("9.0")

try:
    # Snakemake's own YAML reading keeps the last of duplicate keys and reports syntax errors
    # without a line; read each config file strictly first.
    for _configfile in workflow.overwrite_configfiles or [p for p in ["config.yaml"] if Path(p).exists()]:
        load_yaml(_configfile)
except ConfigError as error:
    raise SystemExit(str(error))

# A config given with --configfile replaces the paper grid instead of being merged into it.
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


# Local data paths are checked by the process that plans the jobs: a plan (dry run) warns,
# a real run is refused by `onstart` below, before any job starts.
try:
    _validated = validate_config(
        config,
        Path(workflow.basedir) / "workflow/schemas/config.schema.yaml",
        missing_data="warn" if workflow.is_main_process else "skip",
    )
except ConfigError as error:
    raise SystemExit(str(error))
config.clear()
config.update(_validated)
# With the hub off (HF_HUB_OFFLINE=1, or unreachable): what the config needs from the internet that the
# caches lack, warned here and refused by `onstart`. Once, by the process that plans: jobs re-read this file.
_offline_gaps = offline_gaps(config, Path(".")) if workflow.is_main_process else []
export_gpu_slots(workflow.global_resources.get("gpu"))
# Per-rule conda environments hold the dependencies; the jobs get this package from here.
if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method:
    share_package_with_jobs()


report: "workflow/report/workflow.rst"


onstart:
    try:
        # Not before `snakemake prefetch`: it is what fills the gaps.
        if set(workflow.dag_settings.targets) != {"prefetch"}:
            _planned = [(job.rule.name, job.wildcards_dict) for job in workflow.dag.needrun_jobs()]
            preflight(config, Path("."), _offline_gaps, _planned)
    except ConfigError as error:
        raise SystemExit(str(error))
    try:
        if _warning := status_without_accounting(workflow.executor_settings):
            print(_warning, file=sys.stderr)
    except StatusUnreliable as error:
        raise SystemExit(str(error))


include: "workflow/rules/common.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/embed.smk"
include: "workflow/rules/glue.smk"
include: "workflow/rules/sts.smk"
include: "workflow/rules/association.smk"
include: "workflow/rules/align.smk"
include: "workflow/rules/t2i.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/prefetch.smk"


rule all:
    default_target: True
    input:
        get_final_outputs(),
