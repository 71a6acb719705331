"""Snakemake's HTML report of a run, complete or not.

Snakemake refuses a report while any output marked for it is missing, so a run that
is half done (or whose last table failed) would have none. Here the report covers
the table jobs (the rules of ``workflow/rules/report.smk``, all named ``*_table``)
whose outputs all exist; the front page lists the pending ones, the software the
report was built with and each model's parameter count.
"""

from __future__ import annotations

import platform
import re
import subprocess
import sys
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Sequence

import pandas as pd
import yaml

from .config import load_yaml
from .paper_tables import count_label
from .plan import dry_run_summary
from .store import open_store_file

TABLE_RULE_SUFFIX = "_table"
SOFTWARE = ("synesthesia", "snakemake", "torch", "transformers", "open_clip_torch", "timm", "diffusers", "numpy",
            "scipy", "pandas", "scikit-learn", "matplotlib", "h5py")


class NothingToReport(RuntimeError):
    """No table job of the config has all its outputs yet."""


@dataclass
class ReportPlan:
    targets: list[str] = field(default_factory=list)  # one output per finished table job
    pending: list[str] = field(default_factory=list)  # "rule: first output" of each unfinished one


def table_jobs(summary: pd.DataFrame, workdir: Path) -> ReportPlan:
    """Split the table jobs of ``snakemake --summary`` into finished (every output exists) and pending.
    A job is its rule and log file: each table job writes exactly one log."""
    tables = summary[summary["rule"].str.endswith(TABLE_RULE_SUFFIX)]
    plan = ReportPlan()
    for (rule, _log), files in tables.groupby(["rule", "log-file(s)"], sort=False):
        outputs = list(files["output_file"])
        if all((workdir / output).exists() for output in outputs):
            plan.targets.append(outputs[0])
        else:
            plan.pending.append(f"{rule}: {outputs[0]}")
    return plan


def software_versions() -> dict[str, str]:
    """Python and the installed versions of the packages the results depend on (those installed)."""
    versions = {"Python": platform.python_version()}
    for package in SOFTWARE:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            continue
    return versions


def parameter_counts(models: Sequence[str], workdir: Path) -> dict[str, str]:
    """Model -> "22.7M" for each model with an embedding store (the count the store recorded).
    A truncated or damaged store is refused with its name rather than skipped, as scoring would refuse it too."""
    counts = {}
    for model in models:
        for store in sorted(workdir.glob(f"results/embeddings/*/{model}.h5")):
            with open_store_file(store) as handle:
                if "n_parameters" in handle.attrs:
                    counts[model] = count_label(int(handle.attrs["n_parameters"]))
                    break
    return counts


def report_facts(configfile: Path, workdir: Path, plan: ReportPlan) -> dict:
    """What the front page shows beyond the config (``report_facts`` in the config schema): the workdir,
    the software that built the report, each model's parameter count and the pending table jobs."""
    models = list(load_yaml(configfile).get("models") or {})
    return {"workdir": str(workdir), "software": software_versions(),
            "parameters": parameter_counts(models, workdir), "pending": plan.pending}


def build_report(snakefile: Path, configfile: Path, workdir: Path, output: Path) -> ReportPlan:
    """Write the HTML report of what exists in ``workdir`` to ``output``; return what it covers and lacks.
    Raises NothingToReport when no table exists yet and RuntimeError with Snakemake's last error."""
    plan = table_jobs(dry_run_summary(snakefile, configfile, workdir), workdir)
    if not plan.targets:
        raise NothingToReport(f"nothing to report yet: no table of {configfile} exists in {workdir} "
                              f"(pending: {len(plan.pending)} table jobs); run snakemake first")
    # A second config file: Snakemake merges it into the run's config, which the front page renders.
    facts = workdir / ".snakemake" / "synesthesia" / "report_facts.yaml"
    facts.parent.mkdir(parents=True, exist_ok=True)
    facts.write_text(yaml.safe_dump({"report_facts": report_facts(configfile, workdir, plan)}, sort_keys=False),
                     encoding="utf-8")
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(snakefile), "--directory", str(workdir),
               "--configfile", str(configfile), str(facts), "--report", str(output), *plan.targets]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0 or not output.exists():
        raise RuntimeError(snakemake_error_line(result.stderr + result.stdout, result.returncode))
    return plan


def snakemake_error_line(output: str, returncode: int) -> str:
    """Snakemake's last error as one line: `WorkflowError: File ... does not exist.`"""
    lines = [line.strip() for line in output.splitlines()
             if line.strip() and "non critical warning" not in line]
    labels = [i for i, line in enumerate(lines) if re.match(r"^\w*(Error|Exception)\b", line)]
    if not labels:
        return lines[-1] if lines else f"snakemake exited with {returncode}"
    first = labels[-1]
    return " ".join(lines[first:first + 2] if lines[first].endswith(":") else lines[first:first + 1])
