"""GLUE's nine tasks as nyu-mll/glue publishes them, and how GLUE scores them.

A task (:class:`GlueTask`) is one of the hub's configs (``cola`` ... ``mnli`` ...
``wnli``): its text columns, its classes (none for STS-B, which regresses a 0-5
score), its metrics and its evaluation sets. An evaluation set is what a score
record names as its ``task``: the validation split, or for MNLI each of
``mnli_matched`` and ``mnli_mismatched``, which share MNLI's training split.
Evaluation is on the validation splits because GLUE's test labels are hidden.

A task's GLUE score is the unweighted mean of its metrics; GLUE's average is the
mean over tasks, MNLI counted once (the mean of its two sets), as on GLUE's
leaderboard.

The metrics are scikit-learn's and scipy's, imported where a metric is computed:
data preparation and the paper tables read the task table without paying for
their import (seconds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

TRAIN_SPLIT = "train"


# --- Metrics ------------------------------------------------------------------------------


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(*_paired(y_true, y_pred)))


def f1(y_true: np.ndarray, y_pred: np.ndarray, positive=1) -> float:
    """F1 of the ``positive`` class of binary labels; 0 when it is neither present nor predicted."""
    from sklearn.metrics import f1_score

    return float(f1_score(*_paired(y_true, y_pred), pos_label=positive, zero_division=0.0))


def matthews(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Matthews correlation (Gorodkin's multiclass form; the usual formula for two classes).

    0 when either side is constant, where the correlation is undefined (as scikit-learn).
    """
    from sklearn.metrics import matthews_corrcoef

    y_true, y_pred = _paired(y_true, y_pred)
    # Answered here because scikit-learn warns when both sides hold the same single label.
    if _constant(y_true) or _constant(y_pred):
        return 0.0
    return float(matthews_corrcoef(y_true, y_pred))


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation; NaN when either side is constant (undefined there) or holds NaN."""
    from scipy.stats import pearsonr

    x, y = _paired(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    # Answered here because scipy warns on constant input; a probe's selection scores NaN as a loss.
    if _constant(x) or _constant(y):
        return math.nan
    return float(pearsonr(x, y).statistic)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman correlation: Pearson of the ranks, ties sharing their average rank; NaN as :func:`pearson`."""
    from scipy.stats import spearmanr

    x, y = _paired(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    if _constant(x) or _constant(y):
        return math.nan
    return float(spearmanr(x, y).statistic)


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "accuracy": accuracy,
    "f1": f1,
    "matthews": matthews,
    "pearson": pearson,
    "spearman": spearman,
}


def _paired(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a).ravel(), np.asarray(b).ravel()
    if len(a) != len(b) or len(a) == 0:
        raise ValueError(f"a metric needs two equally long, non-empty arrays; got lengths {len(a)} and {len(b)}")
    return a, b


def _constant(values: np.ndarray) -> bool:
    return bool(np.all(values == values[0]))


# --- Tasks --------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvaluationSet:
    """A scored set: its name in records and tables, the split it reads, its name in print."""

    name: str
    split: str
    label: str


