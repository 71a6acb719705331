"""Linear probe speed: the project's probe vs scikit-learn's LogisticRegression (lbfgs).

Both fit the same training rows and are scored on the same test rows, in this one run.
The project's time includes everything a GLUE probe does: standardisation, the choice
of C on a held-out 20% of the training rows from its grid (seven values), and the
refit on all training rows. scikit-learn's is one fit of `LogisticRegression()` with
its defaults (C=1, lbfgs, no scaling) and `max_iter` raised until it converges.

The features imitate sentence embeddings, which are anisotropic:

    x = offset + Q diag(s) (z + m_y),   z ~ N(0, I),   s_j = a * j ** -decay

- a decaying spectrum: the j-th principal direction (columns of a random orthogonal
  Q) has standard deviation a * j ** -decay, with `a` set so that the features' RMS
  standard deviation is `feature_std`. all-MiniLM-L6-v2's mean-pooled features,
  measured on this project's benchmark sentences, decay as j ** -1.02, hence decay 1
  (a covariance condition number of dim ** 2, about 590,000 at 768 dimensions).
  The scale only matters to scikit-learn, whose C=1 penalises raw weights: at the
  default unit scale C=1 is a weak penalty, as it is meant to be; at MiniLM's
  measured 0.18 (`--feature-std 0.18`) it is a strong one on the weak directions,
  and scikit-learn's accuracy drops while the project's probe, which standardises
  and chooses C, does not;
- a common offset, one random vector added to every row, carrying `offset_share` of
  the mean squared norm (0.8: two random rows then have a cosine near 0.8, as
  contextual embeddings are anisotropic);
- the class signal: class means m_y, random directions at a distance `separation`
  from each other in whitened units, so the signal is spread over the whole spectrum.

    .venv/bin/python benchmarks/probe.py [--rows 100000] [--dim 768] [--classes 3]
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from synesthesia.glue import accuracy
from synesthesia.probe import select_logistic


def anisotropic_features(
    n: int, dim: int, classes: int, decay: float, feature_std: float, offset_share: float, separation: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """float32 rows shaped like sentence embeddings (see the module docstring) and their labels."""
    rng = np.random.default_rng(seed)
    rotation, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    spectrum = np.arange(1, dim + 1) ** -decay
    spectrum *= feature_std / np.sqrt(np.mean(spectrum**2))
    means = rng.standard_normal((classes, dim))
    means *= separation / np.sqrt(2) / np.linalg.norm(means, axis=1, keepdims=True)
    offset = rng.standard_normal(dim)
    offset *= np.sqrt(offset_share / (1 - offset_share) * np.sum(spectrum**2)) / np.linalg.norm(offset)
    labels = rng.integers(0, classes, n)
    features = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 10_000):
        block = slice(start, start + 10_000)
        latent = rng.standard_normal((len(labels[block]), dim)) + means[labels[block]]
        features[block] = (latent * spectrum) @ rotation.T + offset
    return features, labels


def time_sklearn(train: np.ndarray, labels: np.ndarray, max_iter: int) -> tuple[float, LogisticRegression, bool]:
    model = LogisticRegression(max_iter=max_iter)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(train, labels)
    elapsed = time.perf_counter() - start
    return elapsed, model, not any(issubclass(warning.category, ConvergenceWarning) for warning in caught)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="training rows")
    parser.add_argument("--test-rows", type=int, default=20_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--classes", type=int, default=3)
    parser.add_argument("--decay", type=float, default=1.0, help="spectrum exponent: s_j = a * j ** -decay")
    parser.add_argument("--feature-std", type=float, default=1.0, help="RMS per-feature standard deviation")
    parser.add_argument("--offset-share", type=float, default=0.8, help="share of the mean squared norm")
    parser.add_argument("--separation", type=float, default=3.0, help="class-mean distance, whitened units")
    parser.add_argument("--sklearn-max-iter", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    features, labels = anisotropic_features(args.rows + args.test_rows, args.dim, args.classes, args.decay,
                                            args.feature_std, args.offset_share, args.separation, args.seed)
    train, test = features[: args.rows], features[args.rows:]
    train_labels, test_labels = labels[: args.rows], labels[args.rows:]
    unit = train[:2000] / np.linalg.norm(train[:2000], axis=1, keepdims=True)
    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} torch threads, torch {torch.__version__}")
    print(f"features: {args.rows} train + {args.test_rows} test rows x {args.dim}, {args.classes} classes, "
          f"spectrum j^-{args.decay:g}, per-feature std {args.feature_std:g}, offset share {args.offset_share:g} "
          f"(mean cosine of two rows {np.mean(unit[:1000] @ unit[1000:].T):.2f}), "
          f"class separation {args.separation:g}")

    start = time.perf_counter()
    selection = select_logistic(train, train_labels, seed=args.seed)
    project_time = time.perf_counter() - start
    project_accuracy = accuracy(test_labels, selection.probe.predict(test))
    print(f"synesthesia select_logistic: {project_time:7.1f} s, test accuracy {100 * project_accuracy:.2f}%, "
          f"C={selection.regularization:g} chosen on {selection.n_holdout} held-out rows "
          f"(refit: {selection.probe.iterations} iterations, converged={selection.probe.converged})")

    sklearn_time, model, converged = time_sklearn(train, train_labels, args.sklearn_max_iter)
    sklearn_accuracy = accuracy(test_labels, model.predict(test))
    print(f"scikit-learn LogisticRegression(): {sklearn_time:7.1f} s, test accuracy {100 * sklearn_accuracy:.2f}% "
          f"(C=1, {int(model.n_iter_[0])} lbfgs iterations, converged={converged})")
    print(f"speed ratio (scikit-learn time / synesthesia time): {sklearn_time / project_time:.1f}")
    difference = 100 * (project_accuracy - sklearn_accuracy)
    print(f"accuracy difference (synesthesia - scikit-learn): {difference:+.2f} points")


if __name__ == "__main__":
    main()
