"""What a config would run, and what that would cost: ``python -m synesthesia plan``.

The DAG is Snakemake's own (``snakemake --summary``, a dry run), so the plan lists
exactly what ``snakemake`` would do. Costs are estimates for the embedding jobs,
which dominate: each model's parameter count and vector size come from its
architecture built on the meta device (no weights downloaded), each dataset's size
from its prepared table. Time per job is items x a model's own measured time per
item where the same checkpoint (model id and revision) already ran here, under any
name; else items x parameters x a rate, measured from the embedding jobs run here
(results/benchmarks/embed, with the stores they wrote) when there are any, else
DEFAULT_SECONDS_PER_ITEM_PARAMETER. What cannot be estimated is shown as unknown, with why.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from .align import CONTROLS, LAYER_CONTROLS
from .config import (
    extra_layers_asked,
    load_yaml,
    local_paths,
    model_spec,
    read_model_config,
    resolve_layers,
    similarity_aligns,
    tiny_model_dir,
    transformer_depth,
    validate_config,
)
from .data.tables import read_tsv, table_for
from .logs import first_line

# 2 FLOPs per parameter per token, 64 tokens (or patches) per item, at 50 TFLOP/s:
# a data-centre GPU in bf16 at a modest utilisation. Replaced by the measured rate
# as soon as one embedding job of the grid has run.
DEFAULT_SECONDS_PER_ITEM_PARAMETER = 2 * 64 / 50e12
BYTES_PER_VALUE = 4  # the store keeps float32
EMBEDDING = "results/embeddings/"
# Weights on the GPU: dtype auto is bf16 there. Activations, CUDA context and allocator
# slack at the batch sizes used add roughly a fifth on top.
GPU_BYTES_PER_PARAMETER = {"auto": 2, "bfloat16": 2, "float16": 2, "float32": 4}
ACTIVATION_OVERHEAD = 1.2
DEFAULT_GPU_MEMORY_GB = 80
BUILT_BY_WORKFLOW = "built by the workflow"
SCORING_RULES = ("concept_alignment", "concept_factors", "concept_train_fractions")
PUBLISHED_FOLDS = 5
# float32 matrix products: on the project's CI kind (2 cores) as benchmarks/align.py measured them, and an
# A100's float32 peak for a GPU (no GPU measured yet).
SCORING_FLOPS_PER_SECOND = {"cpu_hours": 1.2e11, "gpu_hours": 1.95e13}
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


def _first_line(error: BaseException) -> str:
    return first_line(error)[:200]


def measured_jobs(workdir: Path) -> pd.DataFrame:
    """(model, model_id, revisions, items, parameters, seconds) of each embedding job benchmarked in ``workdir``.

    Identity and size come from the store the job wrote, not from this config: the same
    checkpoint may have run under another name, or in another grid sharing the workdir.
    """
    from .store import open_store_file

    rows = []
    for path in sorted((workdir / "results" / "benchmarks" / "embed").glob("*/*.tsv")):
        store = workdir / EMBEDDING / path.parent.name / f"{path.stem}.h5"
        try:
            seconds = float(pd.read_csv(path, sep="\t")["s"].iloc[-1])
            with open_store_file(store) as f:
                attrs = dict(f.attrs)
                units = (f["items/embeddings"] if "items" in f else f["embeddings"]).shape[0]
            configured = json.loads(attrs.get("spec", "{}")).get("model", {})
            rows.append({"model": path.stem, "model_id": str(attrs["model_id"]),
                         # The resolved commit and the revision as configured (a branch or tag) both match.
                         "revisions": {str(attrs.get("revision") or ""), str(configured.get("revision") or "")} - {""},
                         "items": units, "parameters": attrs.get("n_parameters"), "seconds": seconds})
        except Exception as error:  # a store deleted, rewritten or from an older layout: only a hint lost
            log.debug(f"{path}: not used for rates ({_first_line(error)})")
    return pd.DataFrame(rows, columns=["model", "model_id", "revisions", "items", "parameters", "seconds"])


def seconds_per_item_of(measured: pd.DataFrame, entry: dict) -> float | None:
    """This checkpoint's measured time per item, under whatever name it ran here; None if it never did."""
    same = measured["model_id"] == entry["id"]
    if entry.get("revision"):
        same &= measured["revisions"].map(lambda revisions: entry["revision"] in revisions)
    runs = measured[same]
    return runs["seconds"].sum() / runs["items"].sum() if runs["items"].sum() else None