@dataclass(frozen=True)
class GlueTask:
    """One of GLUE's nine tasks, named by its nyu-mll/glue config."""

    name: str
    # The text column(s) in nyu-mll/glue: one sentence, or a pair.
    text_columns: tuple[str, ...]
    # Class names in label order, as nyu-mll/glue's ClassLabel features have them; none for a score.
    label_names: tuple[str, ...]
    metrics: tuple[str, ...]
    evaluation_sets: tuple[EvaluationSet, ...]

    @property
    def is_regression(self) -> bool:
        return not self.label_names

    @property
    def evaluation_splits(self) -> dict[str, str]:
        """Each evaluation set's split: ``{"sst2": "validation"}``,
        ``{"mnli_matched": "validation_matched", "mnli_mismatched": "validation_mismatched"}``."""
        return {evaluation.name: evaluation.split for evaluation in self.evaluation_sets}

    def score(self, values: Mapping[str, float]) -> float:
        """The task's GLUE score: the unweighted mean of its metrics."""
        missing = [metric for metric in self.metrics if metric not in values]
        if missing:
            raise ValueError(f"GLUE task {self.name} needs metrics {list(self.metrics)}; missing {missing}")
        return float(np.mean([values[metric] for metric in self.metrics]))

    def evaluate(self, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
        return {metric: METRICS[metric](y_true, y_pred) for metric in self.metrics}


def _validation(name: str, label: str) -> tuple[EvaluationSet]:
    return (EvaluationSet(name, "validation", label),)


# In GLUE's order. F1 counts label 1 as positive: "equivalent" in MRPC and "duplicate" in QQP.
HUB_TASKS: dict[str, GlueTask] = {
    task.name: task
    for task in (
        GlueTask("cola", ("sentence",), ("unacceptable", "acceptable"), ("matthews",), _validation("cola", "CoLA")),
        GlueTask("sst2", ("sentence",), ("negative", "positive"), ("accuracy",), _validation("sst2", "SST-2")),
        GlueTask("mrpc", ("sentence1", "sentence2"), ("not_equivalent", "equivalent"), ("f1", "accuracy"),
                 _validation("mrpc", "MRPC")),
        GlueTask("stsb", ("sentence1", "sentence2"), (), ("pearson", "spearman"), _validation("stsb", "STS-B")),
        GlueTask("qqp", ("question1", "question2"), ("not_duplicate", "duplicate"), ("f1", "accuracy"),
                 _validation("qqp", "QQP")),
        GlueTask("mnli", ("premise", "hypothesis"), ("entailment", "neutral", "contradiction"), ("accuracy",),
                 (EvaluationSet("mnli_matched", "validation_matched", "MNLI-m"),
                  EvaluationSet("mnli_mismatched", "validation_mismatched", "MNLI-mm"))),
        GlueTask("qnli", ("question", "sentence"), ("entailment", "not_entailment"), ("accuracy",),
                 _validation("qnli", "QNLI")),
        GlueTask("rte", ("sentence1", "sentence2"), ("entailment", "not_entailment"), ("accuracy",),
                 _validation("rte", "RTE")),
        GlueTask("wnli", ("sentence1", "sentence2"), ("not_entailment", "entailment"), ("accuracy",),
                 _validation("wnli", "WNLI")),
    )
}
# The ten evaluation sets, in GLUE's order.
EVALUATION_SETS: dict[str, EvaluationSet] = {
    evaluation.name: evaluation for task in HUB_TASKS.values() for evaluation in task.evaluation_sets
}
_TASK_OF_SET = {evaluation.name: task for task in HUB_TASKS.values() for evaluation in task.evaluation_sets}


def hub_task(name: str) -> GlueTask:
    """A task by its nyu-mll/glue config name (``mnli``)."""
    try:
        return HUB_TASKS[name]
    except KeyError:
        raise ValueError(f"unknown GLUE task {name!r}; known tasks: {', '.join(HUB_TASKS)}") from None


def glue_task(name: str) -> GlueTask:
    """The task an evaluation set (``mnli_matched``; a score record's ``task``) belongs to and is scored as."""
    try:
        return _TASK_OF_SET[name]
    except KeyError:
        raise ValueError(f"unknown GLUE task {name!r}; known tasks: {', '.join(EVALUATION_SETS)}") from None


def glue_average(scores: Mapping[str, Mapping[str, float]]) -> float:
    """GLUE's average of ``{evaluation set: {metric: value}}``: each set's metrics averaged, then the tasks.

    MNLI matched and mismatched count as one task (their mean), as on GLUE's
    leaderboard. Over a subset of the tasks this is the average of that subset.
    """
    if not scores:
        raise ValueError("glue_average needs at least one task's metrics")
    by_task: dict[str, list[float]] = {}
    for name, values in scores.items():
        task = glue_task(name)
        by_task.setdefault(task.name, []).append(task.score(values))
    return float(np.mean([np.mean(task_scores) for task_scores in by_task.values()]))
