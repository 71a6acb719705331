"""Maps between embedding spaces and retrieval scores.

Convention: every similarity is "higher = more similar" (cosine), rows are
mean-centred on the training part and L2-normalised explicitly before a map is
fitted or a neighbour is searched.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

# Bump when a change alters what scoring computes, so exactly the scoring jobs rerun.
ALIGN_VERSION = 1
_QUERY_BLOCK = 2048


def normalize_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def ridge_map(source: np.ndarray, target: np.ndarray, alpha: float) -> np.ndarray:
    """W minimising ||source W - target||^2 + alpha ||W||^2 (closed form, float64)."""
    source, target = source.astype(np.float64), target.astype(np.float64)
    gram = source.T @ source
    gram[np.diag_indices_from(gram)] += alpha
    return np.linalg.solve(gram, source.T @ target)


def retrieval_ranks(queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Rank (0 = best) of candidate ``i`` among all candidates for query ``i``, by cosine.

    Computed in query blocks so memory stays bounded; ties count against the
    query (a constant map cannot score above chance).
    """
    queries, candidates = normalize_rows(queries), normalize_rows(candidates)
    ranks = np.empty(len(queries), dtype=np.int64)
    for start in range(0, len(queries), _QUERY_BLOCK):
        block = queries[start:start + _QUERY_BLOCK] @ candidates.T
        gold = block[np.arange(len(block)), np.arange(start, start + len(block))]
        ranks[start:start + len(block)] = (block >= gold[:, None]).sum(axis=1) - 1
    return ranks


def recall_at_k(ranks: np.ndarray, ks: Sequence[int]) -> dict[int, float]:
    return {int(k): float((ranks < k).mean()) for k in ks}


def split_indices(n: int, train_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random split of ``n`` pairs; no test pair is ever in training."""
    order = np.random.default_rng(seed).permutation(n)
    n_train = int(round(n * train_fraction))
    if n_train < 1 or n_train >= n:
        raise ValueError(f"train_fraction {train_fraction} leaves no training or no test pairs among {n}")
    return np.sort(order[:n_train]), np.sort(order[n_train:])


def mapped_retrieval(
    source: np.ndarray,
    target: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    alpha: float,
    shuffle_seed: int | None = None,
) -> np.ndarray:
    """Fit source->target on ``train`` pairs, return test ranks of each true target.

    With ``shuffle_seed`` the training pairs are permuted first: the map then
    learns nothing about which item is which, which gives the chance level.
    """
    source_train, target_train = source[train], target[train]
    if shuffle_seed is not None:
        target_train = target_train[np.random.default_rng(shuffle_seed).permutation(len(train))]
    source_mean, target_mean = source_train.mean(axis=0), target_train.mean(axis=0)
    x = normalize_rows(source_train - source_mean)
    y = normalize_rows(target_train - target_mean)
    weights = ridge_map(x, y, alpha)
    queries = normalize_rows(source[test] - source_mean) @ weights
    return retrieval_ranks(queries, target[test] - target_mean)


def retrieval_records(
    text: np.ndarray,
    vision: np.ndarray,
    ks: Sequence[int],
    splits: int,
    train_fraction: float,
    alpha: float,
    seed: int,
) -> list[dict]:
    """Image->caption retrieval through a vision->text map, per split, in long format."""
    if len(text) != len(vision):
        raise ValueError(f"{len(text)} captions but {len(vision)} images: pairs must align row by row")
    records = []
    for split in range(splits):
        train, test = split_indices(len(text), train_fraction, seed + split)
        for control, shuffle_seed in (("none", None), ("shuffled", seed + split + 10_000)):
            ranks = mapped_retrieval(vision, text, train, test, alpha, shuffle_seed)
            for k, value in recall_at_k(ranks, ks).items():
                records.append({"split": split, "control": control, "metric": "recall", "k": k,
                                "value": value, "n_test": int(len(test))})
            records.append({"split": split, "control": control, "metric": "median_rank", "k": None,
                            "value": float(np.median(ranks) + 1), "n_test": int(len(test))})
    return records


def score_retrieval(text_path: str, vision_path: str, out: str, spec: dict) -> list[dict]:
    """Score one (text model, vision model) pair of a dataset into a long-format JSON."""
    import json

    from .store import read_embeddings, require_same_ids

    text, vision = read_embeddings(text_path), read_embeddings(vision_path)
    require_same_ids(text, vision)
    records = retrieval_records(
        text.vectors, vision.vectors, spec["ks"], spec["splits"], spec["train_fraction"], spec["ridge"], spec["seed"]
    )
    identity = {
        "dataset": str(text.attrs["dataset"]),
        "text_model": str(text.attrs["model"]),
        "vision_model": str(vision.attrs["model"]),
        "text_revision": str(text.attrs["revision"]),
        "vision_revision": str(vision.attrs["revision"]),
        "text_layer": str(text.attrs["layer"]),
        "vision_layer": str(vision.attrs["layer"]),
        "method": "ridge",
    }
    records = [{**identity, **record} for record in records]
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(records, handle, indent=1)
    return records