def _in_workdir(entry: dict, workdir: Path) -> dict:
    """The entry with its relative local paths resolved against the workdir, as the jobs see them."""
    return {**entry, **{key: str(workdir / path) for key, path in local_paths(entry).items()
                        if not Path(path).is_absolute()}}


def model_cached(entry: dict, root: Path) -> bool:
    """Whether a model's weights are on this machine: the check prefetch and the pre-flight make
    (a tiny model: whether the workflow has built it yet)."""
    from .prefetch import model_item

    if tiny_model_dir(entry):
        return (root / tiny_model_dir(entry)).exists()
    return model_item("", _in_workdir(entry, root)).cached()


@functools.cache
def hub_unreachable() -> bool:
    """Offline mode, or the hub not answering: checked once per plan."""
    from .prefetch import hub_offline

    return hub_offline()


def reachable_footprint(model: str, entry: dict, root: Path) -> tuple[int, int]:
    """The model's footprint, refused at once for a hub model whose config is neither cached nor
    reachable: asking anyway costs half a minute of retries per model."""
    if entry["source"] == "hf" and not local_paths(entry) and read_model_config(entry, root) is None \
            and hub_unreachable():
        raise OSError("its config.json is not in the local cache and the hub is unreachable")
    from .models import model_footprint

    return model_footprint(model, entry)


def _size(model: str, spec: dict, workdir: Path, footprint) -> tuple[int | None, int | None, str]:
    """(parameters, dim, why unknown) of one model, without its weights."""
    built = tiny_model_dir(spec)
    if built and not (workdir / built).exists():
        return None, None, BUILT_BY_WORKFLOW  # its size is known once the tiny_model rule has run
    # Libraries warn that a skeleton has no weights ("initialized randomly"): true, and meant here.
    logging.disable(logging.WARNING)
    try:
        parameters, dim = footprint(model, _in_workdir(spec, workdir))
        return parameters, dim, ""
    except Exception as error:  # an unreachable hub, a custom architecture: the rest still plans
        return None, None, f"size unknown: {_first_line(error)}"
    finally:
        logging.disable(logging.NOTSET)


def stored_layer_count(model: str, entry: dict, workdir: Path) -> tuple[int | None, str]:
    """(the number of hidden states the entry's ``layers`` adds to its store, why unknown): 0 without
    ``layers``; ``all`` needs the checkpoint's config.json on this machine to count its layers."""
    if not extra_layers_asked(entry):
        return 0, ""
    try:
        depth = transformer_depth(entry, read_model_config(entry, workdir))
    except Exception as error:  # an unreadable config.json: the run itself will say
        depth, why = None, _first_line(error)
    else:
        why = "its config.json is not on this machine"
    if depth is not None:
        return len(resolve_layers(model, entry, depth)), ""
    if entry["layers"] == "all":
        return None, why
    return len(set(entry["layers"])), ""  # a negative and a positive index may name one layer


def stored_layer_bytes(model: str, entry: dict, workdir: Path) -> tuple[int | None, str]:
    """(bytes per row and vector value of the entry's extra ``layers`` arrays, why unknown): the number
    of layers (:func:`stored_layer_count`) times the bytes of ``store_dtype``."""
    count, why = stored_layer_count(model, entry, workdir)
    if count is None:
        return None, f"disk of its layers unknown ({why})"
    return count * (2 if entry.get("store_dtype") == "float16" else 4), ""


def _cached(entry: dict, workdir: Path) -> bool | None:
    try:
        return model_cached(entry, workdir)
    except Exception as error:  # an unknown weights name or pretrained tag: the run itself will say
        log.debug(f"cache lookup of {entry['id']!r} failed ({_first_line(error)})")
        return None


