"""Concept-alignment scoring of one pair at the second study's size, with its corpus-size candidate set.

Random data shaped like the study: 5,942 synsets with a 2,048-d vision row each, 7,194
dictionary aliases among 79,000 corpus words with 4,096-d language rows (the candidates,
as with `candidates: corpus`), the published folds' 4,160/1,782 split sizes, 5 splits,
NN + CSLS, the fitted map and both controls, 'project' preprocessing, CSLS k = 100.
Prints, in one run:
  1. the project's scoring (synesthesia.align.split_ranks) on the CPU, float32;
  2. the baseline, the numpy scoring the project ran before (benchmarks/align_numpy_baseline.py),
     on ``--baseline-splits`` of the same splits, and the ratio per split;
  3. how far the two agree: the share of identical ranks and the largest P@k difference;
  4. on a CUDA device, when there is one, the project's scoring there.

    .venv/bin/python benchmarks/align.py [--words 79000 --baseline-splits 5 --threads 2]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch
from align_numpy_baseline import align_concepts as baseline_align

from synesthesia import align
from synesthesia.plan import scoring_flops
from synesthesia.ranking import Placement

KS = (1, 5, 10, 30, 50, 100)


def study_shaped(synsets: int, aliases: int, words: int, text_dim: int, vision_dim: int, seed: int = 0):
    """Vision rows per synset; language rows per word, the first ``aliases`` being the dictionary's."""
    rng = np.random.default_rng(seed)
    vision = rng.standard_normal((synsets, vision_dim), dtype=np.float32)
    language = np.empty((words, text_dim), dtype=np.float32)
    for start in range(0, words, 8192):
        language[start:start + 8192] = rng.standard_normal((min(8192, words - start), text_dim), dtype=np.float32)
    owner = np.concatenate([np.arange(synsets), rng.integers(0, synsets, aliases - synsets)])
    gold = [np.flatnonzero(owner == i) for i in range(synsets)]
    return align.ConceptPairs([f"s{i}" for i in range(synsets)], vision, language, gold, np.arange(synsets))


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


def project_ranks(pairs, splits: int, csls_k: int, placement: Placement):
    if placement.device == "cuda":
        torch.cuda.synchronize()
    ranks = {split: r for split, _, _, r in align.split_ranks(pairs, splits, 0.7, csls_k, 0, placement=placement)}
    if placement.device == "cuda":
        torch.cuda.synchronize()
    return ranks


def agreement(ours: dict, theirs: dict, controls=("none", "shuffled")) -> tuple[float, float]:
    """Share of test concepts with the same rank, and the largest P@k difference, over ``controls`` and retrievals.

    The random-map control is left out by default: the baseline applies its random rotation to PCA bases whose
    signs its solver chose, synesthesia to sign-fixed ones, so the two draw different random maps.
    """
    same, gaps = [], []
    for control in controls:
        for retrieval, rank in theirs[control].items():
            same.append(float((ours[control][retrieval] == rank).mean()))
            gaps += [abs(float((ours[control][retrieval] < k).mean()) - float((rank < k).mean())) for k in KS]
    return min(same), max(gaps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synsets", type=int, default=5942)
    parser.add_argument("--aliases", type=int, default=7194)
    parser.add_argument("--words", type=int, default=79_000)
    parser.add_argument("--text-dim", type=int, default=4096)
    parser.add_argument("--vision-dim", type=int, default=2048)
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--baseline-splits", type=int, default=5, help="splits the (slow) baseline runs")
    parser.add_argument("--csls-k", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"machine: {platform.machine()}, {args.threads} threads, torch {torch.__version__}, numpy {np.__version__}")
    print(f"{args.synsets} synsets x {args.vision_dim}-d vision; {args.words} candidate words x {args.text_dim}-d "
          f"language ({args.aliases} of them aliases); {args.splits} splits, NN + CSLS (k={args.csls_k}), "
          "fitted map + shuffled + random-map controls")
    pairs = study_shaped(args.synsets, args.aliases, args.words, args.text_dim, args.vision_dim)

    ours_time, ours = timed(project_ranks, pairs, args.splits, args.csls_k, Placement("cpu"))
    flops = scoring_flops(args.synsets, args.words, args.text_dim, args.vision_dim, args.splits * len(align.CONTROLS),
                          args.splits)
    print(f"  synesthesia, cpu float32:    {ours_time:7.1f} s ({ours_time / args.splits:.1f} s per split); "
          f"{flops / 1e12:.1f} TFLOP of products by synesthesia.plan's count: {flops / ours_time / 1e9:.0f} "
          "GFLOP/s (the plan's CPU rate)")

    baseline_time = 0.0
    same, gap = 1.0, 0.0
    for split, train, test in align.concept_splits(pairs, args.baseline_splits, 0.7, 0):
        seconds, theirs = timed(baseline_align, pairs.vision, pairs.language, pairs.gold, train, test, args.csls_k,
                                split)
        baseline_time += seconds
        split_same, split_gap = agreement(ours[split], theirs)
        same, gap = min(same, split_same), max(gap, split_gap)
    per_split = baseline_time / args.baseline_splits
    print(f"  baseline (numpy, before):   {baseline_time:7.1f} s for {args.baseline_splits} splits "
          f"({per_split:.1f} s per split)")
    print(f"  ratio (baseline / synesthesia, per split): {per_split / (ours_time / args.splits):.2f}")
    # float32 products blocked differently round differently, so near-ties can swap
    print(f"  fitted map and shuffled control: same rank for at least {same:.2%} of test concepts per (split, "
          f"control, retrieval); largest P@k difference {gap:.4f}")

    if torch.cuda.is_available():
        placement = Placement("cuda")
        project_ranks(pairs, 1, args.csls_k, placement)  # warm-up: CUDA context, kernels
        gpu_time, on_gpu = timed(project_ranks, pairs, args.splits, args.csls_k, placement)
        gpu_same = min(agreement(on_gpu[split], ours[split], tuple(ours[split]))[0] for split in on_gpu)
        print(f"  synesthesia, {torch.cuda.get_device_name(0)} float32: {gpu_time:6.2f} s; same rank as the CPU for "
              f"at least {gpu_same:.2%}; ratio (baseline / gpu, per split): "
              f"{per_split / (gpu_time / args.splits):.1f}")


if __name__ == "__main__":
    main()
