"""Caption similarity (first study's vision-centric text understanding): STS-L and STS-V.

A model's caption vectors are scored on the pairs of :mod:`synesthesia.data.sts`: STS-L
correlates the cosine similarity of each pair with the human score, STS-V with whether
the two captions describe the same image.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from .data.sts import read_pairs
from .records import write_records
from .store import read_embeddings


def pair_cosines(vectors_by_id: Mapping[str, np.ndarray], pairs: pd.DataFrame) -> np.ndarray:
    """Cosine similarity of each pair's two caption vectors."""
    missing = sorted({i for i in itertools.chain(pairs["id1"], pairs["id2"]) if i not in vectors_by_id})
    if missing:
        raise KeyError(f"{len(missing)} caption ids of the pairs have no vector, e.g. {missing[:3]}; "
                       "embed every id of the STS text table")
    first = np.stack([np.asarray(vectors_by_id[i], dtype=np.float64) for i in pairs["id1"]])
    second = np.stack([np.asarray(vectors_by_id[i], dtype=np.float64) for i in pairs["id2"]])
    norms = np.linalg.norm(first, axis=1) * np.linalg.norm(second, axis=1)
    if not np.all(np.isfinite(norms) & (norms > 0)):
        bad = int(np.flatnonzero(~(np.isfinite(norms) & (norms > 0)))[0])
        raise ValueError(f"pair {pairs['id1'].iloc[bad]} / {pairs['id2'].iloc[bad]}: a zero or non-finite "
                         "vector has no cosine similarity")
    return np.einsum("ij,ij->i", first, second) / norms


def sts_records(vectors_by_id: Mapping[str, np.ndarray], pairs: pd.DataFrame) -> list[dict]:
    """STS-L and STS-V in long format: Pearson and Spearman of the pairs' cosines with the
    human score (``sts_l``) and with same-image (``sts_v``; Pearson is then the point-biserial)."""
    from scipy import stats

    cosines = pair_cosines(vectors_by_id, pairs)
    records = []
    for task, column in (("sts_l", "score"), ("sts_v", "same_image")):
        target = pairs[column].to_numpy(dtype=np.float64)
        if np.ptp(target) == 0:
            raise ValueError(f"{task}: every pair has {column} = {target[0]}; a correlation needs both "
                             "kinds of pairs (same and different images, or varied scores)")
        for metric, correlation in (("pearson", stats.pearsonr), ("spearman", stats.spearmanr)):
            records.append({"task": task, "metric": metric, "value": float(correlation(cosines, target)[0]),
                            "n_pairs": int(len(pairs))})
    return records


def score_sts(embeddings_path: str | Path, pairs_path: str | Path, out: str | Path) -> list[dict]:
    """STS-L and STS-V of one model's caption embeddings, written as long-format JSON."""
    stored = read_embeddings(embeddings_path)
    identity = {**stored.identity(), "truncated": int(stored.attrs.get("truncated", 0))}
    return write_records(out, identity, sts_records(dict(zip(stored.ids, stored.vectors)), read_pairs(pairs_path)))