def model_costs(jobs: pd.DataFrame, config: dict, workdir: Path, footprint=None,
                gpu_memory_gb: float = DEFAULT_GPU_MEMORY_GB) -> tuple[pd.DataFrame, str]:
    """Per model: embeddings to make, items, size, whether cached, peak GPU memory and GPUs needed,
    estimated GPU-hours (or CPU-hours) and disk, how the time was estimated, and what is unknown and why."""
    footprint = footprint or functools.partial(reachable_footprint, root=workdir)
    measured = measured_jobs(workdir)
    sized = measured.dropna(subset=["parameters"])
    # Weighted by work, so the large jobs that dominate a grid set the rate, not start-up time.
    work = (sized["items"] * sized["parameters"].astype(float)).sum()
    rate = sized["seconds"].sum() / work if work else DEFAULT_SECONDS_PER_ITEM_PARAMETER
    rows = []
    for model, group in jobs[jobs["would_run"]].groupby("model"):
        entry, spec = config["models"][model], model_spec(config, model)
        parameters, dim, size_note = _size(model, spec, workdir, footprint)
        seconds_per_item, basis, notes = seconds_per_item_of(measured, entry), "this model id", []
        items = [dataset_units(workdir, dataset, entry["modality"]) for dataset in group["dataset"]]
        known = [n for n in items if n is not None]
        if not known:
            notes.append("time and disk unknown until its datasets are prepared")
        on_gpu = spec["device"] != "cpu"
        if seconds_per_item is None and parameters:
            seconds_per_item, basis = parameters * rate, "rate x parameters"
        elif seconds_per_item is None:
            basis = "unknown"
            notes.append(f"time unknown: no measured rate for its model id and no parameter count ({size_note})")
        elif size_note:
            notes.append(f"disk and GPU memory unknown ({size_note})")
        hours = sum(known) * seconds_per_item / 3600 if known and seconds_per_item is not None else None
        peak_gb = (parameters * GPU_BYTES_PER_PARAMETER[spec["dtype"]] * ACTIVATION_OVERHEAD / 1e9
                   if parameters else None) if on_gpu else 0.0
        gpus_needed = math.ceil(peak_gb / gpu_memory_gb) if peak_gb is not None else None
        gpus = (spec.get("gpus") or 1) if on_gpu else 0  # what the job asks for: one GPU unless the entry says more
        layer_bytes, layers_note = stored_layer_bytes(model, entry, workdir)
        if layers_note:
            notes.append(layers_note)
        # The main vectors in float32, plus layers x rows x dim x bytes of store_dtype for `layers`.
        row_value_bytes = BYTES_PER_VALUE + layer_bytes if layer_bytes is not None else None
        if gpus_needed and gpus_needed > gpus:
            notes.append(f"needs {gpus_needed} GPUs of {gpu_memory_gb:g} GB, asks for {gpus}: set gpus: {gpus_needed}")
        rows.append({
            "model": model, "embeddings": len(group), "items": sum(known) if known else None,
            "unsized_datasets": items.count(None), "parameters": parameters, "dim": dim,
            "cached": _cached(entry, workdir), "peak_gpu_gb": peak_gb, "gpus_needed": gpus_needed, "gpus": gpus,
            "gpu_hours": hours if on_gpu else 0.0, "cpu_hours": 0.0 if on_gpu else hours,
            "disk_gb": sum(known) * dim * row_value_bytes / 1e9 if known and dim and row_value_bytes else None,
            "basis": basis, "note": "; ".join(notes),
        })
    columns = ["model", "embeddings", "items", "unsized_datasets", "parameters", "dim", "cached", "peak_gpu_gb",
               "gpus_needed", "gpus", "gpu_hours", "cpu_hours", "disk_gb", "basis", "note"]
    basis = "measured here" if work else "default, before any embedding job has run"
    return pd.DataFrame(rows, columns=columns), (
        f"{rate:.3g} s per item and parameter ({basis}), or a model id's own time per item where it ran here "
        "under any name")


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


