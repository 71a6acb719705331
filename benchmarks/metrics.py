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

The all-layers case scores every (language layer, vision layer) pair the way
platonic-rep compares models: 33 language layers (4,096-d) x 25 vision layers
(2,048-d) of 6,000 concepts, every metric through ``layer_pair_records`` with
config.yaml's sizes (k = 10, 64 SVCCA components, 1,000 half-samples and 10
shuffled pairings on each metric's best pair). Layers are the shared latent with
each layer's own noise, least noisy two thirds of the way through each model. Its
baseline is the similarity package as it was before layer pairs shared work
(commit ``BASELINE_COMMIT``, read from git), timed in the same run on 2 x 2 layers
and extrapolated to 33 x 25; this code is timed on the same 2 x 2 layers for the
breakdown, then on all 825 pairs. On a CUDA device, when there is one, the same
layers are scored there too (``layer_pair_records(..., device="cuda")``), with the
ratio to this code on the CPU and the largest difference of the best values.

    .venv/bin/python benchmarks/metrics.py [--sizes 6000 20000] [--threads 2] [--cases metrics layers]
        [--layers 33 25] [--layer-concepts 6000]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
import tracemalloc
from pathlib import Path

TEXT_DIM, VISION_DIM, LATENT = 4096, 2048, 256
PROJECT = ["mutual_knn", "nn_in_knn", "cycle_knn", "cka", "cka_unbiased", "cknna", "svcca", "svcca@64"]
BASELINES = {"mutual_knn": "dense_mutual_knn", "cka": "dense_cka", "cknna": "dense_cknna"}
# LLaMA-2-7B's 33 hidden states against a 25-layer vision model, as platonic-rep compares them
LAYERS = (33, 25)
SIMILARITY = {"k": 10, "keep": 64, "half_samples": 1000, "permutations": 10}  # config.yaml's similarity sizes
# The similarity package before layer pairs shared work (Gram matrices, components, k-nearest lookups).
BASELINE_COMMIT = "b34ea97a15a14504437e79325a9b2fb6b2ea45dd"
# Half-samples the breakdown times beside none (the part that does not grow with the count: CKA's kernel
# blocks), to extrapolate linearly to SIMILARITY's count.
BREAKDOWN_HALF_SAMPLES = 100


def correlated_layers(n: int, text_noise, vision_noise, seed: int = 0):
    """Each side's layers: the shared latent through the side's map, plus noise of each layer's own scale.

    Filled in row chunks, so that generating the data leaves no temporaries in the
    resident high-water mark.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    scales = np.arange(1, LATENT + 1, dtype=np.float32) ** -0.5
    maps = [rng.standard_normal((LATENT, dim), dtype=np.float32) for dim in (TEXT_DIM, VISION_DIM)]
    sides = [[np.empty((n, dim), dtype=np.float32) for _ in noise]
             for dim, noise in ((TEXT_DIM, text_noise), (VISION_DIM, vision_noise))]
    for start in range(0, n, 1024):
        latent = rng.standard_normal((min(1024, n - start), LATENT), dtype=np.float32) * scales
        for layers, noise, mapping in zip(sides, (text_noise, vision_noise), maps):
            for layer, scale in zip(layers, noise):
                chunk = layer[start:start + len(latent)]
                np.matmul(latent, mapping, out=chunk)
                chunk += scale * rng.standard_normal(chunk.shape, dtype=np.float32)
    return sides


def correlated_spaces(n: int, seed: int = 0):
    """One layer a side, noise 0.5."""
    (x,), (y,) = correlated_layers(n, [0.5], [0.5], seed)
    return x, y


def layer_noise(count: int) -> list[float]:
    """Noise 0.4 two thirds of the way through a model's layers, rising linearly to 1.2 at its ends."""
    deepest = round(2 * (count - 1) / 3)
    return [0.4 + 0.8 * abs(layer - deepest) / max(deepest, count - 1 - deepest) for layer in range(count)]


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


