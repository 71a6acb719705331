"""What a config would run, and what that would cost: ``python -m synesthesia plan``.

The DAG is Snakemake's own (``snakemake --summary``, a dry run), so the plan lists
exactly what ``snakemake`` would do. Costs are estimates for the embedding jobs,
which dominate: each model's parameter count and vector size come from its
architecture built on the meta device (no weights downloaded), each dataset's size
from its prepared table. Time per job is items x parameters x a rate: the rate is
measured from the embedding jobs already run here (results/benchmarks/embed) when
there are any, else DEFAULT_SECONDS_PER_ITEM_PARAMETER; a model that already ran
on another dataset is costed at its own measured time per item.
"""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from pathlib import Path

import pandas as pd

from .config import load_yaml, local_paths, model_spec, validate_config
from .data.tables import read_tsv, table_for

# 2 FLOPs per parameter per token, 64 tokens (or patches) per item, at 50 TFLOP/s:
# a data-centre GPU in bf16 at a modest utilisation. Replaced by the measured rate
# as soon as one embedding job of the grid has run.
DEFAULT_SECONDS_PER_ITEM_PARAMETER = 2 * 64 / 50e12
BYTES_PER_VALUE = 4  # the store keeps float32
EMBEDDING = "results/embeddings/"

log = logging.getLogger(__name__)


def dry_run_summary(snakefile: Path, configfile: Path, workdir: Path) -> pd.DataFrame:
    """One row per output file of the DAG: its rule and whether a run would (re)make it."""
    command = [sys.executable, "-m", "snakemake", "--summary", "-s", str(snakefile), "-d", str(workdir),
               "--configfile", str(configfile)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"snakemake could not plan {configfile}:\n{result.stderr.strip()[-2000:]}")
    table = pd.read_csv(io.StringIO(result.stdout), sep="\t", dtype=str).fillna("")
    table["would_run"] = table["plan"].str.contains("update pending")
    return table


def embedding_jobs(summary: pd.DataFrame) -> pd.DataFrame:
    """(dataset, model, would_run) of every embedding file of the DAG."""
    files = summary[summary["output_file"].str.startswith(EMBEDDING)]
    parts = files["output_file"].str.removeprefix(EMBEDDING).str.removesuffix(".h5").str.split("/", n=1)
    return pd.DataFrame({"dataset": parts.str[0], "model": parts.str[1],
                         "would_run": files["would_run"]}).reset_index(drop=True)


def score_counts(summary: pd.DataFrame) -> pd.DataFrame:
    """Per rule other than embedding: how many outputs exist and how many would be made."""
    other = summary[~summary["output_file"].str.startswith(EMBEDDING)]
    counts = other.groupby("rule")["would_run"].agg(would_run="sum", total="count")
    counts["up_to_date"] = counts["total"] - counts["would_run"]
    return counts[["up_to_date", "would_run"]].astype(int).reset_index()


def dataset_units(workdir: Path, dataset: str, modality: str) -> int | None:
    """Items an extraction of ``dataset`` encodes (sentences or images), once its table is prepared."""
    table = workdir / "data" / dataset / table_for(modality)
    if not table.exists():
        return None
    with open(table, encoding="utf-8") as handle:
        return sum(1 for _ in handle) - 1


def benchmarked_jobs(workdir: Path, footprints: dict, units) -> pd.DataFrame:
    """(model, items, parameters, seconds) of the embedding jobs benchmarked in ``workdir``."""
    rows = []
    for path in sorted((workdir / "results" / "benchmarks" / "embed").glob("*/*.tsv")):
        dataset, model = path.parent.name, path.stem
        items, size = units(dataset, model), footprints.get(model)
        if items and size:
            rows.append({"model": model, "items": items, "parameters": size[0],
                         "seconds": float(pd.read_csv(path, sep="\t")["s"].iloc[-1])})
    return pd.DataFrame(rows, columns=["model", "items", "parameters", "seconds"])


def _in_workdir(entry: dict, workdir: Path) -> dict:
    """The entry with its relative local paths resolved against the workdir, as the jobs see them."""
    return {**entry, **{key: str(workdir / path) for key, path in local_paths(entry).items()
                        if not Path(path).is_absolute()}}


