"""Linear probes on frozen embeddings, and GLUE's metrics.

Classification tasks get multinomial logistic regression (binomial for two
classes, as scikit-learn does), STS-B gets ridge regression. Both standardise the
features on the rows they are fitted on and share scikit-learn's conventions, so
``C`` and ``alpha`` mean what a researcher expects:

    logistic:  minimise  C * sum_i cross_entropy_i + ||W||^2 / 2
    ridge:     minimise  ||y - X W - b||^2 + alpha * ||W||^2

The regularisation strength is chosen on a seeded, held-out part of the training
split (stratified by class for classification) from a small grid, then the probe
is refitted on the whole training split with the chosen value.

Why the logistic solver is not plain L-BFGS: real embeddings are anisotropic (a
decaying spectrum plus a large common offset), so the loss is badly conditioned
and L-BFGS on the raw features needs hundreds of iterations. Here the features
are centred and standardised, and L-BFGS runs in the eigenbasis of their
correlation matrix, each direction scaled by its expected curvature
(eigenvalue x softmax curvature + penalty). The optimum is unchanged (the same
objective, reparameterised); the conditioning becomes close to 1, so a fit
converges in about ten iterations (benchmarks/probe.py), each two skinny float32
matrix products. Solutions are warm-started along the regularisation path.

torch is imported only where the logistic solver needs it, so the metrics and the
GLUE task table load in environments without it (tables and reports).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

import numpy as np

from .records import write_records

if TYPE_CHECKING:
    import torch

HOLDOUT_FRACTION = 0.2
LOGISTIC_C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
RIDGE_ALPHA_GRID = (1e-2, 1e-1, 1.0, 10.0, 1e2, 1e3, 1e4, 1e5, 1e6)
# Max |gradient| in the preconditioned coordinates at which a logistic fit stops;
# predictions then agree with a fully converged solve (tests/test_probe.py).
LOGISTIC_TOLERANCE = 1e-5
LOGISTIC_MAX_ITER = 500
_LBFGS_HISTORY = 10
_ARMIJO = 1e-4
_MAX_HALVINGS = 20
# Relative rounding of a mean cross-entropy computed from float32 products.
_LOSS_ROUNDING = 1e-6

Score = Callable[[np.ndarray, np.ndarray], float]


# --- GLUE metrics -------------------------------------------------------------------------


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    y_true, y_pred = _paired(y_true, y_pred)
    return float(np.mean(y_true == y_pred))


def f1(y_true: np.ndarray, y_pred: np.ndarray, positive=1) -> float:
    """F1 of the ``positive`` class; 0 when it is neither present nor predicted (as scikit-learn)."""
    y_true, y_pred = _paired(y_true, y_pred)
    true_positive = np.sum((y_true == positive) & (y_pred == positive))
    false_positive = np.sum((y_true != positive) & (y_pred == positive))
    false_negative = np.sum((y_true == positive) & (y_pred != positive))
    denominator = 2 * true_positive + false_positive + false_negative
    return float(2 * true_positive / denominator) if denominator else 0.0


def matthews(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Matthews correlation (Gorodkin's multiclass form; the usual formula for two classes).

    0 when either side is constant, where the correlation is undefined (as scikit-learn).
    """
    y_true, y_pred = _paired(y_true, y_pred)
    classes, codes = np.unique(np.concatenate([y_true, y_pred]), return_inverse=True)
    true_codes, pred_codes = codes[: len(y_true)], codes[len(y_true):]
    confusion = np.zeros((len(classes), len(classes)), dtype=np.float64)
    np.add.at(confusion, (true_codes, pred_codes), 1)
    n, correct = confusion.sum(), np.trace(confusion)
    true_counts, pred_counts = confusion.sum(axis=1), confusion.sum(axis=0)
    covariance = correct * n - true_counts @ pred_counts
    denominator = math.sqrt((n * n - pred_counts @ pred_counts) * (n * n - true_counts @ true_counts))
    return float(covariance / denominator) if denominator else 0.0


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation; NaN when either side is constant (undefined there)."""
    x, y = _paired(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    x, y = x - x.mean(), y - y.mean()
    denominator = math.sqrt(float(x @ x) * float(y @ y))
    return float(x @ y / denominator) if denominator else math.nan


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman correlation: Pearson of the ranks, ties sharing their average rank."""
    x, y = _paired(x, y)
    return pearson(_average_ranks(x), _average_ranks(y))


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


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts_group = np.concatenate([[True], ordered[1:] != ordered[:-1]])
    group = np.cumsum(starts_group) - 1
    starts = np.flatnonzero(starts_group)
    sizes = np.diff(np.append(starts, len(values)))
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = (starts + (sizes + 1) / 2)[group]
    return ranks


