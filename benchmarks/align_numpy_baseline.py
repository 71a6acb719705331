"""The concept-alignment scoring as the project ran it before it moved to torch (commit 9665c45): the baseline of
benchmarks/align.py, kept here unchanged so the ratio is measured in the same run.

numpy and scipy on the CPU: per split, the PCA of both spaces, then per control a Procrustes map and three
block passes over the candidates (CSLS's query density, its candidate density, and the ranks).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

BLOCK_ENTRIES = 1 << 24


def query_block(n_candidates: int) -> int:
    return max(1, min(2048, BLOCK_ENTRIES // max(n_candidates, 1)))


def normalize_rows(x):
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def pca_basis(x, n_components):
    _, vectors = scipy.linalg.eigh(x.T @ x, driver="evd", check_finite=False)
    return vectors[:, ::-1][:, :n_components]


def procrustes(source, target):
    u, _, vt = scipy.linalg.svd(source.T @ target, full_matrices=False, lapack_driver="gesdd", check_finite=False)
    return u @ vt


def mean_top_k_similarity(queries, candidates, k):
    k = min(k, len(candidates))
    out = np.empty(len(queries), dtype=np.float64)
    rows = query_block(len(candidates))
    for start in range(0, len(queries), rows):
        block = queries[start:start + rows] @ candidates.T
        out[start:start + len(block)] = np.partition(block, block.shape[1] - k, axis=1)[:, -k:].mean(axis=1)
    return out


def best_gold_ranks(scores_fn, n_queries, gold, n_candidates):
    width = max(len(g) for g in gold)
    padded = np.array([np.pad(g, (0, width - len(g)), mode="edge") for g in gold])
    ranks = np.empty(n_queries, dtype=np.int64)
    rows = query_block(n_candidates)
    for start in range(0, n_queries, rows):
        stop = min(start + rows, n_queries)
        block = scores_fn(start, stop)
        gold_scores = np.take_along_axis(block, padded[start:stop], axis=1)
        best = gold_scores.max(axis=1, keepdims=True)
        tied_gold = np.array([(row[:len(g)] >= b).sum() for row, g, b in zip(gold_scores, gold[start:stop], best)])
        ranks[start:stop] = (block >= best).sum(axis=1) - tied_gold
    return ranks


class Space:
    def __init__(self, train_rows, dim):
        self.mean = train_rows.mean(axis=0)
        centred = normalize_rows(train_rows - self.mean)
        self.basis = pca_basis(centred - centred.mean(axis=0), dim) if dim < train_rows.shape[1] else None

    def __call__(self, rows):
        z = normalize_rows(rows - self.mean)
        return z if self.basis is None else normalize_rows(z @ self.basis)


def rank_aliases(mapped, candidates, gold, test, csls_k):
    mapped, candidates = normalize_rows(mapped), normalize_rows(candidates)
    queries = mapped[test]
    test_gold = [gold[i] for i in test]
    query_density = mean_top_k_similarity(queries, candidates, csls_k)
    candidate_density = mean_top_k_similarity(candidates, mapped, csls_k)
    return {
        "nn": best_gold_ranks(lambda a, b: queries[a:b] @ candidates.T, len(test), test_gold, len(candidates)),
        "csls": best_gold_ranks(
            lambda a, b: 2 * queries[a:b] @ candidates.T - query_density[a:b, None] - candidate_density[None, :],
            len(test), test_gold, len(candidates)),
    }


def align_concepts(vision, language, gold, train, test, csls_k, seed):
    """The three controls of one split, 'project' preprocessing."""
    train_aliases = np.unique(np.concatenate([gold[i] for i in train]))
    dim = min(vision.shape[1], language.shape[1], len(train), len(train_aliases))
    vision_z, language_z = Space(vision[train], dim)(vision), Space(language[train_aliases], dim)(language)
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(vision_z.shape[1],) * 2))
    random_map = (q * np.sign(np.diag(r))).astype(vision_z.dtype)
    ranks = {}
    for control, shuffle_seed in (("none", None), ("shuffled", seed + 10_000)):
        train_gold = [gold[i] for i in train]
        if shuffle_seed is not None:
            order = np.random.default_rng(shuffle_seed).permutation(len(train_gold))
            train_gold = [train_gold[j] for j in order]
        source, target = np.repeat(train, [len(g) for g in train_gold]), np.concatenate(train_gold)
        mapping = procrustes(vision_z[source], language_z[target])
        ranks[control] = rank_aliases(vision_z @ mapping, language_z, gold, test, csls_k)
    ranks["random_map"] = rank_aliases(vision_z @ random_map, language_z, gold, test, csls_k)
    return ranks
