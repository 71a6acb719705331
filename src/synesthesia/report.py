"""Tidy tables and figures from the per-unit JSON results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import pandas as pd

RETRIEVAL_GROUP = ["dataset", "text_model", "vision_model", "control", "metric", "k"]
CONCEPT_GROUP = ["dataset", "dictionary", "text_model", "vision_model", "text_family", "vision_family",
                 "text_parameters", "vision_parameters", "n_candidates", "control", "retrieval", "metric", "k"]
SUMMARY_KS = (1, 10, 100)


def write_records(out: str | Path, identity: dict, records: Sequence[dict]) -> list[dict]:
    """Write one scoring job's long-format records, each prefixed with what was scored."""
    records = [{**identity, **record} for record in records]
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(records, handle, indent=1, default=float)
    return records


def read_records(paths: Sequence[str | Path]) -> pd.DataFrame:
    rows = []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            rows.extend(json.load(handle))
    if not rows:
        raise ValueError("no result records to aggregate")
    return pd.DataFrame(rows)


def summarise(records: pd.DataFrame, group: Sequence[str]) -> pd.DataFrame:
    """Mean and std over splits, one row per group."""
    records = records.assign(k=records["k"].astype("Int64"))
    table = records.groupby(list(group), dropna=False)["value"].agg(mean="mean", std="std", splits="count")
    return table.reset_index().sort_values(list(group), kind="stable").reset_index(drop=True)


def retrieval_table(records: pd.DataFrame) -> pd.DataFrame:
    return summarise(records, RETRIEVAL_GROUP)


def concept_table(records: pd.DataFrame) -> pd.DataFrame:
    return summarise(records, CONCEPT_GROUP)


def t2i_table(records: pd.DataFrame) -> pd.DataFrame:
    """One row per (text encoder, metric) of the generation experiment, encoders in grid order."""
    columns = [c for c in ("model", "metric", "value", "std", "n_images") if c in records]
    return records[columns].reset_index(drop=True)


