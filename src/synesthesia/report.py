"""Tidy tables from the per-unit JSON results (their figures: :mod:`synesthesia.figures`)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from .records import read_records

RETRIEVAL_GROUP = ["dataset", "text_model", "vision_model", "control", "metric", "k"]
CONCEPT_GROUP = ["dataset", "dictionary", "text_model", "vision_model", "text_family", "vision_family",
                 "text_parameters", "vision_parameters", "n_candidates", "control", "retrieval", "metric", "k"]


def summarise(records: pd.DataFrame, group: Sequence[str]) -> pd.DataFrame:
    """Mean and std over splits, one row per group."""
    records = records.assign(k=records["k"].astype("Int64"))
    table = records.groupby(list(group), dropna=False)["value"].agg(mean="mean", std="std", splits="count")
    return table.reset_index().sort_values(list(group), kind="stable").reset_index(drop=True)


def retrieval_table(records: pd.DataFrame) -> pd.DataFrame:
    return summarise(records, RETRIEVAL_GROUP)


def concept_table(records: pd.DataFrame) -> pd.DataFrame:
    return summarise(records, CONCEPT_GROUP)


def size_summary(table: pd.DataFrame, side: str = "text") -> pd.DataFrame:
    """P@k against parameter count within each model family of one side, averaged over the other side's models.

    ``table`` is :func:`concept_table`'s (mean P@k over splits
    per model pair); parameter counts come from the stores (``n_parameters``, which
    each encoder records from its own weights).
    """
    if side not in ("text", "vision"):
        raise ValueError(f"side must be 'text' or 'vision', not {side!r}")
    family, model, size = f"{side}_family", f"{side}_model", f"{side}_parameters"
    rows = table[table["control"] == "none"]
    unknown = sorted(rows.loc[rows[size] <= 0, model].unique())
    if unknown:
        raise ValueError(f"no parameter count recorded for {side} models {unknown}; re-extract their embeddings")
    summary = rows.groupby([family, model, size, "retrieval", "k"], as_index=False).agg(
        precision=("mean", "mean"), paired_models=("mean", "size"))
    return summary.rename(columns={family: "family", model: "model", size: "parameters"}).sort_values(
        ["family", "parameters", "retrieval", "k"], kind="stable").reset_index(drop=True)


def t2i_table(records: pd.DataFrame) -> pd.DataFrame:
    """One row per (text encoder, metric) of the generation experiment, encoders in grid order."""
    columns = [c for c in ("model", "metric", "value", "std", "n_images") if c in records]
    return records[columns].reset_index(drop=True)


def concept_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Rows text models, columns (vision model, retrieval, P@k) for every k of the table: the study's layout."""
    chosen = table[table.control == "none"]
    wide = chosen.pivot_table(index="text_model", columns=["vision_model", "retrieval", "k"], values="mean")
    wide.columns = [f"{vision} {retrieval.upper()} P@{k}" for vision, retrieval, k in wide.columns]
    return wide.reset_index()


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


def similarity_table(records: pd.DataFrame) -> pd.DataFrame:
    columns = ["dataset", "text_model", "vision_model", "text_family", "vision_family", "text_parameters",
               "vision_parameters", "selection", "text_layer", "vision_layer", "metric", "value", "ci_low",
               "ci_high", "null_mean", "null_std", "n_concepts"]
    return records[[c for c in columns if c in records]].reset_index(drop=True)


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
    from .glue import glue_average, glue_task

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