# --- GLUE tasks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GlueTask:
    name: str
    metrics: tuple[str, ...]
    is_regression: bool
    # GLUE's average counts MNLI once, the mean of its matched and mismatched scores.
    benchmark_task: str

    def score(self, values: Mapping[str, float]) -> float:
        """The task's GLUE score: the unweighted mean of its metrics."""
        missing = [metric for metric in self.metrics if metric not in values]
        if missing:
            raise ValueError(f"GLUE task {self.name} needs metrics {list(self.metrics)}; missing {missing}")
        return float(np.mean([values[metric] for metric in self.metrics]))

    def evaluate(self, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
        return {metric: METRICS[metric](y_true, y_pred) for metric in self.metrics}


# F1 counts label 1 as positive: "equivalent" in MRPC and "duplicate" in QQP (nyu-mll/glue).
GLUE_TASKS: dict[str, GlueTask] = {
    task.name: task
    for task in (
        GlueTask("cola", ("matthews",), False, "cola"),
        GlueTask("sst2", ("accuracy",), False, "sst2"),
        GlueTask("mrpc", ("f1", "accuracy"), False, "mrpc"),
        GlueTask("stsb", ("pearson", "spearman"), True, "stsb"),
        GlueTask("qqp", ("f1", "accuracy"), False, "qqp"),
        GlueTask("mnli_matched", ("accuracy",), False, "mnli"),
        GlueTask("mnli_mismatched", ("accuracy",), False, "mnli"),
        GlueTask("qnli", ("accuracy",), False, "qnli"),
        GlueTask("rte", ("accuracy",), False, "rte"),
        GlueTask("wnli", ("accuracy",), False, "wnli"),
    )
}


def glue_task(name: str) -> GlueTask:
    try:
        return GLUE_TASKS[name]
    except KeyError:
        raise ValueError(f"unknown GLUE task {name!r}; known tasks: {', '.join(GLUE_TASKS)}") from None


def glue_average(scores: Mapping[str, Mapping[str, float]]) -> float:
    """GLUE's average of ``{task: {metric: value}}``: each task's metrics averaged, then the tasks.

    MNLI matched and mismatched count as one task (their mean), as on GLUE's
    leaderboard. Over a subset of the tasks this is the average of that subset.
    """
    if not scores:
        raise ValueError("glue_average needs at least one task's metrics")
    by_benchmark_task: dict[str, list[float]] = {}
    for name, values in scores.items():
        task = glue_task(name)
        by_benchmark_task.setdefault(task.benchmark_task, []).append(task.score(values))
    return float(np.mean([np.mean(task_scores) for task_scores in by_benchmark_task.values()]))


# --- Probes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogisticProbe:
    """Logistic regression on standardised features; ``coef`` has one column per class
    (a single column, for the second class, when there are two)."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    classes: np.ndarray
    C: float
    iterations: int
    converged: bool

    def decision_function(self, features: np.ndarray) -> np.ndarray:
        return _standardize(features, self.mean, self.scale) @ self.coef.astype(np.float32) + self.intercept

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        logits = _with_reference_class(self.decision_function(features).astype(np.float64))
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        return probabilities / probabilities.sum(axis=1, keepdims=True)

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self.classes[np.argmax(_with_reference_class(self.decision_function(features)), axis=1)]


@dataclass(frozen=True)
class RidgeProbe:
    """Ridge regression on standardised features; ``coef`` is a vector for one target, else one column per target."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float | np.ndarray
    alpha: float

    def predict(self, features: np.ndarray) -> np.ndarray:
        return _standardize(features, self.mean, self.scale).astype(np.float64) @ self.coef + self.intercept


@dataclass(frozen=True)
class ProbeSelection:
    """A probe refitted on all training rows with the value that scored best on the held-out rows."""

    probe: LogisticProbe | RidgeProbe
    regularization_param: str
    regularization: float
    holdout_scores: dict[float, float]
    n_holdout: int


def fit_logistic(
    features: np.ndarray,
    labels: np.ndarray,
    C: float = 1.0,
    *,
    tol: float = LOGISTIC_TOLERANCE,
    max_iter: int = LOGISTIC_MAX_ITER,
) -> LogisticProbe:
    """Logistic regression with inverse regularisation ``C`` (scikit-learn's meaning) on standardised features.

    ``tol`` bounds max |gradient| in the solver's preconditioned coordinates;
    float32 products resolve it down to about 1e-7.
    """
    features = _feature_matrix(features, "features")
    classes, codes = _class_codes(labels, len(features))
    rows, _ = _centered_parts(features, np.arange(len(features)), [len(features)])
    return _LogisticSolver(rows, codes, classes).fit(C, tol, max_iter)


def select_logistic(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    grid: Sequence[float] = LOGISTIC_C_GRID,
    holdout_fraction: float = HOLDOUT_FRACTION,
    seed: int = 0,
    score: Score = accuracy,
    tol: float = LOGISTIC_TOLERANCE,
    max_iter: int = LOGISTIC_MAX_ITER,
) -> ProbeSelection:
    """Choose ``C`` from ``grid`` by ``score`` on a stratified held-out part, then refit on all rows.

    Ties go to the stronger regularisation.
    """
    features = _feature_matrix(features, "features")
    classes, codes = _class_codes(labels, len(features))
    grid = _checked_grid(grid, "C")
    holdout = _stratified_holdout(codes, holdout_fraction, seed)
    fit_rows = np.setdiff1d(np.arange(len(codes)), holdout)
    rows, (fit_part, holdout_part) = _centered_parts(
        features, np.concatenate([fit_rows, holdout]), [len(fit_rows), len(holdout)])
    fit_codes = codes[fit_rows]
    solver = _LogisticSolver(fit_part, fit_codes, classes)
    holdout_labels = classes[codes[holdout]]
    holdout_scores: dict[float, float] = {}
    probes: dict[float, LogisticProbe] = {}
    warm_start = None
    for C in sorted(grid):
        probe = solver.fit(C, tol, max_iter, warm_start)
        holdout_scores[C] = score(holdout_labels, solver.predict_rows(probe, holdout_part))
        probes[C] = warm_start = probe
    chosen = _best(holdout_scores, sorted(grid))
    full = _LogisticSolver(rows, np.concatenate([fit_codes, codes[holdout]]), classes)
    probe = full.fit(chosen, tol, max_iter, probes[chosen])
    return ProbeSelection(probe, "C", chosen, holdout_scores, len(holdout))


def fit_ridge(features: np.ndarray, targets: np.ndarray, alpha: float = 1.0) -> RidgeProbe:
    """Ridge regression with penalty ``alpha`` (scikit-learn's meaning) on standardised features."""
    features = _feature_matrix(features, "features")
    one_target = np.ndim(targets) == 1
    (probe,) = _ridge_path(features, _target_matrix(targets, len(features)), [alpha], one_target)
    return probe


def select_ridge(
    features: np.ndarray,
    targets: np.ndarray,
    *,
    grid: Sequence[float] = RIDGE_ALPHA_GRID,
    holdout_fraction: float = HOLDOUT_FRACTION,
    seed: int = 0,
    score: Score | None = None,
) -> ProbeSelection:
    """Choose ``alpha`` from ``grid`` by ``score`` (default: negative mean squared error) on a
    random held-out part, then refit on all rows. Ties go to the stronger regularisation."""
    features = _feature_matrix(features, "features")
    one_target = np.ndim(targets) == 1
    targets = _target_matrix(targets, len(features))
    grid = _checked_grid(grid, "alpha")
    holdout = _random_holdout(len(features), holdout_fraction, seed)
    fit_rows = np.setdiff1d(np.arange(len(features)), holdout)
    score = score or _negative_mean_squared_error
    holdout_targets = targets[holdout, 0] if one_target else targets[holdout]
    holdout_scores = {
        probe.alpha: score(holdout_targets, probe.predict(features[holdout]))
        for probe in _ridge_path(features[fit_rows], targets[fit_rows], grid, one_target)
    }
    chosen = _best(holdout_scores, sorted(grid, reverse=True))
    (probe,) = _ridge_path(features, targets, [chosen], one_target)
    return ProbeSelection(probe, "alpha", chosen, holdout_scores, len(holdout))


def glue_probe_records(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    evaluations: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    seed: int = 0,
    holdout_fraction: float = HOLDOUT_FRACTION,
    grid: Sequence[float] | None = None,
) -> list[dict]:
    """Probe one GLUE training split and score it on each evaluation split, in long format.

    ``evaluations`` maps a GLUE task name to its (features, labels); several names
    share one training split where GLUE does (``mnli_matched`` and
    ``mnli_mismatched``), so the probe is fitted once. The regularisation is chosen
    by the task's own GLUE score on the held-out part of the training split, from
    ``grid`` (C values for classification, alpha values for STS-B; the module's
    grids by default). One record per task and metric.
    """
    if not evaluations:
        raise ValueError("glue_probe_records needs at least one evaluation split, e.g. {'cola': (features, labels)}")
    tasks = [glue_task(name) for name in evaluations]
    if len({(task.metrics, task.is_regression) for task in tasks}) > 1:
        raise ValueError(f"tasks {[task.name for task in tasks]} share one training split but are scored "
                         "differently; probe each on its own training split")
    task = tasks[0]

    def selection_score(y_true: np.ndarray, y_pred: np.ndarray) -> float:
        return task.score(task.evaluate(y_true, y_pred))

    options = {"holdout_fraction": holdout_fraction, "seed": seed, "score": selection_score}
    if grid is not None:
        options["grid"] = grid
    if task.is_regression:
        selection = select_ridge(train_features, np.asarray(train_labels, dtype=np.float64), **options)
    else:
        selection = select_logistic(train_features, train_labels, **options)
    probe = selection.probe
    common = {
        "probe": "ridge" if task.is_regression else "logistic",
        "regularization_param": selection.regularization_param,
        "regularization": selection.regularization,
        "holdout_score": selection.holdout_scores[selection.regularization],
        "n_train": int(len(train_features)),
        "n_holdout": selection.n_holdout,
        "seed": seed,
        "converged": probe.converged if isinstance(probe, LogisticProbe) else True,  # ridge is closed form
    }
    records = []
    for name, (eval_features, eval_labels) in evaluations.items():
        eval_features = _feature_matrix(eval_features, f"{name} evaluation features")
        if eval_features.shape[1] != probe.mean.shape[0]:
            raise ValueError(f"{name} evaluation features have {eval_features.shape[1]} dimensions, the training "
                             f"features {probe.mean.shape[0]}: both must come from the same model and layer")
        eval_labels = np.asarray(eval_labels)
        if len(eval_labels) != len(eval_features):
            raise ValueError(f"{name}: {len(eval_features)} evaluation rows but {len(eval_labels)} labels")
        values = GLUE_TASKS[name].evaluate(eval_labels, probe.predict(eval_features))
        for metric, value in values.items():
            records.append({"task": name, "metric": metric, "value": value, **common, "n_eval": int(len(eval_labels))})
    return records


# --- Internals: input checks, splits --------------------------------------------------------


def _feature_matrix(features: np.ndarray, what: str) -> np.ndarray:
    features = np.asarray(features)
    if features.ndim != 2 or 0 in features.shape:
        raise ValueError(f"{what} must be a non-empty 2-D array (rows x dimensions); got shape {features.shape}")
    features = np.ascontiguousarray(features, dtype=np.float32)
    finite = np.isfinite(features).all(axis=1)
    if not finite.all():
        raise ValueError(f"{what}: row {int(np.argmin(finite))} is not finite (NaN or inf); "
                         "re-extract the embeddings (bf16 instead of fp16 avoids overflow)")
    return features


def _class_codes(labels: np.ndarray, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels)
    if labels.shape != (n_rows,):
        raise ValueError(f"labels must be one per feature row ({n_rows}); got shape {labels.shape}")
    classes, codes = np.unique(labels, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(f"a classification probe needs at least two classes; the labels hold only {classes.tolist()}")
    return classes, codes


def _target_matrix(targets: np.ndarray, n_rows: int) -> np.ndarray:
    targets = np.asarray(targets, dtype=np.float64)
    if targets.ndim not in (1, 2) or len(targets) != n_rows:
        raise ValueError(f"targets must be one value (or row of values) per feature row ({n_rows}); "
                         f"got shape {targets.shape}")
    if not np.isfinite(targets).all():
        raise ValueError("targets contain NaN or inf; drop those rows (GLUE test splits have no labels)")
    return targets.reshape(n_rows, -1)


def _checked_grid(grid: Sequence[float], name: str) -> list[float]:
    values = [float(value) for value in grid]
    if not values or any(not value > 0 or not math.isfinite(value) for value in values):
        raise ValueError(f"the {name} grid must be a non-empty list of positive finite numbers; got {list(grid)}")
    return values


def _holdout_size(n: int, fraction: float) -> int:
    if not 0 < fraction < 1:
        raise ValueError(f"holdout_fraction must lie strictly between 0 and 1; got {fraction}")
    return int(round(n * fraction))


def _stratified_holdout(codes: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Held-out rows, the same fraction of every class; every class keeps a row to fit on."""
    rng = np.random.default_rng(seed)
    holdout = []
    for code in range(codes.max() + 1):
        members = rng.permutation(np.flatnonzero(codes == code))
        holdout.append(members[: min(_holdout_size(len(members), fraction), len(members) - 1)])
    holdout = np.sort(np.concatenate(holdout))
    if len(holdout) == 0:
        raise ValueError(f"holdout_fraction {fraction} of {len(codes)} training rows holds out no row; "
                         "raise holdout_fraction or use more training rows")
    return holdout


def _random_holdout(n: int, fraction: float, seed: int) -> np.ndarray:
    size = _holdout_size(n, fraction)
    if size < 2 or n - size < 2:
        raise ValueError(f"holdout_fraction {fraction} of {n} training rows leaves {size} held-out and "
                         f"{n - size} fitted rows; both need at least 2: use more rows or another fraction")
    return np.sort(np.random.default_rng(seed).permutation(n)[:size])


def _best(scores: dict[float, float], strongest_first: list[float]) -> float:
    """The best-scoring value; NaN scores lose, ties go to the stronger regularisation."""
    return max(strongest_first, key=lambda value: -math.inf if math.isnan(scores[value]) else scores[value])


def _negative_mean_squared_error(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return -float(np.mean((np.asarray(y_true) - np.asarray(y_pred)) ** 2))


def _standardize(features: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    features = _feature_matrix(features, "features")
    if features.shape[1] != len(mean):
        raise ValueError(f"features have {features.shape[1]} dimensions but the probe was fitted on {len(mean)}")
    return (features - mean.astype(np.float32)) / scale.astype(np.float32)


def _with_reference_class(logits: np.ndarray) -> np.ndarray:
    """Binary probes score the second class against a fixed zero for the first."""
    return np.hstack([np.zeros_like(logits), logits]) if logits.shape[1] == 1 else logits


def _scale_from_variance(variance: np.ndarray) -> np.ndarray:
    """Standard deviations, with 1 for constant features (as scikit-learn's StandardScaler)."""
    scale = np.sqrt(np.clip(variance, 0.0, None))
    scale[variance <= 1e-12 * max(float(variance.max()), 1e-300)] = 1.0
    return scale


# --- Internals: ridge ------------------------------------------------------------------------


def _ridge_path(features: np.ndarray, targets: np.ndarray, alphas: Sequence[float], one_target: bool):
    """Ridge solutions for every alpha from one eigendecomposition of the standardised Gram matrix."""
    mean = features.mean(axis=0, dtype=np.float64)
    centered = features.astype(np.float64) - mean
    scale = _scale_from_variance(np.mean(centered**2, axis=0))
    standardized = centered / scale
    eigenvalues, eigenvectors = np.linalg.eigh(standardized.T @ standardized)
    target_mean = targets.mean(axis=0)
    projected = eigenvectors.T @ (standardized.T @ (targets - target_mean))
    for alpha in alphas:
        coef = eigenvectors @ (projected / (np.clip(eigenvalues, 0.0, None) + alpha)[:, None])
        if one_target:
            yield RidgeProbe(mean, scale, coef[:, 0], float(target_mean[0]), float(alpha))
        else:
            yield RidgeProbe(mean, scale, coef, target_mean, float(alpha))


# --- Internals: preconditioned logistic regression ------------------------------------------


@dataclass
class _CenteredRows:
    """float32 rows minus a reference vector near their mean, so float32 products keep their
    precision despite a large common offset; with the sums their exact statistics come from."""

    data: "torch.Tensor"
    reference: np.ndarray
    column_sums: np.ndarray
    gram: np.ndarray


def _centered_parts(features: np.ndarray, order: np.ndarray, sizes: Sequence[int]) -> tuple[_CenteredRows, list]:
    """All rows (in ``order``) and consecutive parts of them, views of one centred float32 copy."""
    import torch

    reference = features.mean(axis=0, dtype=np.float64)
    data = torch.from_numpy(features[order])
    data -= torch.from_numpy(reference.astype(np.float32))
    parts = []
    for part in torch.split(data, list(sizes)):
        parts.append(_CenteredRows(part, reference, part.sum(dim=0, dtype=torch.float64).numpy(),
                                   (part.T @ part).double().numpy()))
    whole = _CenteredRows(data, reference, sum(part.column_sums for part in parts), sum(part.gram for part in parts))
    return whole, parts


class _LogisticSolver:
    """Fits ``mean cross-entropy + alpha/2 ||W||^2`` (alpha = 1 / (C n)) on standardised rows.

    L-BFGS runs on B with W = V diag(s)^-1/2 B, where V and lambda are the
    eigenpairs of the rows' correlation matrix and s = curvature * lambda + alpha
    approximates the Hessian along each eigenvector. The penalty is unchanged
    (V is orthogonal), so this is the same problem, well conditioned.
    """

    def __init__(self, rows: _CenteredRows, codes: np.ndarray, classes: np.ndarray):
        import torch

        self.rows, self.classes = rows, classes
        self.n = len(rows.data)
        self.binary = len(classes) == 2
        # The softmax Hessian's eigenvalues at uniform probabilities: p(1 - p) for two classes, 1/K otherwise.
        self.curvature = 0.25 if self.binary else 1.0 / len(classes)
        self.n_columns = 1 if self.binary else len(classes)
        self.codes = torch.from_numpy(codes.astype(np.int64))
        offset = rows.column_sums / self.n
        covariance = rows.gram / self.n - np.outer(offset, offset)
        self.scale = _scale_from_variance(np.diag(covariance).copy())
        eigenvalues, eigenvectors = np.linalg.eigh(covariance / np.outer(self.scale, self.scale))
        self.mean = rows.reference + offset
        self.eigenvalues = torch.from_numpy(np.clip(eigenvalues, 0.0, None))
        self.eigenvectors = torch.from_numpy(eigenvectors)

    def fit(self, C: float, tol: float, max_iter: int, warm_start: LogisticProbe | None = None) -> LogisticProbe:
        import torch

        if not C > 0:
            raise ValueError(f"C must be positive (it is the inverse regularisation strength); got {C}")
        alpha = 1.0 / (C * self.n)
        inverse_root = (self.curvature * self.eigenvalues + alpha).rsqrt()[:, None]
        intercept_root = math.sqrt(self.curvature)
        d, k = len(self.scale), self.n_columns
        scale = torch.from_numpy(self.scale)[:, None]
        shift = torch.from_numpy((self.mean - self.rows.reference) / self.scale)
        rows = torch.arange(self.n)

        def unpack(point: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            coef = self.eigenvectors @ (inverse_root * point[: d * k].view(d, k))
            return coef, point[d * k:] / intercept_root

        def objective(point: torch.Tensor) -> tuple[float, torch.Tensor]:
            coef, intercept = unpack(point)
            logits = _with_reference_class_torch(
                (self.rows.data @ (coef / scale).float()).double() + (intercept - shift @ coef))
            top = logits.max(dim=1, keepdim=True).values
            exponentials = (logits - top).exp_()
            totals = exponentials.sum(dim=1, keepdim=True)
            loss = (top + totals.log() - logits.gather(1, self.codes[:, None])).mean()
            residual = exponentials.div_(totals)
            residual[rows, self.codes] -= 1.0
            residual = residual[:, 1:] if self.binary else residual
            residual /= self.n
            data_gradient = (residual.float().T @ self.rows.data).T.double()
            intercept_gradient = residual.sum(dim=0)
            coef_gradient = data_gradient / scale - torch.outer(shift, intercept_gradient) + alpha * coef
            gradient = torch.cat([(inverse_root * (self.eigenvectors.T @ coef_gradient)).reshape(-1),
                                  intercept_gradient / intercept_root])
            return float(loss) + 0.5 * alpha * float((coef * coef).sum()), gradient

        start = torch.zeros(d * k + k, dtype=torch.float64)
        if warm_start is not None:
            coef = torch.from_numpy(warm_start.coef)
            start[: d * k] = ((self.eigenvectors.T @ coef) / inverse_root).reshape(-1)
            start[d * k:] = torch.from_numpy(warm_start.intercept) * intercept_root
        point, iterations, converged = _lbfgs(objective, start, tol, max_iter)
        coef, intercept = unpack(point)
        return LogisticProbe(self.mean, self.scale, coef.numpy(), intercept.numpy(), self.classes, float(C),
                             iterations, converged)

    def predict_rows(self, probe: LogisticProbe, rows: _CenteredRows) -> np.ndarray:
        """Predictions for rows centred on the same reference, without another copy of them."""
        import torch

        coef = torch.from_numpy(probe.coef)
        shift = torch.from_numpy((probe.mean - rows.reference) / probe.scale)
        logits = (rows.data @ (coef / torch.from_numpy(probe.scale)[:, None]).float()).double()
        logits += torch.from_numpy(probe.intercept) - shift @ coef
        return self.classes[_with_reference_class_torch(logits).argmax(dim=1).numpy()]


def _with_reference_class_torch(logits: "torch.Tensor") -> "torch.Tensor":
    import torch

    return torch.cat([torch.zeros_like(logits), logits], dim=1) if logits.shape[1] == 1 else logits


def _lbfgs(objective, start: "torch.Tensor", tol: float, max_iter: int) -> tuple["torch.Tensor", int, bool]:
    """L-BFGS with a backtracking line search (see _sufficient_decrease); stops when max |gradient| <= tol.

    Returns the point, the iterations taken and whether the tolerance was met. The
    unit step is tried first: in the preconditioned coordinates it is usually right.
    """
    point = start
    value, gradient = objective(point)
    steps: list = []
    for iteration in range(max_iter):
        if float(gradient.abs().max()) <= tol:
            return point, iteration, True
        direction = -_two_loop(gradient, steps)
        slope = float(gradient @ direction)
        if slope >= 0:
            steps.clear()
            direction, slope = -gradient, -float(gradient @ gradient)
        step = 1.0
        for _ in range(_MAX_HALVINGS):
            candidate = point + step * direction
            candidate_value, candidate_gradient = objective(candidate)
            if _sufficient_decrease(value, slope, step, candidate_value, float(candidate_gradient @ direction)):
                break
            step /= 2
        else:
            return point, iteration, False
        change, gradient_change = candidate - point, candidate_gradient - gradient
        if float(change @ gradient_change) > 0:
            steps.append((change, gradient_change))
            del steps[:-_LBFGS_HISTORY]
        point, value, gradient = candidate, candidate_value, candidate_gradient
    return point, max_iter, float(gradient.abs().max()) <= tol


def _sufficient_decrease(value: float, slope: float, step: float, new_value: float, new_slope: float) -> bool:
    """Armijo's condition, or Hager and Zhang's approximate Wolfe condition where it cannot be resolved.

    Near the optimum the decrease Armijo asks for falls below the rounding of a
    float32 loss; the slope along the step is still exact enough to say whether
    the step overshot the minimum along the line.
    """
    if new_value <= value + _ARMIJO * step * slope:
        return True
    within_rounding = new_value <= value + _LOSS_ROUNDING * abs(value)
    return within_rounding and new_slope <= (1 - 2 * _ARMIJO) * -slope


def _two_loop(gradient: "torch.Tensor", steps: list) -> "torch.Tensor":
    """The L-BFGS inverse-Hessian approximation applied to ``gradient``."""
    direction = gradient.clone()
    coefficients = []
    for change, gradient_change in reversed(steps):
        rho = 1.0 / float(change @ gradient_change)
        coefficient = rho * float(change @ direction)
        direction -= coefficient * gradient_change
        coefficients.append((rho, coefficient))
    if steps:
        change, gradient_change = steps[-1]
        direction *= float(change @ gradient_change) / float(gradient_change @ gradient_change)
    for (change, gradient_change), (rho, coefficient) in zip(steps, reversed(coefficients)):
        direction += (coefficient - rho * float(gradient_change @ direction)) * change
    return direction


# --- The rule's entry: one (GLUE task, model) from the store ----------------------------------


def score_glue_probe(embeddings_path: str, labels_path: str, task: str, out: str, spec: dict) -> list[dict]:
    """Probe one model's embeddings of one GLUE task (train split) and score its evaluation splits.

    Writes long-format records with the model's identity and how many inputs were truncated.
    """
    from .data.glue import TRAIN_SPLIT, evaluation_splits, read_labels
    from .store import read_embeddings

    stored = read_embeddings(embeddings_path)
    labels = read_labels(labels_path).set_index("id")
    missing = set(labels.index) - set(stored.ids)
    if missing:
        raise ValueError(f"{embeddings_path} lacks {len(missing)} examples of {labels_path} "
                         f"(e.g. {sorted(missing)[:3]}); re-extract it")
    row_of = {item_id: row for row, item_id in enumerate(stored.ids)}

    def features_and_labels(split: str) -> tuple[np.ndarray, np.ndarray]:
        chosen = labels[labels.split == split]
        if chosen.empty:
            raise ValueError(f"{labels_path}: no examples of split {split!r}")
        return stored.vectors[[row_of[i] for i in chosen.index]], chosen["label"].to_numpy()

    evaluations = {name: features_and_labels(split) for name, split in evaluation_splits(task).items()}
    records = glue_probe_records(*features_and_labels(TRAIN_SPLIT), evaluations,
                                 seed=spec["seed"], holdout_fraction=spec["holdout_fraction"])
    identity = {**stored.identity(), "revision": str(stored.attrs["revision"]),
                "truncated": int(stored.attrs.get("truncated", 0)), "n_inputs": int(len(stored.ids))}
    return write_records(out, identity, records)
