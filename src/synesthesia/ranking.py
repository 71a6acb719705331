"""Retrieval scoring in torch, on the device the job holds: PCA bases, Procrustes maps, NN and CSLS ranks.

Every similarity is a cosine ("higher = more similar"). The expensive part of a
concept alignment is CSLS's candidate density, each candidate word's mean cosine
to its k nearest mapped concepts, which needs every (concept, candidate) product;
:class:`CandidateScores` computes it in one pass over candidate blocks and keeps
the test concepts' rows of the same products, so NN ranks, CSLS ranks and any
number of gold assignments (the per-pair breakdown) come from that one pass.
Results agree across devices and precisions up to float rounding: ranks can
differ only where two candidates' scores tie to within it (see docs/methods.md).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

log = logging.getLogger(__name__)

SCORING_DEVICES = ("auto", "cpu", "cuda")
# Set by the Snakefile from `scoring.device` (with the rule's gpu resource), read by each scoring job: a
# device is not a param, so choosing another reruns nothing.
DEVICE_ENV = "SYNESTHESIA_SCORING_DEVICE"
# Score blocks hold at most this many entries (64 MB in float32), so ranking among the ~79k words of the
# study's corpus stays bounded in memory.
BLOCK_ENTRIES = 1 << 24
# The test concepts' scores against every candidate are kept from the density pass below this many entries
# (1 GiB in float32: 1,800 test concepts x 150k candidates); above it they are computed a second time.
KEPT_SCORE_ENTRIES = 1 << 28


@dataclass(frozen=True)
class Placement:
    """Where scoring runs (a torch device name) and in what floating-point precision."""

    device: str = "cpu"
    dtype: str = "float32"

    def put(self, array):
        """``array`` (numpy or torch) as a tensor of this placement."""
        import torch

        return torch.as_tensor(np.asarray(array) if not isinstance(array, torch.Tensor) else array,
                               dtype=getattr(torch, self.dtype), device=self.device)


CPU = Placement()


def scoring_gpus(setting: str, run_gpus) -> int:
    """GPUs each scoring job reserves: ``scoring.device`` against the run's ``--resources gpu=N``.

    ``auto`` takes a GPU only where the run has some: a GPU partition is not proof
    of one (on SLURM, ``cuda`` sends the scoring jobs there).
    """
    if setting == "auto":
        return int(bool(getattr(run_gpus, "value", run_gpus)))
    return int(setting == "cuda")


def export_scoring_device(gpus: int) -> None:
    """Tell the scoring jobs this process starts (and SLURM jobs it submits) whether they hold a GPU."""
    os.environ[DEVICE_ENV] = "cuda" if gpus else "cpu"


def job_placement(setting: str | None = None) -> Placement:
    """The placement of a scoring job: ``setting`` (default: the Snakefile's export, else ``auto``).

    ``cuda`` claims the job's GPU slot (see :mod:`synesthesia.gpu`) and refuses a
    job that sees none; ``auto`` uses a GPU only where the workflow gave the job one
    (it sets ``cuda`` then), so jobs never share an unreserved device.
    """
    setting = setting or os.environ.get(DEVICE_ENV, "auto")
    if setting not in SCORING_DEVICES:
        raise ValueError(f"config: scoring.device: {setting!r} is not one of {SCORING_DEVICES}")
    if setting != "cuda":
        return Placement("cpu")
    import torch

    from .gpu import claim_gpu

    claim_gpu()
    if not torch.cuda.is_available():
        raise RuntimeError("config: scoring.device: this job holds a GPU (scoring.device: cuda, or auto under "
                           "--resources gpu=N) but sees no CUDA device; set scoring.device: cpu, or run it where "
                           "CUDA is (SLURM: `cluster.gpu_partition`)")
    log.info(f"scoring on {torch.cuda.get_device_name(0)}")
    return Placement("cuda")


def query_block(n_candidates: int, limit: int = 2048) -> int:
    """Rows per score block against ``n_candidates`` candidates (at most ``limit``)."""
    return max(1, min(limit, BLOCK_ENTRIES // max(n_candidates, 1)))


# On the CPU the products, eigendecompositions, SVDs and top-k selections below go through numpy and scipy:
# torch's CPU wheels run them with MKL, whose float32 products on AMD CPUs (the project's CI kind) reach two
# thirds of OpenBLAS's speed, and whose threads, spinning after each call, stall OpenBLAS's when both are used
# (8x slower measured); torch's topk is ten times slower than numpy's introselect on 6k-wide rows. CPU tensors
# share their memory with numpy, so nothing is copied.


def _on_cpu(*tensors) -> bool:
    return all(t.device.type == "cpu" for t in tensors)


def matmul(a, b):
    """``a @ b`` for tensors of one dtype."""
    import torch

    return torch.from_numpy(np.matmul(a.numpy(), b.numpy())) if _on_cpu(a, b) else a @ b


def _eigenvectors(symmetric):
    """Eigenvectors (columns) of a symmetric matrix, eigenvalues ascending."""
    import scipy.linalg
    import torch

    if _on_cpu(symmetric):
        return torch.from_numpy(scipy.linalg.eigh(symmetric.numpy(), driver="evd", check_finite=False)[1])
    return torch.linalg.eigh(symmetric)[1]


def _svd(x):
    """Thin SVD ``u, s, vh``."""
    import scipy.linalg
    import torch

    if _on_cpu(x):
        return tuple(map(torch.from_numpy, scipy.linalg.svd(x.numpy(), full_matrices=False, lapack_driver="gesdd",
                                                            check_finite=False)))
    return torch.linalg.svd(x, full_matrices=False)


def unit_rows(x):
    """Rows scaled to unit length (rows of zeros stay zero)."""
    import torch

    return x / torch.clamp(torch.linalg.vector_norm(x, dim=1, keepdim=True), min=1e-12)


def pca_basis(x, n_components: int):
    """The top principal directions (D x n) of already-centred rows (a tensor), each with its largest entry positive.

    From the eigenvectors of the D x D scatter matrix: for thousands of rows and
    D in the thousands this is several times faster than an SVD of the rows.
    """
    import torch

    basis = _eigenvectors(matmul(x.T, x)).flip(1)[:, :n_components]
    # An eigenvector's sign is the solver's choice (LAPACK and cuSOLVER differ); fixing it (largest entry
    # positive, as scikit-learn's svd_flip) makes the spaces, and so the random-map control, the same on any device.
    largest = basis.abs().argmax(dim=0)
    return basis * torch.sign(basis[largest, torch.arange(basis.shape[1], device=basis.device)])


def procrustes(source, target):
    """The orthogonal W minimising ||source W - target||_F (Schönemann's solution), tensors in and out."""

    u, _, vh = _svd(matmul(source.T, target))
    return matmul(u, vh)


def best_gold_ranks(scores_fn: Callable, n_queries: int, gold: Sequence[np.ndarray], n_candidates: int = 0,
                    device: str = "cpu") -> np.ndarray:
    """Rank (0 = best) of each query's best-scoring gold candidate.

    Ties with non-gold candidates count against the query. ``scores_fn(start, stop)``
    returns the (stop - start) x n_candidates score block (a tensor on ``device``), so
    the full query x candidate matrix never exists at once (blocks shrink as
    ``n_candidates`` grows).
    """
    import torch

    width = max(len(g) for g in gold)
    # Padding repeats a row's last gold index, so maxima and ties stay exact; `valid` marks the real ones.
    padded = torch.as_tensor(np.array([np.pad(g, (0, width - len(g)), mode="edge") for g in gold]), device=device)
    valid = torch.as_tensor(np.array([np.arange(width) < len(g) for g in gold]), device=device)
    ranks = np.empty(n_queries, dtype=np.int64)
    rows = query_block(n_candidates)
    for start in range(0, n_queries, rows):
        stop = min(start + rows, n_queries)
        block = scores_fn(start, stop)
        finite = torch.isfinite(block).all(dim=1)
        if not bool(finite.all()):
            # A NaN compares false with everything, so it would rank first: refuse instead.
            row = start + int(torch.nonzero(~finite)[0, 0])
            raise FloatingPointError(f"non-finite similarity scores for query {row}; its vectors are not finite")
        gold_scores = torch.gather(block, 1, padded[start:stop])
        best = gold_scores.max(dim=1, keepdim=True).values
        tied_gold = ((gold_scores >= best) & valid[start:stop]).sum(dim=1)
        ranks[start:stop] = ((block >= best).sum(dim=1) - tied_gold).cpu().numpy()
    return ranks


def mean_top_k(scores, k: int):
    """Each row's mean of its ``k`` largest entries."""
    import torch

    k = min(k, scores.shape[1])
    if _on_cpu(scores):
        values = scores.numpy()
        return torch.from_numpy(np.partition(values, values.shape[1] - k, axis=1)[:, -k:].mean(axis=1))
    return scores.topk(k, dim=1, sorted=False).values.mean(dim=1)


class CandidateScores:
    """One pass over every (mapped concept, candidate) cosine: NN and CSLS ranks of the test concepts.

    ``mapped``: one row per concept (all of them: CSLS takes a candidate's
    neighbourhood among every mapped concept, as MUSE does), ``candidates``: one row
    per candidate word, both tensors on one device; ``test``: the query concepts'
    rows. CSLS (Conneau et al., 2018) scores 2 cos(q, c) - r(q) - r(c), r being a
    mean cosine to the k nearest of the other side; r(q) is the same for all of a
    query's candidates, so its ranks are those of 2 cos(q, c) - r(c), which is what
    is ranked here.
    """

    def __init__(self, mapped, candidates, test: np.ndarray, csls_k: int):
        import torch

        self.candidates = unit_rows(candidates)
        self.queries = unit_rows(mapped)[torch.as_tensor(test, device=mapped.device)]
        mapped = unit_rows(mapped)
        n_candidates = len(self.candidates)
        self.density = torch.empty(n_candidates, dtype=mapped.dtype, device=mapped.device)
        keep = len(test) * n_candidates <= KEPT_SCORE_ENTRIES
        self._test_scores = torch.empty((len(test), n_candidates), dtype=mapped.dtype,
                                        device=mapped.device) if keep else None
        test_rows = torch.as_tensor(test, device=mapped.device)
        step = query_block(len(mapped), limit=8192)
        for start in range(0, n_candidates, step):
            block = matmul(self.candidates[start:start + step], mapped.T)
            self.density[start:start + len(block)] = mean_top_k(block, csls_k)
            if keep:
                self._test_scores[:, start:start + len(block)] = block[:, test_rows].T

    def scores(self, start: int, stop: int, rows: np.ndarray | None = None):
        """Cosines of test queries ``start:stop`` (of ``rows``: positions among them) with every candidate."""
        import torch

        if rows is None:
            chosen = slice(start, stop)
        else:
            chosen = torch.as_tensor(rows[start:stop], device=self.candidates.device)
        if self._test_scores is not None:
            return self._test_scores[chosen]
        return matmul(self.queries[chosen], self.candidates.T)

    def ranks(self, test_gold: Sequence[np.ndarray], rows: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Best-gold rank of test queries by nearest neighbour and by CSLS: of ``rows`` (positions among the test
        queries; default all), ``test_gold[j]`` being the gold candidates of the j-th."""
        n = len(self.queries) if rows is None else len(rows)
        device = self.candidates.device

        def nn(start, stop):
            return self.scores(start, stop, rows)

        def csls(start, stop):
            return 2 * self.scores(start, stop, rows) - self.density

        return {name: best_gold_ranks(scores, n, test_gold, len(self.candidates), device)
                for name, scores in (("nn", nn), ("csls", csls))}