def model_costs(jobs: pd.DataFrame, config: dict, workdir: Path, footprint=None) -> tuple[pd.DataFrame, str]:
    """Per model: embeddings to make, items, parameters, estimated GPU-hours (or CPU-hours) and disk."""
    if footprint is None:
        from .models import model_footprint as footprint
    benchmarked = {path.stem for path in (workdir / "results" / "benchmarks" / "embed").glob("*/*.tsv")}
    footprints = {}
    for model in sorted(set(jobs["model"]) | (benchmarked & set(config["models"]))):
        try:
            footprints[model] = footprint(model, _in_workdir(model_spec(config, model), workdir))
        except Exception as error:  # an unreachable hub, a custom architecture: the rest still plans
            log.warning(f"model {model!r}: size unknown ({error})")
            footprints[model] = None

    def units(dataset, model):
        return dataset_units(workdir, dataset, config["models"][model]["modality"])

    measured = benchmarked_jobs(workdir, footprints, units)
    # Weighted by work, so the large jobs that dominate a grid set the rate, not start-up time.
    work = (measured["items"] * measured["parameters"]).sum()
    rate = measured["seconds"].sum() / work if work else DEFAULT_SECONDS_PER_ITEM_PARAMETER
    basis = "measured here" if work else "default, before any embedding job has run"
    per_item = measured.groupby("model")["seconds"].sum() / measured.groupby("model")["items"].sum()
    rows = []
    for model, group in jobs[jobs["would_run"]].groupby("model"):
        parameters, dim = footprints[model] or (None, None)
        items = [units(dataset, model) for dataset in group["dataset"]]
        known = [n for n in items if n is not None]
        on_gpu = model_spec(config, model)["device"] != "cpu"
        # A model already run here on another dataset has its own measured time per item.
        seconds_per_item = per_item.get(model, parameters * rate if parameters else None)
        hours = sum(known) * seconds_per_item / 3600 if seconds_per_item is not None else None
        rows.append({
            "model": model, "embeddings": len(group), "items": sum(known) if known else None,
            "unsized_datasets": len(items) - len(known), "parameters": parameters, "dim": dim,
            "gpu_hours": hours if on_gpu else 0.0, "cpu_hours": None if on_gpu else hours,
            "disk_gb": sum(known) * dim * BYTES_PER_VALUE / 1e9 if dim else None,
        })
    columns = ["model", "embeddings", "items", "unsized_datasets", "parameters", "dim", "gpu_hours",
               "cpu_hours", "disk_gb"]
    return pd.DataFrame(rows, columns=columns), (
        f"{rate:.3g} s per item and parameter ({basis}), or a model's own time per item where it ran here")


def concept_candidates(config: dict, workdir: Path) -> pd.DataFrame:
    """Per concept dataset: its candidate words and sentences, and what the words beyond the dictionary add.

    With ``candidates: corpus`` every corpus word is embedded in its sentences, so each
    text model's extraction grows by the extra words' sentences; known once the
    dataset's text table (and dictionary) are prepared.
    """
    from .data.concepts import read_dictionary

    rows = []
    for name, spec in config["datasets"].items():
        if spec["source"] != "concepts":
            continue
        row = {"dataset": name, "candidates": spec["candidates"], "words": None, "sentences": None,
               "extra_words": None, "extra_sentences": None}
        table = workdir / "data" / name / table_for("text")
        if table.exists():
            ids = read_tsv(table, ["id"])["id"]
            row.update(words=ids.nunique(), sentences=len(ids))
            dictionary = workdir / "data" / "dictionaries" / f"{spec['dictionary']}.json"
            if dictionary.exists():
                extra = ~ids.isin(set(read_dictionary(dictionary).aliases))
                row.update(extra_words=ids[extra].nunique(), extra_sentences=int(extra.sum()))
        rows.append(row)
    return pd.DataFrame(rows, columns=["dataset", "candidates", "words", "sentences", "extra_words",
                                       "extra_sentences"])


def plan(snakefile: Path, configfile: Path, workdir: Path, footprint=None) -> dict[str, pd.DataFrame | str]:
    config = validate_config(load_yaml(configfile), snakefile.parent / "workflow/schemas/config.schema.yaml",
                             root=workdir, missing_data="warn")
    summary = dry_run_summary(snakefile, configfile, workdir)
    jobs = embedding_jobs(summary)
    costs, rate = model_costs(jobs, config, workdir, footprint)
    return {"embeddings": jobs, "scores": score_counts(summary), "costs": costs, "rate": rate,
            "concepts": concept_candidates(config, workdir)}


def render(result: dict) -> str:
    jobs = result["embeddings"]
    grid = jobs.assign(state=jobs["would_run"].map({True: "run", False: "ok"})).pivot(
        index="model", columns="dataset", values="state").fillna("")
    costs = result["costs"]
    lines = [
        f"Embeddings: {int((~jobs['would_run']).sum())} up to date, {int(jobs['would_run'].sum())} would run "
        "(ok = exists, run = would be made)",
        grid.to_string(), "",
        "Other outputs per rule:", result["scores"].to_string(index=False), "",
        f"Cost of the embeddings that would run, at {result['rate']}:",
        costs.to_string(index=False, na_rep="?", float_format=lambda x: f"{x:.3g}") if len(costs) else "(none)",
    ]
    concepts = result.get("concepts")
    if concepts is not None and len(concepts):
        lines += ["", "Concept datasets: candidate words embedded in context per text model (extra = corpus words "
                  "no concept has; ? = not prepared yet):",
                  concepts.to_string(index=False, na_rep="?", float_format=lambda x: f"{x:.0f}")]
    if len(costs):
        lines.append(f"Total: {costs['gpu_hours'].sum():.3g} GPU-hours, {costs['cpu_hours'].sum():.3g} CPU-hours, "
                     f"{costs['disk_gb'].sum():.3g} GB")
        if costs["unsized_datasets"].any():
            lines.append("? / unsized_datasets: datasets not prepared yet; "
                         "`snakemake --until prepare_captions concept_sentences concept_images glue_data sts_data` "
                         "prepares them without embedding anything.")
    return "\n".join(lines)
