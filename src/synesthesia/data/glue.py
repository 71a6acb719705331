"""GLUE's nine tasks (:mod:`synesthesia.glue`), prepared into a text table and a label table per task.

Real runs read ``nyu-mll/glue`` with ``datasets.load_dataset(dataset_id, task)``.
``dataset_id`` may also be a local folder laid out like the hub repository (a
``README.md`` whose ``configs`` name each task's split files, as a clone of
``nyu-mll/glue`` has); :func:`synesthesia.data.demo.make_demo_glue` writes such a folder, so the demo
goes through the same call.

:func:`prepare_glue` writes into its output folder:

- ``text.tsv``: ``id``, ``text`` and, for sentence-pair tasks, ``text_pair``; one
  row per example of the training split and of each evaluation split, ids
  ``<split>-<row in split>`` (``train-000123``, ``validation_matched-000004``);
- ``labels.tsv``: ``id``, ``split``, ``label`` (the hub's class index, or STS-B's
  float similarity in [0, 5]).

The evaluation splits are those the task's evaluation sets read: the validation
split, or MNLI's matched and mismatched ones, which share its training split.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd

from ..glue import TRAIN_SPLIT, hub_task
from .tables import TEXT, check_table, read_tsv, write_table

LABELS = "labels.tsv"
HUB_ID = "nyu-mll/glue"
LABEL_COLUMN = "label"
LABEL_COLUMNS = ("id", "split", LABEL_COLUMN)
# A subset (limit_train / limit_eval) is a seeded sample of the split, not its first
# rows: some GLUE splits are ordered by source, so a prefix would be biased.
SUBSET_SEED = 0

def example_id(split: str, row: int) -> str:
    return f"{split}-{row:06d}"


def subset_rows(n_rows: int, limit: int | None) -> list[int]:
    """All rows, or a seeded sample of ``limit`` rows kept in their original order."""
    if limit is None or limit >= n_rows:
        return list(range(n_rows))
    return sorted(random.Random(SUBSET_SEED).sample(range(n_rows), limit))


def split_frame(dataset_id: str, task: str, split: str, limit: int | None, revision: str | None) -> pd.DataFrame:
    """One split's text columns and label, with ids, checked for hidden (-1) or missing labels."""
    from .hub import load_hub_dataset

    data = load_hub_dataset(dataset_id, task, split=split, revision=revision)
    columns = [*hub_task(task).text_columns, LABEL_COLUMN]
    missing = [column for column in columns if column not in data.column_names]
    if missing:
        raise KeyError(f"dataset {dataset_id} ({task}, split {split}): no column(s) {missing}; "
                       f"columns are {data.column_names}")
    rows = subset_rows(len(data), limit)
    frame = data.select(rows).select_columns(columns).to_pandas()
    labels = frame[LABEL_COLUMN].astype(float)
    if labels.isna().any() or (labels < 0).any():  # every GLUE label is a class index or a score >= 0
        raise ValueError(f"dataset {dataset_id} ({task}, split {split}): some labels are missing or -1 "
                         "(hidden, as in GLUE's test splits); evaluate on a labelled split")
    frame.insert(0, "id", [example_id(split, row) for row in rows])
    frame.insert(1, "split", split)
    return frame


def prepare_glue(out_dir: str | Path, task: str, dataset_id: str = HUB_ID, limit_train: int | None = None,
                 limit_eval: int | None = None, revision: str | None = None) -> Path:
    """Write a task's ``text.tsv`` and ``labels.tsv`` (training split, then each evaluation split)."""
    spec = hub_task(task)
    limits = {TRAIN_SPLIT: limit_train} | {split: limit_eval for split in spec.evaluation_splits.values()}
    frame = pd.concat([split_frame(dataset_id, task, split, limit, revision) for split, limit in limits.items()],
                      ignore_index=True)
    names = dict(zip(spec.text_columns, ("text", "text_pair")))
    text = frame[["id", *names]].rename(columns=names)
    labels = frame[["id", "split", LABEL_COLUMN]].copy()
    # STS-B's labels are float32 on the hub: rounding writes 3.8, not 3.799999952316284.
    labels[LABEL_COLUMN] = (labels[LABEL_COLUMN].astype(float).round(6) if spec.is_regression
                            else labels[LABEL_COLUMN].astype(int))
    out_dir = Path(out_dir)
    write_table(out_dir / TEXT, text)
    write_table(out_dir / LABELS, labels)
    return out_dir


def read_labels(path: str | Path) -> pd.DataFrame:
    """``labels.tsv`` with ids and splits as strings and labels as numbers (integers for class indices,
    floats for STS-B's scores), read in the tables' format (:func:`~synesthesia.data.tables.read_tsv`).

    Refused naming the file and a line or id: undecodable text or broken quoting, a missing column,
    no rows, a blank or repeated id (each id is one example), a blank split, a label that is not a
    number >= 0 (GLUE hides its test labels as -1).
    """
    path = Path(path)
    table = read_tsv(path, LABEL_COLUMNS)
    check_table(path, table)
    blank_split = table["split"].str.strip() == ""
    if blank_split.any():
        raise ValueError(f"{path}: {blank_split.sum()} row(s) with an empty split, the first id "
                         f"{table['id'][blank_split].iloc[0]!r}; re-prepare the task's tables")
    labels = pd.to_numeric(table[LABEL_COLUMN].str.strip(), errors="coerce")
    bad = labels.isna() | ~np.isfinite(labels) | (labels < 0)
    if bad.any():
        first = bad.to_numpy().argmax()
        raise ValueError(f"{path}: {bad.sum()} label(s) that are not a number >= 0, the first "
                         f"{table[LABEL_COLUMN].iloc[first]!r} of id {table['id'].iloc[first]!r}; "
                         "re-prepare the task's tables from a labelled split")
    table[LABEL_COLUMN] = labels
    return table
