"""One space's neighbour lists and the work every comparison with it reuses (:class:`Space`).

Scale: nothing n x n is held unless asked for. Neighbour lists come from row
blocks of the cosine matrix; CKA comes from d x d scatter and cross-scatter
matrices summed over row blocks or, when one space meets many, from n x n centred
Gram matrices (:attr:`Space.gram`, held only when a comparison asks for it);
SVCCA comes from each space's whitened principal components. SVCCA with a
variance fraction needs a dense eigendecomposition of each d x d scatter (O(d^3):
tens of seconds at d = 4096 on two cores); an integer number of components uses
an iterative solver instead.

A space given a torch ``device`` (a scoring job's GPU) runs its n x n and n x d
products, neighbour selection and dense eigendecomposition there; without one
everything stays in numpy, bit for bit as before. Results agree to float
rounding (accumulations in float64 on both).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

DEFAULT_K = 10
DEFAULT_KEEP = 0.99
# Rows per block of an n-wide matrix: 1024 x 20,000 float32 is 80 MB.
ROW_BLOCK = 1024
# Neighbour lists hold max(8k, 64) entries: a half-sample keeps each listed
# concept with probability 1/2, so a row's k nearest lie within about 2k entries,
# and fewer than k among the list is a Binomial(depth, 1/2) < k event: below 1e-11
# for every k, 2e-13 for k = 10.
_DEPTH_PER_K = 8
_MIN_DEPTH = 64
# An integer number of SVCCA components below this share of the dimension is
# found iteratively; above it the dense eigendecomposition is as fast.
_ITERATIVE_SHARE = 0.25


@dataclass(frozen=True)
class Neighbours:
    """Each row's nearest other rows by cosine, nearest first, ties to the lower index."""

    index: np.ndarray  # n x depth
    cosine: np.ndarray  # n x depth

    @cached_property
    def _by_label(self) -> tuple[np.ndarray, np.ndarray]:
        """Every (row, label) entry as the key ``row * n + label``, sorted, and the entry's place in its row's list.

        Keys of row i lie in [i n, (i + 1) n), so sorting each row's labels sorts them all.
        """
        n = len(self.index)
        places = np.argsort(self.index, axis=1)
        keys = np.arange(n)[:, None] * n + np.take_along_axis(self.index, places, axis=1)
        return keys.ravel(), places.ravel()

    def positions(self, rows: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Where each of ``labels`` stands in the list of the matching entry of ``rows`` (broadcast), -1 if absent.

        A binary search among the sorted keys: O(log(n depth)) per query, where
        comparing each query with a whole list costs O(depth).
        """
        keys, places = self._by_label
        query = rows * len(self.index) + labels
        found = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
        return np.where(keys[found] == query, places[found], -1)

    @cached_property
    def reverse(self) -> np.ndarray:
        """``[i, s]``: where row ``i`` stands in the list of its ``s``-th neighbour (-1: not listed)."""
        return self.positions(self.index, np.arange(len(self.index))[:, None])

    def nearest(self, k: int) -> Neighbours:
        """The first ``k`` entries of every list."""
        return Neighbours(np.ascontiguousarray(self.index[:, :k]), np.ascontiguousarray(self.cosine[:, :k]))

    def reordered(self, order: np.ndarray) -> Neighbours:
        """The lists of the rows taken in ``order`` (new row i is old row order[i]), relabelled to match."""
        new_label = np.argsort(order)
        return Neighbours(new_label[self.index[order]], self.cosine[order])


def on_device(array: np.ndarray, device: str | None):
    """``array`` as a tensor on ``device`` (same dtype), or itself with no device."""
    if device is None:
        return array
    import torch

    return torch.as_tensor(array, device=device)


def to_numpy(array) -> np.ndarray:
    return array if isinstance(array, np.ndarray) else array.cpu().numpy()


def _largest(block, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Columns and values of each row's ``depth`` largest entries, in no order, as numpy arrays."""
    if isinstance(block, np.ndarray):
        top = np.argpartition(block, block.shape[1] - depth, axis=1)[:, block.shape[1] - depth:]
        return top, np.take_along_axis(block, top, axis=1)
    values, top = block.topk(depth, dim=1, sorted=False)
    return to_numpy(top), to_numpy(values)


def cosine_neighbours(x: np.ndarray, depth: int, device: str | None = None) -> Neighbours:
    """The ``depth`` most cosine-similar other rows of every row, from row blocks of the cosine matrix.

    ``device``: a torch device for the blocks and the selection (None: numpy).
    """
    n = len(x)
    if not 1 <= depth < n:
        raise ValueError(f"cannot list {depth} neighbours among {n} rows")
    norms = np.linalg.norm(x, axis=1)
    inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0).astype(x.dtype)
    rows, scale = on_device(x, device), on_device(inverse, device)
    index = np.empty((n, depth), dtype=np.int64)
    cosine = np.empty((n, depth), dtype=np.float64)
    for start in range(0, n, ROW_BLOCK):
        stop = min(start + ROW_BLOCK, n)
        block = rows[start:stop] @ rows.T
        block *= scale[start:stop, None]
        block *= scale[None, :]
        diagonal = on_device(np.arange(stop - start), device)
        block[diagonal, diagonal + start] = -np.inf
        top, values = _largest(block, depth)
        order = np.lexsort((top, -values), axis=1)
        index[start:stop] = np.take_along_axis(top, order, axis=1)
        cosine[start:stop] = np.take_along_axis(values, order, axis=1)
    return Neighbours(index, cosine)


