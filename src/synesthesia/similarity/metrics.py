"""The similarity metrics of two row-aligned spaces: their kernels, :class:`Comparison` and one-call functions.

- ``mutual_knn`` (Huh et al. 2024, "The Platonic Representation Hypothesis"): the
  fraction of a concept's k nearest neighbours (cosine, the concept itself
  excluded) that are the same in both spaces, averaged over concepts.
- ``nn_in_knn``: the fraction of concepts whose nearest neighbour in one space is
  among their k nearest in the other, averaged over both directions (identical
  spaces score 1). Called ``cycle_knn`` here before SIMILARITY_VERSION 2.
- ``cycle_knn`` (Huh et al. 2024, platonic-rep's metrics.py): the fraction of
  concepts that are among the Y-space k nearest neighbours of at least one of
  their X-space k nearest neighbours. Not symmetric: X = language, Y = vision
  (as :func:`.scoring.layer_pair_records` passes them) is platonic-rep's direction. Below 1
  for identical spaces, since a concept's neighbours need not count it as theirs.
- ``cka`` / ``cka_unbiased``: linear CKA (Kornblith et al. 2019) on column-centred
  features, with the biased HSIC or Song et al.'s (2012) unbiased estimator.
- ``cknna`` (Huh et al. 2024): unbiased CKA of the cosine kernels restricted to
  pairs that are mutual k-nearest neighbours, as their reference code computes it.
- ``svcca`` (Raghu et al. 2017): the mean canonical correlation between the two
  spaces after each is reduced to its top principal components.

Uncertainty over concepts (:func:`half_sample_ci`) comes from half-samples: random
halves of the concepts drawn without replacement, each metric recomputed on each
half (neighbours sought among the half's concepts only). A with-replacement
bootstrap duplicates concepts, and a drawn-twice concept is its own nearest
neighbour at cosine 1 in both spaces; even with copies kept out of their own
neighbour lists, copies crowd the lists of others. The spread of a statistic
over half-samples estimates its spread over samples of all n concepts (the
delete-half jackknife; Shao & Wu 1989), while the half-sample values' centre
moves with the sample size (k neighbours among n/2 concepts reach further than
among n), so intervals are the full-sample value plus the centred half-sample
quantiles. In a simulation (800 concepts, 60 draws, k = 10; it predates the
present cycle_knn) the half-sample spread matched the true spread of both CKAs
and overstated the k-NN metrics' by 14-28%; the with-replacement bootstrap
(copies kept out of their own lists) overstated them by 11-72% and put
nn_in_knn's (then named cycle_knn) centre two standard deviations low. SVCCA
keeps the principal components fitted on all concepts and recomputes the
canonical correlations on each half.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Sequence

import numpy as np

from ..resampling import DEFAULT_HALF_SAMPLES, DEFAULT_PERMUTATIONS, draw_half_samples, half_sample_interval
from . import spaces
from .spaces import DEFAULT_K, DEFAULT_KEEP, Neighbours, Space, on_device, to_numpy, unbiased_hsic

KNN_METRICS = ("mutual_knn", "nn_in_knn", "cycle_knn", "cknna")
CKA_METRICS = ("cka", "cka_unbiased")


# --------------------------------------------------------------------- k-NN metrics


@dataclass(frozen=True)
class _Graph:
    """Both spaces' neighbour lists, and where each entry stands in the other space's list of the same row."""

    k: int
    x: Neighbours
    y: Neighbours

    @cached_property
    def x_in_y(self) -> np.ndarray:
        return self.y.positions(self._rows, self.x.index)

    @cached_property
    def y_in_x(self) -> np.ndarray:
        return self.x.positions(self._rows, self.y.index)

    @cached_property
    def x_back_in_y(self) -> np.ndarray:
        """``[i, s]``: where row ``i`` stands in Y's list of its ``s``-th X-neighbour, -1 if not listed."""
        return self.y.positions(self.x.index, self._rows)

    @property
    def _rows(self) -> np.ndarray:
        return np.arange(len(self.x.index))[:, None]

    def shuffled(self, permutation: np.ndarray) -> _Graph:
        """The graph of X against Y[permutation]: Y's lists relabelled, no cosine recomputed."""
        return _Graph(self.k, self.x, self.y.reordered(permutation))