def layer_breakdown(n: int, via_grams: bool) -> dict:
    """In a fresh process, with whichever synesthesia is on the path: what a layer, a pair and a best pair cost.

    Two language and two vision layers are scored in ``layer_pair_records``' order
    (vision spaces built up front, a language layer's in its loop), then the same
    four pairs again, three times, on the spaces already computed: a pair's own
    cost is its fastest (the least disturbed by other work on the machine), and a
    layer's is the time its first pair took beyond that. Half-samples and shuffled
    pairings of every metric are timed on one pair.
    """
    import numpy as np

    from synesthesia.align import normalize_rows
    from synesthesia.similarity import Comparison, Space

    text, vision = correlated_layers(n, layer_noise(LAYERS[0])[:2], layer_noise(LAYERS[1])[:2])
    data_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    route = {"via_grams": True} if via_grams else {}  # the baseline's Comparison has a single route

    def timed(work):
        start = time.perf_counter()
        result = work()
        return result, time.perf_counter() - start

    def space(rows):
        return timed(lambda: Space(normalize_rows(rows), SIMILARITY["k"], SIMILARITY["keep"]))

    def score(t: int, v: int):
        return timed(lambda: Comparison(text_spaces[t], vision_spaces[v], **route).values())

    vision_spaces, vision_builds = zip(*map(space, vision))
    text_spaces, first = [], {}
    for t, rows in enumerate(text):
        text_space, build = space(rows)
        text_spaces.append(text_space)
        for v in range(len(vision_spaces)):
            first[t, v] = score(t, v)[1] + (build if v == 0 else 0.0)
    again = {pair: min((score(*pair) for _ in range(3)), key=lambda scored: scored[1]) for pair in first}
    comparison = Comparison(text_spaces[1], vision_spaces[1], **route)
    comparison.values()
    comparison.half_samples(None, 1, seed=0)  # matches the deeper lists once, as a best pair does
    fixed = timed(lambda: comparison.half_samples(None, 0, seed=0))[1]
    some = timed(lambda: comparison.half_samples(None, BREAKDOWN_HALF_SAMPLES, seed=0))[1]
    return {"text_layer": first[1, 0] - again[1, 0][1],
            "vision_layer": vision_builds[1] + first[0, 1] - again[0, 1][1],
            "pair": float(np.mean([seconds for _, seconds in again.values()])),
            "half_samples": fixed + (some - fixed) * SIMILARITY["half_samples"] / BREAKDOWN_HALF_SAMPLES,
            "null": timed(lambda: comparison.null(None, SIMILARITY["permutations"], seed=1))[1],
            "rss_rise_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - data_rss) / 1024,
            "values": {f"{t},{v}": values for (t, v), (values, _) in again.items()}}


def all_layer_pairs(n: int, text_count: int, vision_count: int, device: str | None = None) -> dict:
    """In a fresh process: layer_pair_records on the first ``text_count`` x ``vision_count`` layers, on ``device``."""
    from synesthesia.similarity import layer_pair_records

    if device:
        import torch

        torch.ones(1, device=device).sum().item()  # the CUDA context, outside the timing

    text, vision = correlated_layers(n, layer_noise(LAYERS[0])[:text_count], layer_noise(LAYERS[1])[:vision_count])
    data_mb = sum(layer.nbytes for layer in (*text, *vision)) / 2 ** 20
    data_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    records = layer_pair_records({str(i): rows for i, rows in enumerate(text)},
                                 {str(i): rows for i, rows in enumerate(vision)}, uncertainty="best", device=device,
                                 **SIMILARITY)
    seconds = time.perf_counter() - start
    best = [record for record in records if record["selection"] == "best"]
    return {"seconds": seconds, "rss_rise_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - data_rss) / 1024,
            "data_mb": data_mb, "best_pairs": len({(r["text_layer"], r["vision_layer"]) for r in best}),
            "best": {r["metric"]: f"{r['value']:.4f} at ({r['text_layer']}, {r['vision_layer']})" for r in best},
            "best_values": {r["metric"]: r["value"] for r in best}}


def work(name: str, n: int, mode: str) -> dict:
    """A worker's measurement: ``mode`` is timed|traced for a metric, baseline|current for the layer breakdown,
    and TEXTxVISION layer counts for all_layers (TEXTxVISIONxDEVICE on a torch device)."""
    if name == "layer_breakdown":
        return layer_breakdown(n, via_grams=mode == "current")
    if name == "all_layers":
        text_count, vision_count, *device = mode.split("x")
        return all_layer_pairs(n, int(text_count), int(vision_count), *device)
    return run_one(name, n, mode == "traced")