def centred_blocks(x: np.ndarray, mean: np.ndarray, order: np.ndarray | None = None):
    """Row blocks of ``x - mean`` (rows taken in ``order`` if given), in ``x``'s precision."""
    for start in range(0, len(x), ROW_BLOCK):
        rows = slice(start, start + ROW_BLOCK) if order is None else order[start:start + ROW_BLOCK]
        yield (x[rows] - mean).astype(x.dtype, copy=False)


def _as_features(x, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (concepts x dimensions), got shape {x.shape}")
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float32 if x.dtype == np.float16 else np.float64)
    if not np.isfinite(x).all():
        raise ValueError(f"{name} holds non-finite values in {int((~np.isfinite(x).all(axis=1)).sum())} rows")
    return x


def unbiased_hsic(cross_squared: float, diagonal_product: float, sum_a: float, sum_b: float, n: int) -> float:
    """Song et al.'s unbiased HSIC (times n(n - 3)) of two centred linear kernels, from O(nd) summaries.

    The kernels' diagonals are the squared row norms ``a`` and ``b``; centring makes
    their row sums zero, so tr(K~L~) = ||X~^T Y~||^2 - sum a_i b_i, 1'K~1 = -sum a
    and 1'K~L~1 = sum a_i b_i, where K~ is K with its diagonal set to zero.
    """
    return cross_squared - diagonal_product + sum_a * sum_b / ((n - 1) * (n - 2)) - 2 * diagonal_product / (n - 2)