def _slots(index: np.ndarray, members: np.ndarray, k: int) -> np.ndarray:
    """1 where a listed concept is among the row's k nearest within the sample (``members``: 1 in, 0 out)."""
    present = members[index]
    slots = present * (np.cumsum(present, axis=1) <= k)
    short = (slots.sum(axis=1) < k) & (members > 0)
    if short.any():
        raise RuntimeError(f"{int(short.sum())} concepts have fewer than k={k} sampled neighbours among the "
                           f"{index.shape[1]} listed for them")
    return slots


def _at(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """``values[i, positions[i, s]]``, zero where the position is -1 (not listed)."""
    return np.where(positions >= 0, np.take_along_axis(values, np.maximum(positions, 0), axis=1), 0)


def _nearest_in_knn(first: np.ndarray, other: np.ndarray, first_in_other: np.ndarray, members: np.ndarray) -> float:
    """Share of sampled concepts whose nearest neighbour by ``first``'s slots is among ``other``'s slots."""
    nearest = np.argmax(first > 0, axis=1)[:, None]
    hit = _at(other, np.take_along_axis(first_in_other, nearest, axis=1))[:, 0] > 0
    return float(members @ hit / members.sum())


def _cycle(first_index: np.ndarray, first: np.ndarray, other: np.ndarray, back: np.ndarray,
           members: np.ndarray) -> float:
    """Share of sampled concepts among the ``other``-space k nearest of at least one of their ``first``-space k nearest.

    ``first`` and ``other`` are the spaces' slots (:func:`_slots`), ``first_index``
    the first space's lists and ``back[i, s]`` where row ``i`` stands in the other
    space's list of ``first_index[i, s]``. A row's k nearest within the sample all
    lie in its list (:func:`_slots` checks), so a row not listed is not among them.
    """
    listed = (first > 0) & (back >= 0)
    closes = np.zeros(first.shape, dtype=bool)
    closes[listed] = other[first_index[listed], back[listed]] > 0
    return float(members @ closes.any(axis=1) / members.sum())


def _masked_hsic(index: np.ndarray, reverse: np.ndarray, a: np.ndarray, b: np.ndarray,
                 members: np.ndarray) -> float:
    """Song et al.'s unbiased HSIC of two sparse n x n matrices held on neighbour-list positions.

    ``a[i, s]`` is A(i, j) for ``j = index[i, s]`` (zero outside the mask), ``b``
    likewise; the sums run over the sampled concepts (``members``). The terms are
    Huh et al.'s ``hsic_unbiased``: tr(A B) pairs ``a(i, j)`` with ``b(j, i)``,
    found at ``reverse[i, s]`` in row ``j``'s list.
    """
    m = members.sum()
    b_back = np.where(reverse >= 0, b[index, np.maximum(reverse, 0)], 0)
    row_b = b.sum(axis=1)
    column_a = np.bincount(index.ravel(), weights=(members[:, None] * a).ravel(), minlength=len(index))
    total_a, total_b = float(members @ a.sum(axis=1)), float(members @ row_b)
    trace = float((members[:, None] * a * b_back).sum())
    return (trace + total_a * total_b / ((m - 1) * (m - 2)) - 2 * float(column_a @ row_b) / (m - 2)) / (m * (m - 3))


def _knn_scores(graph: _Graph, members: np.ndarray, metrics: Sequence[str]) -> dict[str, float]:
    """The k-NN ``metrics`` over the sampled concepts (``members``: 1 in, 0 out), neighbours sought among them."""
    k, x, y = graph.k, graph.x, graph.y
    x_slots, y_slots = _slots(x.index, members, k), _slots(y.index, members, k)
    scores = {}
    if "nn_in_knn" in metrics:
        scores["nn_in_knn"] = 0.5 * (_nearest_in_knn(y_slots, x_slots, graph.y_in_x, members)
                                     + _nearest_in_knn(x_slots, y_slots, graph.x_in_y, members))
    if "cycle_knn" in metrics:
        # platonic-rep's cycle_knn(feats_A=Y, feats_B=X): X's neighbours first, then Y's
        scores["cycle_knn"] = _cycle(x.index, x_slots, y_slots, graph.x_back_in_y, members)
    if {"mutual_knn", "cknna"} & set(metrics):
        mutual = np.minimum(x_slots, _at(y_slots, graph.x_in_y))
        scores["mutual_knn"] = float(members @ mutual.sum(axis=1) / (k * members.sum()))
    if "cknna" in metrics:
        y_cosine = _at(y.cosine, graph.x_in_y)
        x_kernel, y_kernel = x_slots * x.cosine, y_slots * y.cosine
        both = _masked_hsic(x.index, x.reverse, mutual * x.cosine, mutual * y_cosine, members)
        x_alone = _masked_hsic(x.index, x.reverse, x_kernel, x_kernel, members)
        y_alone = _masked_hsic(y.index, y.reverse, y_kernel, y_kernel, members)
        scores["cknna"] = float(both / np.sqrt(x_alone * y_alone)) if x_alone * y_alone > 0 else float("nan")
    return scores


# --------------------------------------------------------------------- CKA and SVCCA


def _cross_scatter(x: Space, y: Space, order: np.ndarray | None = None) -> np.ndarray:
    """X~^T Y~ (d1 x d2), pairing row i of X with row ``order[i]`` of Y; summed over row blocks."""
    total = x.zeros((x.dim, y.dim))
    for x_block, y_block in zip(x.blocks(), y.blocks(order)):
        total += x_block.T @ y_block
    return to_numpy(total)


def _cross_squared(x: Space, y: Space, via_grams: bool, order: np.ndarray | None = None) -> float:
    """||X~^T Y~||_F^2, the biased HSIC (times n^2), pairing row i of X with row ``order[i]`` of Y.

    From the cross-scatter (n d_x d_y multiply-adds) or, ``via_grams``, as the
    Frobenius product of the spaces' centred Grams (n^2 once both are held), a row
    block at a time: each row is summed in the Grams' precision, and the rows in
    float64.
    """
    if not via_grams:
        cross = _cross_scatter(x, y, order)
        return float(np.einsum("ij,ij->", cross, cross))
    total, order = 0.0, None if order is None else on_device(order, y.device)
    for start in range(0, x.n, spaces.ROW_BLOCK):
        rows = slice(start, start + spaces.ROW_BLOCK)
        y_rows = y.gram[rows] if order is None else y.gram[order[rows]][:, order]
        row_sums = (x.gram[rows] * y_rows).sum(1)
        total += float(row_sums.sum(dtype=np.float64) if x.device is None else row_sums.double().sum())
    return total


def _cka_scores(x: Space, y: Space, cross_squared: float, y_norms: np.ndarray) -> dict[str, float]:
    if x.n < 4:
        raise ValueError(f"CKA's unbiased estimator needs at least 4 concepts, got {x.n}")
    unbiased = unbiased_hsic(cross_squared, float(x.row_norms @ y_norms), float(x.row_norms.sum()),
                              float(y_norms.sum()), x.n)
    return {"cka": cross_squared / (x.scatter_norm * y.scatter_norm),
            "cka_unbiased": float(unbiased / np.sqrt(x.self_hsic_unbiased * y.self_hsic_unbiased))}


def _svcca_score(x: Space, y: Space, order: np.ndarray | None = None) -> float:
    """Canonical correlations are the singular values of the cross-scatter of the whitened components.

    Pairs row i of X with row ``order[i]`` of Y. Each space's components (n x r)
    are computed once, so a pair costs n r_x r_y multiply-adds, not the n d_x d_y
    of the features' cross-scatter.
    """
    y_components = y.components if order is None else y.components[on_device(order, y.device)]
    if x.device is None:
        correlations = np.linalg.svd(x.components.T.astype(np.float64) @ y_components.astype(np.float64),
                                     compute_uv=False)
    else:
        import torch

        correlations = to_numpy(torch.linalg.svdvals(x.components.T.double() @ y_components.double()))
    return float(np.clip(correlations, 0, 1).mean())


def _cka_half_samples(x: Space, y: Space, members: np.ndarray) -> dict[str, np.ndarray]:
    """Both CKAs of every half-sample, each kernel's row blocks computed once for all of them.

    A sample's HSIC terms are quadratic forms in its 0/1 membership vector w:
    w'(K∘L)w, w'Kw and sums of w_i (Kw)_i (Lw)_i; the n x n products are taken
    block by block against all samples at once. The biased HSIC re-centres on the
    sample (p = w / m): p'(K∘L)p - 2 sum p_i (Kp)_i (Lp)_i + (p'Kp)(p'Lp).
    """
    x_centred, y_centred = x.centred(), y.centred()
    columns = on_device(members.T.astype(np.promote_types(x.x.dtype, y.x.dtype)), x.device)
    forms = {pair: x.zeros((len(members),)) for pair in ("kl", "kk", "ll")}
    # read from its module at call time, so one setting (tests shrink it) reaches every blocked loop
    for start in range(0, x.n, spaces.ROW_BLOCK):
        rows = slice(start, start + spaces.ROW_BLOCK)
        k_block, l_block = x_centred[rows] @ x_centred.T, y_centred[rows] @ y_centred.T
        for pair, product in (("kl", k_block * l_block), ("kk", k_block * k_block), ("ll", l_block * l_block)):
            forms[pair] += _column_dots(columns[rows], product @ columns)
    k_w = to_numpy(x_centred @ (x_centred.T @ columns)).astype(np.float64)
    l_w = to_numpy(y_centred @ (y_centred.T @ columns)).astype(np.float64)
    hsic = {pair: _sampled_hsic(to_numpy(forms[pair]), first, second, a, b, members)
            for pair, first, second, a, b in (("kl", k_w, l_w, x.row_norms, y.row_norms),
                                              ("kk", k_w, k_w, x.row_norms, x.row_norms),
                                              ("ll", l_w, l_w, y.row_norms, y.row_norms))}
    return {name: hsic["kl"][i] / np.sqrt(hsic["kk"][i] * hsic["ll"][i]) for i, name in enumerate(CKA_METRICS)}


def _column_dots(a, b):
    """Each column's dot product of ``a`` and ``b`` (numpy arrays or tensors), summed in float64."""
    if isinstance(a, np.ndarray):
        return np.einsum("ir,ir->r", a, b, dtype=np.float64)
    import torch

    return (a * b).sum(0, dtype=torch.float64)


def _sampled_hsic(form: np.ndarray, k_w: np.ndarray, l_w: np.ndarray, a: np.ndarray, b: np.ndarray,
                  members: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Biased and unbiased HSIC (up to factors that cancel in CKA) of each sample.

    ``form`` is w'(K∘L)w, ``k_w`` and ``l_w`` are Kw and Lw (n x samples), ``a`` and
    ``b`` the kernels' diagonals; the unbiased terms are those of :func:`unbiased_hsic`
    without the centring shortcut, since a sample's rows do not sum to zero.
    """
    m = members.sum(axis=1)
    k_total, l_total = np.einsum("rn,nr->r", members, k_w), np.einsum("rn,nr->r", members, l_w)
    biased = form / m ** 2 - 2 * np.einsum("rn,nr,nr->r", members, k_w, l_w) / m ** 3 + k_total * l_total / m ** 4
    trace = form - members @ (a * b)
    k_off, l_off = k_total - members @ a, l_total - members @ b
    row_products = np.einsum("rn,nr,nr->r", members, k_w - a[:, None], l_w - b[:, None])
    unbiased = trace + k_off * l_off / ((m - 1) * (m - 2)) - 2 * row_products / (m - 2)
    return biased, unbiased


def _canonical_correlations(x_parts: np.ndarray, y_parts: np.ndarray) -> np.ndarray:
    """Canonical correlations of two sets of columns: singular values of their orthonormalised centred bases."""
    x_basis = np.linalg.qr(x_parts - x_parts.mean(axis=0))[0]
    y_basis = np.linalg.qr(y_parts - y_parts.mean(axis=0))[0]
    return np.clip(np.linalg.svd(x_basis.T @ y_basis, compute_uv=False), 0, 1)


def _svcca_half_samples(x: Space, y: Space, members: np.ndarray) -> np.ndarray:
    """SVCCA of every half-sample: CCA of the principal components fitted on all concepts.

    On one BLAS thread: a half's QR is many small BLAS calls, and threads
    synchronising on each made it 4 to 80 times slower while other work shared the
    two cores (80 ms and 1 s a half against 20 and 12 ms on one thread; 6,000
    concepts, 64 components).
    """
    from threadpoolctl import threadpool_limits

    x_components, y_components = to_numpy(x.components), to_numpy(y.components)
    with threadpool_limits(1, user_api="blas"):
        return np.array([_canonical_correlations(x_components[rows > 0], y_components[rows > 0]).mean()
                         for rows in members])


# --------------------------------------------------------------------- comparisons


# Memory that held Gram matrices may take (every Y layer's, and the current X layer's) before CKA keeps to
# cross-scatters: 4 GiB holds 25 float32 Grams and one more of 6,000 concepts.
GRAM_MEMORY = 4 * 2 ** 30
# An n x n elementwise pass is bound by memory, not arithmetic: each of its multiply-adds took as long as
# about 14 in a float32 BLAS product on two EPYC cores (21 ms for a 6,000^2 pass; 1.5 s for the 3.7e10
# multiply-adds of a 6,000 x 2,048 space's Gram).
_PASS_COST = 16


def grams_pay_off(n: int, x_dims: Sequence[int], y_dims: Sequence[int], itemsize: int) -> bool:
    """Whether CKA of every (X layer, Y layer) pair is cheaper from centred Gram matrices than from cross-scatters.

    A cross-scatter costs n d_x d_y multiply-adds per pair; Grams cost n^2 d / 2
    once per layer (a symmetric product) and one n^2 pass per pair. Every Y
    layer's Gram is held while X's layers pass one at a time, so Grams are used
    only if those ``itemsize``-byte matrices fit in :data:`GRAM_MEMORY`.
    """
    via_cross = n * sum(x_dims) * sum(y_dims)
    via_grams = n * n * (sum(x_dims) + sum(y_dims)) / 2 + _PASS_COST * n * n * len(x_dims) * len(y_dims)
    return via_grams < via_cross and (len(y_dims) + 1) * n * n * itemsize <= GRAM_MEMORY


class Comparison:
    """Two row-aligned spaces; every metric, shuffled pairing and half-sample reuses their per-space work.

    ``via_grams``: CKA from the spaces' centred Gram matrices (n x n, computed once
    and held by each :class:`Space`) instead of their d_x x d_y cross-scatter; the
    cheaper route when each space meets many others (:func:`grams_pay_off`).
    """

    def __init__(self, x: Space, y: Space, via_grams: bool = False):
        if x.n != y.n:
            raise ValueError(f"{x.name} has {x.n} rows but {y.name} has {y.n}: the spaces must be row-aligned, "
                             "one row per concept in both")
        if x.k != y.k:
            raise ValueError(f"{x.name} lists k={x.k} neighbours but {y.name} k={y.k}")
        if x.device != y.device:
            raise ValueError(f"{x.name} is on device {x.device} but {y.name} on {y.device}: compare spaces on one")
        self.x, self.y, self.n, self.k, self.via_grams = x, y, x.n, x.k, via_grams

    @cached_property
    def graph(self) -> _Graph:
        return _Graph(self.k, self.x.neighbours, self.y.neighbours)

    @cached_property
    def nearest_graph(self) -> _Graph:
        """The graph of the k-nearest lists: with every concept sampled, no slot lies deeper, so it scores the same.

        Matching k entries a row rather than the deeper lists' max(8k, 64) is 8x less work per pair.
        """
        return _Graph(self.k, self.x.nearest, self.y.nearest)

    @cached_property
    def cross_squared(self) -> float:
        return _cross_squared(self.x, self.y, self.via_grams)

    def values(self, metrics: Sequence[str] | None = None) -> dict[str, float]:
        return self._scores(check_metrics(metrics))

    def null(self, metrics: Sequence[str] | None = None, permutations: int = DEFAULT_PERMUTATIONS,
             seed: int = 0) -> dict[str, np.ndarray]:
        """Each metric on ``permutations`` random pairings of X's rows with Y's: the chance level."""
        metrics = check_metrics(metrics)
        rng = np.random.default_rng(seed)
        draws = [self._scores(metrics, rng.permutation(self.n)) for _ in range(permutations)]
        return {metric: np.array([draw[metric] for draw in draws]) for metric in metrics}

    def half_samples(self, metrics: Sequence[str] | None = None, count: int = DEFAULT_HALF_SAMPLES,
                     seed: int = 0) -> dict[str, np.ndarray]:
        """Each metric on ``count`` random halves of the concepts (see the module notes)."""
        metrics = check_metrics(metrics)
        if set(metrics) & set(KNN_METRICS) and self.n // 2 < self.k + 2:
            raise ValueError(f"half-samples of {self.n} concepts are too small for k={self.k} neighbours")
        members = draw_half_samples(self.n, count, seed)
        values = {}
        if set(metrics) & set(KNN_METRICS):
            wanted = [metric for metric in metrics if metric in KNN_METRICS]
            draws = [_knn_scores(self.graph, row, wanted) for row in members]
            values.update({metric: np.array([draw[metric] for draw in draws]) for metric in wanted})
        if set(metrics) & set(CKA_METRICS):
            values.update(_cka_half_samples(self.x, self.y, members))
        if "svcca" in metrics:
            values["svcca"] = _svcca_half_samples(self.x, self.y, members)
        return {metric: values[metric] for metric in metrics}

    def _scores(self, metrics: Sequence[str], permutation: np.ndarray | None = None) -> dict[str, float]:
        scores = {}
        if set(metrics) & set(KNN_METRICS):
            graph = self.nearest_graph if permutation is None else self.nearest_graph.shuffled(permutation)
            scores.update(_knn_scores(graph, np.ones(self.n), metrics))
        if set(metrics) & set(CKA_METRICS):
            if permutation is None:
                cross_squared, y_norms = self.cross_squared, self.y.row_norms
            else:
                cross_squared = _cross_squared(self.x, self.y, self.via_grams, permutation)
                y_norms = self.y.row_norms[permutation]
            scores.update(_cka_scores(self.x, self.y, cross_squared, y_norms))
        if "svcca" in metrics:
            scores["svcca"] = _svcca_score(self.x, self.y, permutation)
        return {metric: scores[metric] for metric in metrics}


def _compare(x, y, k: int = DEFAULT_K, keep: float | int = DEFAULT_KEEP) -> Comparison:
    return Comparison(Space(x, k, keep, "X"), Space(y, k, keep, "Y"))


def mutual_knn(x, y, k: int = DEFAULT_K) -> float:
    """Mean over concepts of the share of their k nearest neighbours (cosine) common to both spaces."""
    return _compare(x, y, k=k).values(["mutual_knn"])["mutual_knn"]


def nn_in_knn(x, y, k: int = DEFAULT_K) -> float:
    """Share of concepts whose nearest neighbour in Y is among their k nearest in X, averaged with X and Y swapped.

    From a concept to its nearest neighbour in Y, across the pairing to X, where it
    counts if that neighbour is within the concept's k nearest. Symmetric in X and
    Y, and 1 for identical spaces. This was the project's ``cycle_knn`` before
    SIMILARITY_VERSION 2; Huh et al.'s cycle_knn is :func:`cycle_knn`.
    """
    return _compare(x, y, k=k).values(["nn_in_knn"])["nn_in_knn"]


def cycle_knn(x, y, k: int = DEFAULT_K) -> float:
    """Huh et al.'s cycle_knn: share of concepts among the Y-space k nearest of at least one of their X-space k nearest.

    Concept i counts if i is in N_Y(j) for some j in N_X(i), N the k nearest other
    concepts by cosine. platonic-rep's ``AlignmentMetrics.cycle_knn(feats_A,
    feats_B, topk)`` is ``compute_knn_accuracy(knn_A[knn_B])``: B's neighbours
    first, then A's; this is it with feats_A = Y and feats_B = X. Not symmetric:
    with the stage's X = language and Y = vision it is the direction of
    platonic-rep's measure_alignment.py (run with modality_x = language, modality_y
    = vision, it passes the vision features as feats_A), "LLM nearest neighbors ->
    LVM nearest neighbors". Below 1 for identical spaces: there it is the share of
    concepts with at least one mutual k-nearest neighbour.
    """
    return _compare(x, y, k=k).values(["cycle_knn"])["cycle_knn"]


def cka(x, y, unbiased: bool = False) -> float:
    """Linear CKA: HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)) of the linear kernels of the column-centred features.

    Biased HSIC is ||X~^T Y~||_F^2 (up to 1/n^2); the unbiased one is Song et
    al.'s (2012) estimator. Invariant to orthogonal maps and scaling of either side.
    """
    name = "cka_unbiased" if unbiased else "cka"
    return _compare(x, y).values([name])[name]


def cka_unbiased(x, y) -> float:
    """Linear CKA with Song et al.'s unbiased HSIC estimator (see :func:`cka`)."""
    return cka(x, y, unbiased=True)