def worker(name: str, n: int, mode: str, threads: int, path: str | None = None) -> dict:
    """``work`` in a fresh process (``path`` first on its import path), so that its memory peak is its own."""
    env = {**os.environ, **{var: str(threads) for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                          "MKL_NUM_THREADS")}}
    if path:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [path, env.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, __file__, "--worker", name, str(n), mode], capture_output=True,
                            text=True, env=env)
    if result.returncode:
        return {"error": result.stderr.strip().splitlines()[-1]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure(name: str, n: int, threads: int) -> dict:
    row = {}
    for mode in ("timed", "traced"):
        row.update(worker(name, n, mode, threads))
        if "error" in row:
            return row
    return row


def baseline_package(into: str) -> str:
    """The baseline commit's synesthesia package, extracted from git under ``into``; returns its import path."""
    root = Path(__file__).resolve().parent.parent
    archive = subprocess.run(["git", "archive", "--format=tar", BASELINE_COMMIT, "src/synesthesia"], cwd=root,
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return str(Path(into) / "src")


def layers_case(n: int, text_count: int, vision_count: int, threads: int) -> None:
    full_text, full_vision = LAYERS
    print(f"\nall layers: {full_text} language ({TEXT_DIM}-d) x {full_vision} vision ({VISION_DIM}-d) layers of {n} "
          f"concepts, float32; every metric through layer_pair_records, k={SIMILARITY['k']}, "
          f"keep={SIMILARITY['keep']}, uncertainty='best': {SIMILARITY['half_samples']} half-samples and "
          f"{SIMILARITY['permutations']} shuffled pairings on each metric's best pair", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        baseline = worker("layer_breakdown", n, "baseline", threads, baseline_package(scratch))
    current = worker("layer_breakdown", n, "current", threads)
    for row in (baseline, current):
        if "error" in row:
            print(f"layer breakdown failed: {row['error']}")
            return
    print(f"  seconds, 2 x 2 layers       {'text layer':>10} {'vision layer':>12} {'pair':>7} "
          f"{'intervals':>9} {'nulls':>6} {'RSS rise':>9}")
    for label, row in ((f"baseline {BASELINE_COMMIT[:7]}", baseline), ("this code", current)):
        print(f"  {label:27} {row['text_layer']:10.2f} {row['vision_layer']:12.2f} {row['pair']:7.3f} "
              f"{row['half_samples']:9.1f} {row['null']:6.1f} {row['rss_rise_mb']:7.0f}MB")
    print(f"  (a layer: its first pair's time beyond a pair's own; intervals: {SIMILARITY['half_samples']} "
          f"half-samples of every metric on one pair, extrapolated linearly from 0 and {BREAKDOWN_HALF_SAMPLES}; "
          f"nulls: {SIMILARITY['permutations']} shuffled pairings of every metric)")
    differences = {metric: max(abs(current["values"][pair][metric] - baseline["values"][pair][metric])
                               for pair in baseline["values"]) for metric in baseline["values"]["0,0"]}
    print("  largest |this code - baseline| over the 4 pairs: "
          + ", ".join(f"{metric} {difference:.1e}" for metric, difference in differences.items()))

    full = worker("all_layers", n, f"{text_count}x{vision_count}", threads)
    if "error" in full:
        print(f"all-layers run failed: {full['error']}")
        return
    best = full["best_pairs"]

    def model(row: dict, text_layers: int, vision_layers: int) -> tuple[float, str]:
        """Each layer once, each pair, each best pair's language layer rebuilt, each metric's interval and null once."""
        terms = [(text_layers, row["text_layer"], "language layers"),
                 (vision_layers, row["vision_layer"], "vision layers"),
                 (text_layers * vision_layers, row["pair"], "pairs"),
                 (best, row["text_layer"], "best pairs' language layers rebuilt"),
                 (1, row["half_samples"] + row["null"], "intervals and nulls")]
        return (sum(count * seconds for count, seconds, _ in terms),
                " + ".join(f"{count} x {seconds:.2f} s ({what})" for count, seconds, what in terms))

    pairs = full_text * full_vision
    baseline_total, baseline_terms = model(baseline, full_text, full_vision)
    print(f"  baseline extrapolated to {full_text} x {full_vision}: {baseline_terms} = {baseline_total:.0f} s")
    measured = full["seconds"]
    print(f"  this code, {text_count} x {vision_count} measured: {measured:.0f} s, "
          f"{measured / (text_count * vision_count):.3f} s per layer pair; RSS rise {full['rss_rise_mb']:.0f} MB "
          f"over {full['data_mb']:.0f} MB of layers; {best} distinct best pairs")
    if (text_count, vision_count) != LAYERS:
        # the layers and pairs not run, at this code's breakdown costs
        rest = ((full_text - text_count) * current["text_layer"]
                + (full_vision - vision_count) * current["vision_layer"]
                + (pairs - text_count * vision_count) * current["pair"])
        print(f"  this code extrapolated to {full_text} x {full_vision}: {measured:.0f} s measured + "
              f"{full_text - text_count} x {current['text_layer']:.2f} + {full_vision - vision_count} x "
              f"{current['vision_layer']:.2f} + {pairs - text_count * vision_count} x {current['pair']:.3f} s "
              f"(the layers and pairs not run) = {measured + rest:.0f} s")
        measured += rest
    else:
        predicted, _ = model(current, full_text, full_vision)
        print(f"  (this code's breakdown predicts {predicted:.0f} s)")
    print(f"  ratio, baseline / this code: {baseline_total / measured:.1f}x in all; "
          f"{baseline['pair'] / current['pair']:.0f}x per pair ({baseline['pair']:.2f} s / {current['pair']:.3f} s)")
    print("  best pairs: " + "; ".join(f"{metric} {where}" for metric, where in full["best"].items()))
    gpu_case(full, n, text_count, vision_count, threads)


def gpu_case(on_cpu: dict, n: int, text_count: int, vision_count: int, threads: int) -> None:
    """The all-layers run again on a CUDA device, when there is one: its time against the CPU's."""
    import torch

    if not torch.cuda.is_available():
        print("  no CUDA device: the GPU route not timed")
        return
    on_gpu = worker("all_layers", n, f"{text_count}x{vision_count}xcuda", threads)
    if "error" in on_gpu:
        print(f"  GPU run failed: {on_gpu['error']}")
        return
    gap = max(abs(on_gpu["best_values"][metric] - value) for metric, value in on_cpu["best_values"].items())
    print(f"  this code on {torch.cuda.get_device_name(0)}, {text_count} x {vision_count}: {on_gpu['seconds']:.1f} s; "
          f"ratio (cpu / gpu) {on_cpu['seconds'] / on_gpu['seconds']:.1f}x; largest |gpu - cpu| of the best values "
          f"{gap:.1e}; best pairs: " + "; ".join(f"{metric} {where}" for metric, where in on_gpu["best"].items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[6000, 20000])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cases", nargs="+", choices=["metrics", "layers"], default=["metrics", "layers"])
    parser.add_argument("--layers", type=int, nargs=2, default=list(LAYERS), metavar=("TEXT", "VISION"),
                        help="run the first TEXT x VISION layers of the all-layers case and extrapolate the rest")
    parser.add_argument("--layer-concepts", type=int, default=6000)
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(work(args.worker[0], int(args.worker[1]), args.worker[2]), default=str))
        return
    import numpy as np

    print(f"numpy {np.__version__}, {args.threads} BLAS threads, load average {os.getloadavg()[0]:.1f}, "
          f"spaces n x ({TEXT_DIM}, {VISION_DIM}) float32")
    if "metrics" in args.cases:
        metrics_case(args.sizes, args.threads)
    if "layers" in args.cases:
        layers_case(args.layer_concepts, *args.layers, args.threads)
        print(f"load average at the end {os.getloadavg()[0]:.1f}")


def metrics_case(sizes: list[int], threads: int) -> None:
    print(f"{'metric':18} {'n':>6} {'seconds':>8} {'numpy peak':>11} {'RSS rise':>9} {'data':>7}  value / vs baseline")
    baseline_seconds = {}
    smallest = min(sizes)
    for n in sizes:
        names = list(BASELINES.values()) + PROJECT + ["uncertainty"] if n == smallest else PROJECT
        for name in names:
            row = measure(name, n, threads)
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
    largest = max(sizes)
    if largest > smallest:
        print(f"dense baselines not run at {largest}: their two n x n float64 Gram matrices alone take "
              f"{2 * largest ** 2 * 8 / 2 ** 30:.1f} GiB")


if __name__ == "__main__":
    main()