class Space:
    """One side's features and the work every comparison with it reuses, each part computed on first use."""

    def __init__(self, features, k: int = DEFAULT_K, keep: float | int = DEFAULT_KEEP, name: str = "X",
                 device: str | None = None):
        self.x = _as_features(features, name)
        self.n, self.dim = self.x.shape
        self.k, self.keep, self.name, self.device = k, keep, name, device
        self.mean = self.x.mean(axis=0, dtype=np.float64)

    @cached_property
    def _device_centred(self):
        import torch

        rows = torch.as_tensor(self.x, device=self.device)
        return (rows.double() - torch.as_tensor(self.mean, device=self.device)).to(rows.dtype)

    def centred(self):
        """X~ in x's precision: a tensor held on the space's device, or a numpy array made anew."""
        if self.device is None:
            return (self.x - self.mean).astype(self.x.dtype)
        return self._device_centred

    def blocks(self, order: np.ndarray | None = None):
        """Row blocks of X~ (rows taken in ``order`` if given), on the space's device."""
        if self.device is None:
            yield from centred_blocks(self.x, self.mean, order)
            return
        order = None if order is None else on_device(order, self.device)
        for start in range(0, self.n, ROW_BLOCK):
            rows = slice(start, start + ROW_BLOCK) if order is None else order[start:start + ROW_BLOCK]
            yield self._device_centred[rows]

    def zeros(self, shape: tuple[int, ...]):
        """A float64 accumulator on the space's device."""
        import torch

        return np.zeros(shape) if self.device is None else torch.zeros(shape, dtype=torch.float64, device=self.device)

    @cached_property
    def neighbours(self) -> Neighbours:
        if not 1 <= self.k < self.n - 1:
            raise ValueError(f"{self.name}: k={self.k} nearest neighbours need more than {self.k + 1} concepts, "
                             f"got {self.n}")
        return cosine_neighbours(self.x, min(max(_DEPTH_PER_K * self.k, _MIN_DEPTH), self.n - 1), self.device)

    @cached_property
    def nearest(self) -> Neighbours:
        """Each row's k nearest alone: all that scores on every concept read (half-samples read deeper lists)."""
        return self.neighbours.nearest(self.k)

    @cached_property
    def row_norms(self) -> np.ndarray:
        """Squared norms of the centred rows: the diagonal of the centred linear kernel."""
        return np.concatenate([np.einsum("ij,ij->i", b, b, dtype=np.float64)
                               for b in centred_blocks(self.x, self.mean)])

    @cached_property
    def scatter(self) -> np.ndarray:
        """X~^T X~ (d x d), or the Gram matrix X~ X~^T when there are fewer rows than dimensions.

        Both have the same Frobenius norm and the same non-zero eigenvalues.
        """
        if self.dim <= self.n:
            total = self.zeros((self.dim, self.dim))
            for block in self.blocks():
                total += block.T @ block
            return to_numpy(total)
        centred = (self.x - self.mean).astype(np.float64)
        return centred @ centred.T

    @cached_property
    def scatter_norm(self) -> float:
        return float(np.linalg.norm(self.scatter))

    @cached_property
    def self_hsic_unbiased(self) -> float:
        return unbiased_hsic(self.scatter_norm ** 2, float(self.row_norms @ self.row_norms),
                              float(self.row_norms.sum()), float(self.row_norms.sum()), self.n)

    @cached_property
    def whitening(self) -> np.ndarray:
        """W (d x r): ``X~ W`` are the top ``keep`` principal components, scaled to unit scatter."""
        # matrix_rank's tolerance on singular values, squared for the scatter's eigenvalues
        tolerance = (max(self.n, self.dim) * np.finfo(self.x.dtype).eps) ** 2
        values, vectors = _principal(self.scatter, self.keep, tolerance, self.name, self.device)
        if self.dim <= self.n:
            return vectors / np.sqrt(values)
        # Gram route: X~^T u / lambda maps a row onto the unit-scatter component u.
        centred = (self.x - self.mean).astype(np.float64)
        return centred.T @ vectors / values

    @cached_property
    def gram(self):
        """The centred linear kernel X~ X~^T (n x n, x's precision, on the space's device): CKA's HSIC with
        another space is then an n^2 sum.

        ``a @ a.T`` is a symmetric rank-d update in BLAS, n^2 d / 2 multiply-adds.
        """
        centred = self.centred()
        return centred @ centred.T

    @cached_property
    def components(self):
        """The whitened principal components of every row (n x r, on the space's device): SVCCA's canonical
        correlations come from them."""
        whitening = on_device(self.whitening.astype(self.x.dtype), self.device)
        blocks = [block @ whitening for block in self.blocks()]
        if self.device is None:
            return np.concatenate(blocks)
        import torch

        return torch.cat(blocks)


def _principal(scatter: np.ndarray, keep: float | int, tolerance: float, name: str,
               device: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top eigenvalues (descending) and eigenvectors of a scatter matrix: a variance fraction or a count.

    Components below ``tolerance`` times the largest eigenvalue are numerically
    absent (the space's rank is lower); keeping one is refused.
    """
    import scipy.linalg
    import scipy.sparse.linalg

    size = len(scatter)
    if isinstance(keep, (int, np.integer)) and not isinstance(keep, bool):
        if not 1 <= keep < size:
            raise ValueError(f"{name}: SVCCA keeps {keep} components but the space has rank at most {size - 1}")
        if keep < _ITERATIVE_SHARE * size:
            # Lanczos needs only products with the scatter: far cheaper than the dense O(d^3) solver.
            values, vectors = scipy.sparse.linalg.eigsh(scatter, k=int(keep), which="LA", tol=0,
                                                        v0=np.ones(size) / np.sqrt(size))
        else:
            values, vectors = scipy.linalg.eigh(scatter, subset_by_index=[size - keep, size - 1], driver="evr",
                                                check_finite=False)
        order = np.argsort(values)[::-1]
        values, vectors = values[order], vectors[:, order]
    elif 0 < keep <= 1:
        if device is None:
            values, vectors = scipy.linalg.eigh(scatter, driver="evd", check_finite=False)
        else:
            import torch

            values, vectors = map(to_numpy, torch.linalg.eigh(torch.as_tensor(scatter, device=device)))
        values, vectors = values[::-1], vectors[:, ::-1]
        share = np.cumsum(np.clip(values, 0, None)) / np.clip(values, 0, None).sum()
        # numerically absent components add no variance, whatever the share asked for
        count = min(int(np.searchsorted(share, keep * (1 - 1e-12))) + 1, int((values > values[0] * tolerance).sum()))
        values, vectors = values[:count], vectors[:, :count]
    else:
        raise ValueError(f"SVCCA keep must be a variance fraction in (0, 1] or a number of components, not {keep!r}")
    if values[-1] <= values[0] * tolerance:
        raise ValueError(f"{name}: SVCCA keeps {len(values)} components but only "
                         f"{int((values > values[0] * tolerance).sum())} carry variance")
    return values, vectors