def cknna(x, y, k: int = DEFAULT_K) -> float:
    """Huh et al.'s CKNNA: unbiased HSIC of the cosine kernels on mutual k-NN pairs, over each space's own k-NN.

    HSIC_u(M∘K, M∘L) / sqrt(HSIC_u(M_K∘K, M_K∘K) HSIC_u(M_L∘L, M_L∘L)), where M_K
    marks each row's k nearest in X (itself excluded), M_L in Y, and M = M_K M_L.
    """
    return _compare(x, y, k=k).values(["cknna"])["cknna"]


def svcca(x, y, keep: float | int = DEFAULT_KEEP) -> float:
    """Mean canonical correlation between the spaces' top principal components (column-centred).

    ``keep``: a variance fraction each side's components must explain, or a number
    of components. With r_x + r_y close to the number of concepts CCA overfits and
    the value nears 1 for unrelated spaces too: compare it with its shuffled null.
    """
    return _compare(x, y, keep=keep).values(["svcca"])["svcca"]


METRICS: dict[str, Callable[..., float]] = {
    "mutual_knn": mutual_knn,
    "nn_in_knn": nn_in_knn,
    "cycle_knn": cycle_knn,
    "cka": cka,
    "cka_unbiased": cka_unbiased,
    "cknna": cknna,
    "svcca": svcca,
}


