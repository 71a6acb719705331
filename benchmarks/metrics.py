"""Similarity metrics at the second study's size: time and peak memory per metric, against dense baselines.

Synthetic correlated spaces: a shared 256-d latent with a power-law spectrum
(component i scaled by i^-0.5, as embedding spectra decay) mapped into a 4,096-d
"language" space and a 2,048-d "vision" space plus independent noise, float32.
Every measurement runs in its own subprocess after the data exist, so its peak is
its own, and twice: once timed, with ``RSS rise``, the rise of the process's
resident high-water mark over the data alone (everything: numpy, BLAS buffers,
allocator slack), and once under tracemalloc for ``numpy peak`` (numpy reports
its buffers to it), which is not timed because tracing slows some LAPACK calls
several-fold. Baselines, at the smallest size only:

- dense mutual k-NN: the full n x n cosine matrix, each row fully sorted;
- dense CKA: Kornblith et al.'s reference (n x n Gram matrices, centred, Frobenius inner product);
- dense CKNNA: Huh et al.'s reference (n x n kernels and masks, HSIC with an n x n product).

    .venv/bin/python benchmarks/metrics.py [--sizes 6000 20000] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc

TEXT_DIM, VISION_DIM, LATENT = 4096, 2048, 256
PROJECT = ["mutual_knn", "nn_in_knn", "cycle_knn", "cka", "cka_unbiased", "cknna", "svcca", "svcca@64"]
BASELINES = {"mutual_knn": "dense_mutual_knn", "cka": "dense_cka", "cknna": "dense_cknna"}


def correlated_spaces(n: int, seed: int = 0):
    """Filled in row chunks, so that generating the data leaves no temporaries in the resident high-water mark."""
    import numpy as np

    rng = np.random.default_rng(seed)
    scales = np.arange(1, LATENT + 1, dtype=np.float32) ** -0.5
    maps = [rng.standard_normal((LATENT, dim), dtype=np.float32) for dim in (TEXT_DIM, VISION_DIM)]
    spaces = [np.empty((n, dim), dtype=np.float32) for dim in (TEXT_DIM, VISION_DIM)]
    for start in range(0, n, 1024):
        latent = rng.standard_normal((min(1024, n - start), LATENT), dtype=np.float32) * scales
        for space, mapping in zip(spaces, maps):
            chunk = space[start:start + len(latent)]
            np.matmul(latent, mapping, out=chunk)
            chunk += 0.5 * rng.standard_normal(chunk.shape, dtype=np.float32)
    return spaces


def dense_mutual_knn(x, y, k=10):
    import numpy as np

    def neighbours(z):
        unit = z / np.linalg.norm(z, axis=1, keepdims=True)
        sims = unit @ unit.T
        np.fill_diagonal(sims, -np.inf)
        return np.argsort(-sims, axis=1)[:, :k]

    nx, ny = neighbours(x), neighbours(y)
    return float(np.mean([len(np.intersect1d(a, b)) / k for a, b in zip(nx, ny)]))


def dense_cka(x, y):
    import numpy as np

    def centred_gram(z):
        gram = z.astype(np.float64) @ z.T.astype(np.float64)
        means = gram.mean(axis=0)
        gram -= means[None, :]
        gram -= means[:, None] - means.mean()
        return gram

    k, m = centred_gram(x), centred_gram(y)
    return float((k * m).sum() / (np.linalg.norm(k) * np.linalg.norm(m)))


def dense_cknna(x, y, k=10):
    import numpy as np

    def hsic_unbiased(a, b):
        m = len(a)
        np.fill_diagonal(a, 0)
        np.fill_diagonal(b, 0)
        return ((a * b.T).sum() + a.sum() * b.sum() / ((m - 1) * (m - 2)) - 2 * (a @ b).sum() / (m - 2)) / (m * (m - 3))

    def kernel_and_mask(z):
        unit = z / np.linalg.norm(z, axis=1, keepdims=True)
        kernel = unit @ unit.T
        masked = kernel.copy()
        np.fill_diagonal(masked, -np.inf)
        mask = np.zeros_like(kernel)
        np.put_along_axis(mask, np.argpartition(-masked, k, axis=1)[:, :k], 1, axis=1)
        return kernel, mask

    (kx, mx), (ky, my) = kernel_and_mask(x), kernel_and_mask(y)
    both = mx * my
    return float(hsic_unbiased(both * kx, both * ky)
                 / np.sqrt(hsic_unbiased(mx * kx, mx * kx) * hsic_unbiased(my * ky, my * ky)))


def run_one(name: str, n: int, traced: bool) -> dict:
    """In a fresh process: make the data, then run one metric, timed or traced."""
    from synesthesia import similarity

    x, y = correlated_spaces(n)
    data_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    functions = {**similarity.METRICS, "svcca@64": lambda a, b: similarity.svcca(a, b, keep=64),
                 "dense_mutual_knn": dense_mutual_knn, "dense_cka": dense_cka, "dense_cknna": dense_cknna,
                 "uncertainty": uncertainty}
    if traced:
        tracemalloc.start()
        functions[name](x, y)
        return {"numpy_peak_mb": tracemalloc.get_traced_memory()[1] / 2 ** 20}
    start = time.perf_counter()
    value = functions[name](x, y)
    return {"seconds": time.perf_counter() - start,
            "rss_rise_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - data_rss) / 1024,
            "data_mb": (x.nbytes + y.nbytes) / 2 ** 20, "value": value}


def uncertainty(x, y):
    """10 shuffled pairings and 100 half-samples of every metric but the 99%-variance SVCCA."""
    from synesthesia.similarity import Comparison, Space

    comparison = Comparison(Space(x, keep=64), Space(y, keep=64))
    metrics = ["mutual_knn", "nn_in_knn", "cycle_knn", "cka", "cka_unbiased", "cknna", "svcca"]
    comparison.values(metrics)
    start = time.perf_counter()
    comparison.null(metrics, permutations=10)
    null_seconds = time.perf_counter() - start
    comparison.half_samples(metrics, count=100)
    return f"values+null {null_seconds:.1f}s, then 100 half-samples {time.perf_counter() - start - null_seconds:.1f}s"


def measure(name: str, n: int, threads: int) -> dict:
    env = {**os.environ, **{var: str(threads) for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                          "MKL_NUM_THREADS")}}
    row = {}
    for mode in ("timed", "traced"):
        result = subprocess.run([sys.executable, __file__, "--worker", name, str(n), mode], capture_output=True,
                                text=True, env=env)
        if result.returncode:
            return {"error": result.stderr.strip().splitlines()[-1]}
        row.update(json.loads(result.stdout.strip().splitlines()[-1]))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[6000, 20000])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(run_one(args.worker[0], int(args.worker[1]), args.worker[2] == "traced"), default=str))
        return
    import numpy as np

    print(f"numpy {np.__version__}, {args.threads} BLAS threads, load average {os.getloadavg()[0]:.1f}, "
          f"spaces n x ({TEXT_DIM}, {VISION_DIM}) float32")
    print(f"{'metric':18} {'n':>6} {'seconds':>8} {'numpy peak':>11} {'RSS rise':>9} {'data':>7}  value / vs baseline")
    baseline_seconds = {}
    smallest = min(args.sizes)
    for n in args.sizes:
        names = list(BASELINES.values()) + PROJECT + ["uncertainty"] if n == smallest else PROJECT
        for name in names:
            row = measure(name, n, args.threads)
            if "error" in row:
                print(f"{name:18} {n:>6} failed: {row['error']}")
                continue
            if name in BASELINES.values():
                baseline_seconds[name] = row["seconds"]
            note = row["value"] if isinstance(row["value"], str) else f"{float(row['value']):.4f}"
            baseline = BASELINES.get(name)
            if n == smallest and baseline in baseline_seconds:
                reference = baseline_seconds[baseline]
                note += f" ({baseline}: {reference:.1f}s, {reference / row['seconds']:.1f}x)"
            print(f"{name:18} {n:>6} {row['seconds']:8.1f} {row['numpy_peak_mb']:9.0f}MB {row['rss_rise_mb']:7.0f}MB "
                  f"{row['data_mb']:5.0f}MB  {note}", flush=True)
    largest = max(args.sizes)
    if largest > smallest:
        print(f"dense baselines not run at {largest}: their two n x n float64 Gram matrices alone take "
              f"{2 * largest ** 2 * 8 / 2 ** 30:.1f} GiB")


if __name__ == "__main__":
    main()
