"""Concept-alignment scoring at the second study's size: the project's blocked scoring vs a per-query loop.

Random data shaped like the study (5,942 synsets, 7,194 aliases, a 4,096-d language
model, a 2,048-d vision model). Prints:
  1. the retrieval stage (NN + CSLS ranks of all test concepts among all aliases) by
     the project (blocked matrix products) and by a straightforward per-query loop,
     on the same mapped vectors, their ratio, and how far their ranks and P@k agree;
  2. the end-to-end time of scoring one pair (PCA + Procrustes + NN + CSLS, 5 splits),
     for the map alone and with both controls, and the peak memory of numpy buffers.

    .venv/bin/python benchmarks/align.py [--synsets 5942 --aliases 7194 --text-dim 4096 --vision-dim 2048]
"""

from __future__ import annotations

import argparse
import platform
import time
import tracemalloc

import numpy as np

from synesthesia import align


def study_shaped(synsets: int, aliases: int, text_dim: int, vision_dim: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    vision = rng.normal(size=(synsets, vision_dim)).astype(np.float32)
    language = rng.normal(size=(aliases, text_dim)).astype(np.float32)
    owner = np.concatenate([np.arange(synsets), rng.integers(0, synsets, aliases - synsets)])
    gold = [np.flatnonzero(owner == i) for i in range(synsets)]
    return vision, language, gold


def reference_ranks(mapped, candidates, gold, test, k):
    """One query at a time: full sort of every score row, CSLS densities by sorting too."""
    def top_k_mean(row):
        return np.sort(row)[-k:].mean()

    query_density = np.array([top_k_mean(candidates @ mapped[i]) for i in test])
    candidate_density = np.array([top_k_mean(mapped @ c) for c in candidates])
    ranks = {"nn": [], "csls": []}
    for position, i in enumerate(test):
        cosines = candidates @ mapped[i]
        csls = 2 * cosines - query_density[position] - candidate_density
        for name, scores in (("nn", cosines), ("csls", csls)):
            order = np.argsort(-scores, kind="stable")
            best = scores[gold[i]].max()
            others = np.setdiff1d(np.arange(len(scores)), gold[i])
            ranks[name].append(int((scores[others] >= best).sum()))
            del order
    return {name: np.array(values) for name, values in ranks.items()}


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synsets", type=int, default=5942)
    parser.add_argument("--aliases", type=int, default=7194)
    parser.add_argument("--text-dim", type=int, default=4096)
    parser.add_argument("--vision-dim", type=int, default=2048)
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--csls-k", type=int, default=100)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, numpy {np.__version__}")
    print(f"{args.synsets} synsets x {args.vision_dim}-d vision, {args.aliases} aliases x {args.text_dim}-d language")
    vision, language, gold = study_shaped(args.synsets, args.aliases, args.text_dim, args.vision_dim)

    train, test = align.split_indices(args.synsets, 0.7, seed=0)
    vision_z, language_z = align.shared_spaces(vision, language, gold, train)
    source_rows, target_rows = align.training_pairs(gold, train)
    mapped = vision_z @ align.procrustes(vision_z[source_rows], language_z[target_rows])
    project_time, project = timed(align.rank_aliases, mapped, language_z, gold, test, args.csls_k)
    reference_time, reference = timed(reference_ranks, mapped, language_z, gold, test, args.csls_k)
    # float32 block products and per-query products round differently, so near-ties can swap
    agreement = min(float((project[name] == reference[name]).mean()) for name in project)
    precision = {name: [(float((ranks < k).mean()), float((reference[name] < k).mean())) for k in (1, 10, 100)]
                 for name, ranks in project.items()}
    print(f"retrieval stage, {len(test)} test concepts, NN + CSLS:")
    print(f"  per-query loop (reference): {reference_time:7.2f} s")
    print(f"  synesthesia rank_aliases:   {project_time:7.2f} s")
    print(f"  ratio (reference / synesthesia): {reference_time / project_time:.1f}; "
          f"same rank for {agreement:.2%} of test concepts")
    for name, pairs in precision.items():
        print(f"  {name} P@1/10/100 synesthesia vs reference: "
              + ", ".join(f"{ours:.4f}/{theirs:.4f}" for ours, theirs in pairs))

    names = [f"s{i}" for i in range(args.synsets)]
    alias_ids = [f"a{i}" for i in range(args.aliases)]
    dictionary = {names[i]: [alias_ids[j] for j in g] for i, g in enumerate(gold)}
    tracemalloc.start()
    total, _ = timed(align.concept_alignment_records, vision, names, language, alias_ids, dictionary,
                     [1, 5, 10, 30, 50, 100], args.splits, 0.7, args.csls_k, 0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    start = time.perf_counter()
    for split in range(args.splits):
        train, test = align.split_indices(args.synsets, 0.7, seed=split)
        vision_z, language_z = align.shared_spaces(vision, language, gold, train)
        source_rows, target_rows = align.training_pairs(gold, train)
        align.rank_aliases(vision_z @ align.procrustes(vision_z[source_rows], language_z[target_rows]),
                           language_z, gold, test, args.csls_k)
    map_only = time.perf_counter() - start
    print(f"one pair end to end, {args.splits} splits, PCA + Procrustes + NN + CSLS:")
    print(f"  the map alone:              {map_only:7.2f} s")
    print(f"  with both controls (as run): {total:7.2f} s, peak numpy memory {peak / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