def check_metrics(metrics: Sequence[str] | None) -> list[str]:
    """The metric names asked for, all of :data:`METRICS` when ``None``; an unknown name is refused."""
    metrics = list(METRICS) if metrics is None else list(metrics)
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown:
        raise ValueError(f"unknown similarity metrics {unknown}; known: {sorted(METRICS)}")
    return metrics


def shuffled_null(metric: str, x, y, permutations: int = DEFAULT_PERMUTATIONS, seed: int = 0,
                  k: int = DEFAULT_K, keep: float | int = DEFAULT_KEEP) -> np.ndarray:
    """``metric`` (a name in :data:`METRICS`) on ``permutations`` random pairings of X's rows with Y's."""
    return _compare(x, y, k, keep).null([metric], permutations, seed)[metric]


def half_sample_ci(metric: str, x, y, half_samples: int = DEFAULT_HALF_SAMPLES, seed: int = 0, level: float = 0.95,
                 k: int = DEFAULT_K, keep: float | int = DEFAULT_KEEP) -> tuple[float, float]:
    """Confidence interval of ``metric`` over concepts from ``half_samples`` half-samples (see the module notes)."""
    comparison = _compare(x, y, k, keep)
    estimate = comparison.values([metric])[metric]
    return half_sample_interval(estimate, comparison.half_samples([metric], half_samples, seed)[metric], comparison.n,
                                level)