def concept_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Rows text models, columns (vision model, retrieval, P@k) for k in 1/10/100: the study's layout."""
    chosen = table[(table.control == "none") & table.k.isin(SUMMARY_KS)]
    wide = chosen.pivot_table(index="text_model", columns=["vision_model", "retrieval", "k"], values="mean")
    wide.columns = [f"{vision} {retrieval.upper()} P@{k}" for vision, retrieval, k in wide.columns]
    return wide.reset_index()


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def heatmap(grid: pd.DataFrame, title: str, out: str | Path) -> None:
    """Rows x columns of values in [0, 1], annotated."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.6 + 0.9 * grid.shape[1], 1.2 + 0.5 * grid.shape[0]))
    image = ax.imshow(grid.values, cmap="viridis", vmin=0, vmax=max(float(grid.values.max()), 1e-6))
    ax.set_xticks(range(grid.shape[1]), grid.columns, rotation=45, ha="right")
    ax.set_yticks(range(grid.shape[0]), grid.index)
    for (row, col), value in pd.DataFrame(grid.values).stack().items():
        ax.text(col, row, f"{value:.2f}", ha="center", va="center", color="white", fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.05)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def _chance(table: pd.DataFrame, selection, control: str) -> float:
    return float(table[selection & (table.control == control)]["mean"].mean())


def retrieval_heatmap(table: pd.DataFrame, out: str | Path, k: int) -> None:
    at_k = (table.metric == "recall") & (table.k == k)
    grid = table[at_k & (table.control == "none")].pivot(index="text_model", columns="vision_model", values="mean")
    heatmap(grid, f"image→caption R@{k} (shuffled-pairs chance {_chance(table, at_k, 'shuffled'):.2f})", out)


def concept_heatmap(table: pd.DataFrame, out: str | Path, k: int, retrieval: str = "csls") -> None:
    at_k = (table.k == k) & (table.retrieval == retrieval)
    grid = table[at_k & (table.control == "none")].pivot(index="text_model", columns="vision_model", values="mean")
    title = (f"vision→language P@{k}, {retrieval.upper()} "
             f"(shuffled-dictionary chance {_chance(table, at_k, 'shuffled'):.3f})")
    heatmap(grid, title, out)


def precision_by_size(table: pd.DataFrame, out: str | Path, k: int, retrieval: str = "csls") -> None:
    """P@k against the language model's parameter count, one line per family, one panel per vision model."""
    plt = _pyplot()
    chosen = table[(table.k == k) & (table.retrieval == retrieval) & (table.control == "none")]
    visions = sorted(chosen.vision_model.unique())
    columns = min(4, len(visions))
    rows_of_panels = -(-len(visions) // columns)
    fig, axes = plt.subplots(rows_of_panels, columns, figsize=(3.2 * columns, 3.0 * rows_of_panels),
                             squeeze=False, sharey=True)
    for ax in axes.flat[len(visions):]:
        ax.set_visible(False)
    for ax, vision in zip(axes.flat, visions):
        for family, rows in chosen[chosen.vision_model == vision].groupby("text_family"):
            rows = rows.sort_values("text_parameters")
            ax.errorbar(rows.text_parameters, rows["mean"], yerr=rows["std"].fillna(0), marker="o", label=family)
        ax.set_xscale("log")
        ax.set_title(vision, fontsize=9)
        ax.set_xlabel("language model parameters")
    for row in axes:
        row[0].set_ylabel(f"P@{k} ({retrieval.upper()})")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


# --- What makes concepts align (second study's analyses) --------------------------------

FACTOR_GROUP = ["dataset", "text_model", "vision_model", "text_family", "text_parameters", "retrieval", "factor",
                "bin", "k"]


def factor_table(records: pd.DataFrame) -> pd.DataFrame:
    """Test-set P@k per factor bin, over splits: mean, std, mean bin size, mean interval and chance level."""
    records = records.assign(k=records["k"].astype("Int64"))
    table = records.groupby(FACTOR_GROUP, dropna=False, sort=False).agg(
        mean=("value", "mean"), std=("value", "std"), splits=("value", "count"), n_bin=("n_bin", "mean"),
        ci_low=("ci_low", "mean"), ci_high=("ci_high", "mean"), chance=("null_mean", "mean"))
    return table.reset_index()


def train_fraction_table(records: pd.DataFrame) -> pd.DataFrame:
    return summarise(records, [*CONCEPT_GROUP, "train_fraction"])


def _panels(count: int, width: float = 3.4, height: float = 3.0):
    plt = _pyplot()
    columns = min(4, count)
    rows = -(-count // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(width * columns, height * rows), squeeze=False)
    for ax in axes.flat[count:]:
        ax.set_visible(False)
    return plt, fig, axes.flat[:count]


def _save(plt, fig, out: str | Path) -> None:
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def factor_figure(table: pd.DataFrame, out: str | Path, k: int, retrieval: str = "csls") -> None:
    """Grouped bars: P@k per bin of each factor, one bar per language model (mean over vision models);
    the dashed line is the shuffled-pairing chance level of the bin."""
    chosen = table[(table.k == k) & (table.retrieval == retrieval) & (table.factor != "all")]
    factors = list(dict.fromkeys(chosen.factor))
    plt, fig, axes = _panels(len(factors))
    models = list(dict.fromkeys(chosen.text_model))
    width = 0.8 / max(len(models), 1)
    for ax, factor in zip(axes, factors):
        rows = chosen[chosen.factor == factor]
        bins = list(dict.fromkeys(rows["bin"]))
        for i, model in enumerate(models):
            means = rows[rows.text_model == model].groupby("bin", sort=False)["mean"].mean().reindex(bins)
            ax.bar([b + i * width for b in range(len(bins))], means.values, width, label=model)
        chance = rows.groupby("bin", sort=False)["chance"].mean().reindex(bins)
        ax.hlines(chance.values, [b - width / 2 for b in range(len(bins))],
                  [b + 0.8 - width / 2 for b in range(len(bins))], colors="black", linestyles="dashed")
        sizes = rows.groupby("bin", sort=False)["n_bin"].mean().reindex(bins)
        ax.set_xticks([b + 0.4 - width / 2 for b in range(len(bins))],
                      [f"{b}\n(n={n:.0f})" for b, n in zip(bins, sizes)], fontsize=7)
        ax.set_title(factor.replace("_", " "), fontsize=9)
        ax.set_ylabel(f"P@{k} ({retrieval.upper()})")
    axes[0].legend(fontsize=6)
    _save(plt, fig, out)


def train_fraction_figure(table: pd.DataFrame, out: str | Path, k: int, retrieval: str = "csls") -> None:
    """P@k against the share of concepts the map is fitted on, per language model (mean over vision models)."""
    chosen = table[(table.k == k) & (table.retrieval == retrieval)]
    plt, fig, axes = _panels(1, width=4.5, height=3.4)
    ax = axes[0]
    for model, rows in chosen[chosen.control == "none"].groupby("text_model", sort=False):
        curve = rows.groupby("train_fraction")["mean"].mean()
        ax.plot(curve.index, curve.values, marker="o", label=model)
    chance = chosen[chosen.control == "shuffled"].groupby("train_fraction")["mean"].mean()
    ax.plot(chance.index, chance.values, color="black", linestyle="dashed", label="shuffled (chance)")
    ax.set_xscale("log")
    ax.set_xlabel("training share of concepts")
    ax.set_ylabel(f"P@{k} ({retrieval.upper()})")
    ax.legend(fontsize=6)
    _save(plt, fig, out)


def similarity_table(records: pd.DataFrame) -> pd.DataFrame:
    columns = ["dataset", "text_model", "vision_model", "text_family", "vision_family", "text_parameters",
               "vision_parameters", "selection", "text_layer", "vision_layer", "metric", "value", "ci_low",
               "ci_high", "null_mean", "null_std", "n_concepts"]
    return records[[c for c in columns if c in records]].reset_index(drop=True)


def similarity_heatmap(table: pd.DataFrame, out: str | Path, metric: str = "mutual_knn") -> None:
    """One metric's best-layer-pair value for each language model (rows) and vision model (columns)."""
    best = table[table.selection == "best"]
    if metric not in set(best.metric):
        metric = best.metric.iloc[0]
    rows = best[best.metric == metric]
    grid = rows.pivot_table(index="text_model", columns="vision_model", values="value", sort=False)
    heatmap(grid, f"{metric} (shuffled-pairing null {rows['null_mean'].mean():.3f})", out)


def similarity_by_size(table: pd.DataFrame, out: str | Path) -> None:
    """Each metric (best layer pair) against the language model's parameter count, one line per family
    (mean over vision models); the dashed line is the shuffled-pairing null."""
    best = table[table.selection == "best"]
    metrics = list(dict.fromkeys(best.metric))
    plt, fig, axes = _panels(len(metrics))
    for ax, metric in zip(axes, metrics):
        rows = best[best.metric == metric]
        for family, group in rows.groupby("text_family", sort=False):
            curve = group.groupby("text_parameters")["value"].mean()
            ax.plot(curve.index, curve.values, marker="o", label=family)
        null = rows.groupby("text_parameters")["null_mean"].mean()
        ax.plot(null.index, null.values, color="black", linestyle="dashed", label="shuffled")
        ax.set_xscale("log")
        ax.set_title(metric, fontsize=9)
        ax.set_xlabel("language model parameters")
    axes[0].legend(fontsize=6)
    _save(plt, fig, out)


# --- Text understanding (first study): GLUE probes, STS, association ---------------------------

STYLES = {"clip": "CLIP-style"}


def text_understanding_table(glue: Sequence[str | Path], sts: Sequence[str | Path],
                             association: Sequence[str | Path], finetune: Sequence[str | Path] = ()) -> pd.DataFrame:
    """All text-understanding records in one tidy table: model, family, style, experiment, task, metric, value."""
    parts = []
    for experiment, paths in (("glue", glue), ("sts", sts), ("association", association),
                              ("glue_finetune", finetune)):
        if paths:
            parts.append(read_records(paths).assign(experiment=experiment))
    table = pd.concat(parts, ignore_index=True)
    table["style"] = [STYLES.get(family, "BERT-style" if family == "bert" else family) for family in table.family]
    first = ["style", "family", "model", "experiment", "task", "metric", "value"]
    return table[first + [c for c in table.columns if c not in first]].sort_values(
        ["style", "model", "experiment", "task", "metric"], kind="stable").reset_index(drop=True)


def text_understanding_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Rows models (grouped by style), columns each GLUE task's score, the GLUE average, STS and association."""
    from .probe import glue_average, glue_task

    rows = []
    for (style, family, model), records in table.groupby(["style", "family", "model"], sort=True):
        row = {"style": style, "family": family, "model": model}
        glue = records[records.experiment == "glue"]
        scores = {task: dict(zip(group.metric, group.value)) for task, group in glue.groupby("task")}
        for task, values in scores.items():
            row[task] = glue_task(task).score(values)
        if scores:
            row["glue_average"] = glue_average(scores)
        tuned = records[records.experiment == "glue_finetune"]
        if not tuned.empty:
            row["glue_average_finetune"] = glue_average(
                {task: dict(zip(group.metric, group.value)) for task, group in tuned.groupby("task")}
            )
        for experiment in ("sts", "association"):
            chosen = records[(records.experiment == experiment) & records.metric.isin(["spearman", "accuracy"])]
            row.update({task: value for task, value in zip(chosen.task, chosen.value)})
        rows.append(row)
    return pd.DataFrame(rows)


def text_understanding_figure(table: pd.DataFrame, out: str | Path) -> None:
    """Per model: GLUE average, STS-L and STS-V Spearman, association accuracy; bars grouped by style."""
    plt = _pyplot()
    summary = text_understanding_summary(table).sort_values(["style", "model"])
    columns = [c for c in ("glue_average", "sts_l", "sts_v", "colour_association", "shape_association")
               if c in summary]
    fig, ax = plt.subplots(figsize=(1.5 + 1.3 * len(columns) * max(1, len(summary)) / 3, 3.2))
    width = 0.8 / max(1, len(summary))
    for index, (_, row) in enumerate(summary.iterrows()):
        positions = [c + index * width for c in range(len(columns))]
        ax.bar(positions, [row[c] for c in columns], width, label=f"{row['model']} ({row['style']})")
    ax.set_xticks([c + 0.4 - width / 2 for c in range(len(columns))], columns)
    ax.set_ylabel("score")
    ax.axhline(0, color="black", linewidth=0.5)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