def _maps_and_projections(rule: str, concepts: dict, text_layers: int = 1, vision_layers: int = 1) -> tuple[int, int]:
    """(Procrustes maps ranked, PCA projections of the candidates) one job of a concept-scoring rule makes.

    The similarity stage's alignment (``similarity.alignment``) ranks the fitted map and
    the shuffled control at every (text layer, vision layer) pair of the two stores and
    projects each text layer's candidates once per split.
    """
    from .factors import TRAIN_FRACTIONS
    from .resampling import DEFAULT_PERMUTATIONS

    splits = concepts["splits"] if isinstance(concepts["splits"], int) else PUBLISHED_FOLDS
    if rule == "concept_similarity":
        return splits * len(LAYER_CONTROLS) * text_layers * vision_layers, splits * text_layers
    if rule == "concept_factors":
        return splits * (1 + concepts["factors"].get("permutations", DEFAULT_PERMUTATIONS)), splits
    fractions = len(concepts.get("train_fractions") or TRAIN_FRACTIONS) if rule == "concept_train_fractions" else 1
    return fractions * splits * len(CONTROLS), fractions * splits


def scoring_flops(n_concepts: int, n_candidates: int, text_dim: int, vision_dim: int, maps: int,
                  projections: int) -> float:
    """float32 FLOPs of ranking ``maps`` maps and making ``projections`` PCA projections of the candidates."""
    width = min(text_dim, vision_dim, n_concepts)
    return 2.0 * n_candidates * width * (maps * n_concepts + projections * text_dim)


def scoring_costs(summary: pd.DataFrame, config: dict, workdir: Path, size_of,
                  layers_of=lambda model: 0) -> pd.DataFrame:
    """Per concept-scoring rule and dataset: jobs that would run, their float32 TFLOPs, and CPU- or GPU-hours.

    Each ranked map is one pass over every (mapped concept, candidate word) cosine, and
    each split projects every candidate onto the language PCA basis (:func:`scoring_flops`,
    :mod:`synesthesia.ranking`); the similarity stage counts when it aligns at every layer
    pair (its metrics, per-layer n^2 products, are not counted). Hours at
    SCORING_FLOPS_PER_SECOND. ``size_of(model)``: (parameters, dim, why unknown);
    ``layers_of(model)``: the hidden states its store holds beside the main vector (None: unknown).
    """
    from .data.concepts import read_dictionary

    concepts = config["experiments"].get("concepts")
    rules = SCORING_RULES + (("concept_similarity",) if similarity_aligns(concepts) else ())
    files = summary[summary["rule"].isin(rules) & summary["would_run"]]
    parts = files["output_file"].str.removesuffix(".json").str.split("/")
    jobs = pd.DataFrame({"rule": files["rule"], "dataset": parts.str[2], "pair": parts.str[3]})
    rows = []
    for (rule, dataset), group in jobs.groupby(["rule", "dataset"], sort=False):
        spec, flops = config["datasets"][dataset], 0.0
        table = workdir / "data" / dataset / table_for("text")
        dictionary = workdir / "data" / "dictionaries" / f"{spec['dictionary']}.json"
        if table.exists() and dictionary.exists():
            n_concepts = len(read_dictionary(dictionary).concepts)
            n_candidates = read_tsv(table, ["id"])["id"].nunique()
            for text_model, vision_model in group["pair"].str.split("__", n=1):
                text_dim, vision_dim = size_of(text_model)[1], size_of(vision_model)[1]
                text_layers, vision_layers = layers_of(text_model), layers_of(vision_model)
                if not (text_dim and vision_dim) or text_layers is None or vision_layers is None:
                    flops = None
                    break
                maps, projections = _maps_and_projections(rule, concepts, 1 + text_layers, 1 + vision_layers)
                flops += scoring_flops(n_concepts, n_candidates, text_dim, vision_dim, maps, projections)
        else:
            flops = None
        rows.append({"rule": rule, "dataset": dataset, "jobs": len(group),
                     "tflop": flops / 1e12 if flops is not None else None,
                     **{device: flops / rate / 3600 if flops is not None else None
                        for device, rate in SCORING_FLOPS_PER_SECOND.items()}})
    return pd.DataFrame(rows, columns=["rule", "dataset", "jobs", "tflop", *SCORING_FLOPS_PER_SECOND])


