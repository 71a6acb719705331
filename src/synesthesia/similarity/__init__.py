"""Representation similarity between two spaces on the same concepts.

``X`` (n x d1) and ``Y`` (n x d2) are row-aligned: row ``i`` of both describes
concept ``i``. Every metric shares one convention: higher = more similar, a space
compared with itself (or with a rotated copy of itself) scores 1 (all but
``cycle_knn``, see :mod:`.metrics`), and a shuffled pairing of the rows gives the
chance level (see :func:`shuffled_null`).

The modules, lowest first: :mod:`.spaces` (one space's neighbour lists and the
work every comparison with it reuses), :mod:`.metrics` (the metrics, their
shuffled nulls and half-samples, :class:`Comparison`) and :mod:`.scoring` (records
of every layer pair, and the rule's entry :func:`score_similarity`).
"""

from .metrics import (
    CKA_METRICS,
    KNN_METRICS,
    METRICS,
    Comparison,
    cka,
    cka_unbiased,
    cknna,
    cycle_knn,
    half_sample_ci,
    mutual_knn,
    nn_in_knn,
    shuffled_null,
    svcca,
)
from .scoring import concept_language_rows, layer_pair_records, score_similarity
from .spaces import DEFAULT_K, DEFAULT_KEEP, Neighbours, Space, cosine_neighbours

__all__ = [
    "CKA_METRICS",
    "DEFAULT_K",
    "DEFAULT_KEEP",
    "KNN_METRICS",
    "METRICS",
    "Comparison",
    "Neighbours",
    "Space",
    "cka",
    "cka_unbiased",
    "cknna",
    "concept_language_rows",
    "cosine_neighbours",
    "cycle_knn",
    "half_sample_ci",
    "layer_pair_records",
    "mutual_knn",
    "nn_in_knn",
    "score_similarity",
    "shuffled_null",
    "svcca",
]
