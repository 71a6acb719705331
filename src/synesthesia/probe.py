"""Linear probes on frozen embeddings, scored with GLUE's metrics (:mod:`synesthesia.glue`).

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
matrix products (the L-BFGS itself: :mod:`synesthesia.lbfgs`). Solutions are
warm-started along the regularisation path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import torch

from .glue import TRAIN_SPLIT, accuracy, glue_task, hub_task
from .lbfgs import minimize
from .records import write_records

HOLDOUT_FRACTION = 0.2
LOGISTIC_C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
RIDGE_ALPHA_GRID = (1e-2, 1e-1, 1.0, 10.0, 1e2, 1e3, 1e4, 1e5, 1e6)
# Max |gradient| in the preconditioned coordinates at which a logistic fit stops;
# predictions then agree with a fully converged solve (tests/test_probe.py).
LOGISTIC_TOLERANCE = 1e-5
LOGISTIC_MAX_ITER = 500
# Relative rounding of a mean cross-entropy computed from float32 products.
_LOSS_ROUNDING = 1e-6

Score = Callable[[np.ndarray, np.ndarray], float]


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
        raise ValueError(f"tasks {list(evaluations)} share one training split but are scored "
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
        values = glue_task(name).evaluate(eval_labels, probe.predict(eval_features))
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

    data: torch.Tensor
    reference: np.ndarray
    column_sums: np.ndarray
    gram: np.ndarray


def _centered_parts(features: np.ndarray, order: np.ndarray, sizes: Sequence[int]) -> tuple[_CenteredRows, list]:
    """All rows (in ``order``) and consecutive parts of them, views of one centred float32 copy."""
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
        point, iterations, converged = minimize(objective, start, tol, max_iter, _LOSS_ROUNDING)
        coef, intercept = unpack(point)
        return LogisticProbe(self.mean, self.scale, coef.numpy(), intercept.numpy(), self.classes, float(C),
                             iterations, converged)

    def predict_rows(self, probe: LogisticProbe, rows: _CenteredRows) -> np.ndarray:
        """Predictions for rows centred on the same reference, without another copy of them."""
        coef = torch.from_numpy(probe.coef)
        shift = torch.from_numpy((probe.mean - rows.reference) / probe.scale)
        logits = (rows.data @ (coef / torch.from_numpy(probe.scale)[:, None]).float()).double()
        logits += torch.from_numpy(probe.intercept) - shift @ coef
        return self.classes[_with_reference_class_torch(logits).argmax(dim=1).numpy()]


def _with_reference_class_torch(logits: torch.Tensor) -> torch.Tensor:
    return torch.cat([torch.zeros_like(logits), logits], dim=1) if logits.shape[1] == 1 else logits


# --- The rule's entry: one (GLUE task, model) from the store ----------------------------------


def score_glue_probe(embeddings_path: str, labels_path: str, task: str, out: str, spec: dict) -> list[dict]:
    """Probe one model's embeddings of one GLUE task (train split) and score its evaluation splits.

    Writes long-format records with the model's identity and how many inputs were truncated.
    """
    from .data.glue import read_labels
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

    evaluations = {name: features_and_labels(split) for name, split in hub_task(task).evaluation_splits.items()}
    records = glue_probe_records(*features_and_labels(TRAIN_SPLIT), evaluations,
                                 seed=spec["seed"], holdout_fraction=spec["holdout_fraction"])
    identity = {**stored.identity(), "revision": str(stored.attrs["revision"]),
                "truncated": int(stored.attrs.get("truncated", 0)), "n_inputs": int(len(stored.ids))}
    return write_records(out, identity, records)