def plan(snakefile: Path, configfile: Path, workdir: Path, footprint=None,
         gpu_memory_gb: float = DEFAULT_GPU_MEMORY_GB) -> dict[str, pd.DataFrame | str]:
    config = validate_config(load_yaml(configfile), snakefile.parent / "workflow/schemas/config.schema.yaml",
                             root=workdir, missing_data="warn")
    from .prefetch import offline_gaps

    offline_gaps(config, workdir)  # offline: warns about what the caches lack, as a dry run does
    summary = dry_run_summary(snakefile, configfile, workdir)
    jobs = embedding_jobs(summary)
    footprint = footprint or functools.partial(reachable_footprint, root=workdir)
    costs, rate = model_costs(jobs, config, workdir, footprint, gpu_memory_gb)
    sizes = functools.cache(lambda model: _size(model, model_spec(config, model), workdir, footprint))
    layers = functools.cache(lambda model: stored_layer_count(model, model_spec(config, model), workdir)[0])
    return {"embeddings": jobs, "scores": score_counts(summary), "costs": costs, "rate": rate,
            "gpu_memory_gb": gpu_memory_gb, "concepts": concept_candidates(config, workdir),
            "scoring": scoring_costs(summary, config, workdir, sizes, layers)}


def _cell(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if value is None or pd.isna(value):
        return "?"
    if isinstance(value, float) or abs(value) >= 1e6:
        return f"{value:.3g}"
    return str(value)


def total_line(costs: pd.DataFrame) -> str:
    """The sums of what is known; unknown where nothing is, and partial (a lower bound) where some is."""
    sums = []
    for column, unit in (("gpu_hours", "GPU-hours"), ("cpu_hours", "CPU-hours"), ("disk_gb", "GB")):
        values = costs[column]
        at_least = "at least " if values.isna().any() else ""
        sums.append(f"unknown {unit}" if values.isna().all() else f"{at_least}{values.sum():.3g} {unit}")
    line = "Total: " + ", ".join(sums)
    partial = costs[["gpu_hours", "cpu_hours", "disk_gb"]].isna().any(axis=1) | (costs["unsized_datasets"] > 0)
    if partial.any():
        line += f" (partial: {int(partial.sum())} of {len(costs)} models not fully costed, see the notes above)"
    return line


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
        f"Cost of the embeddings that would run, at {result['rate']}.",
        f"peak_gpu_gb = parameters x bytes per dtype x {ACTIVATION_OVERHEAD}; gpus_needed at "
        f"{result.get('gpu_memory_gb', DEFAULT_GPU_MEMORY_GB):g} GB per GPU (--gpu-memory-gb); gpus = what the job "
        "asks for; cached = weights on this machine:",
        costs.drop(columns="note").map(_cell).to_string(index=False) if len(costs) else "(none)",
    ]
    notes = costs[costs["note"] != ""].groupby("note", sort=False)["model"].agg(", ".join)
    if len(notes):
        lines += ["", "Notes (? = unknown):"] + [f"  {models}: {note}" for note, models in notes.items()]
    concepts = result.get("concepts")
    if concepts is not None and len(concepts):
        lines += ["", "Concept datasets: candidate words embedded in context per text model (extra = corpus words "
                  "no concept has; ? = not prepared yet):",
                  concepts.map(_cell).to_string(index=False)]
    scoring = result.get("scoring")
    if scoring is not None and len(scoring):
        lines += ["", "Concept scoring that would run (float32; cpu_hours at the 2-core rate benchmarks/align.py "
                  "measured, gpu_hours at an A100's float32 peak, not measured; ? = data not prepared or a model's "
                  "size unknown):", scoring.map(_cell).to_string(index=False)]
    if len(costs):
        lines.append(total_line(costs))
        if costs["unsized_datasets"].any():
            lines.append("? / unsized_datasets: datasets not prepared yet; "
                         "`snakemake --until prepare_captions concept_sentences concept_images glue_data sts_data` "
                         "prepares them without embedding anything.")
    return "\n".join(lines)
