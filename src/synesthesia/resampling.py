"""Resampling over concepts: half-samples for intervals, shuffled pairings for chance levels.

A half-sample is a random half of the concepts drawn without replacement; the spread of
a statistic over half-samples estimates its spread over samples of all n concepts (the
delete-half jackknife; Shao & Wu 1989). Why not a with-replacement bootstrap, and how
the intervals behave for each metric: :mod:`synesthesia.similarity.metrics`.
"""

from __future__ import annotations

import numpy as np

DEFAULT_HALF_SAMPLES = 1000  # half-samples per interval
DEFAULT_PERMUTATIONS = 10  # shuffled pairings per chance level


def draw_half_samples(n: int, count: int, seed: int) -> np.ndarray:
    """``count`` random halves of ``n`` concepts drawn without replacement, as 0/1 rows (count x n)."""
    rng = np.random.default_rng(seed)
    members = np.zeros((count, n))
    for row in members:
        row[rng.permutation(n)[:n // 2]] = 1
    return members



def half_sample_interval(estimate: float, values: np.ndarray, n: int, level: float = 0.95) -> tuple[float, float]:
    """The estimate plus the central ``level`` quantiles of the centred half-sample values.

    Deviations are scaled by sqrt(m / (n - m)) for halves of m = n // 2 concepts,
    the delete-d jackknife's factor (1 for even n).
    """
    if not 0 < level < 1:
        raise ValueError(f"confidence level must be in (0, 1), not {level}")
    m = n // 2
    deviations = (values - values.mean()) * np.sqrt(m / (n - m))
    low, high = np.quantile(deviations, [(1 - level) / 2, (1 + level) / 2])
    return float(estimate + low), float(estimate + high)
