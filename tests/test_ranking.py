"""The one-pass NN/CSLS ranking against a dense computation, and float32 scoring against float64."""

import numpy as np
import pytest
import torch

from synesthesia import ranking
from synesthesia.align import concept_alignment_records, random_orthogonal
from synesthesia.ranking import CandidateScores, Placement, job_placement


def _dense_ranks(mapped, candidates, test, gold, k):
    """MUSE's CSLS written out whole: 2 cos - r(query) - r(candidate), ranks with ties against the query."""
    mapped = mapped / np.linalg.norm(mapped, axis=1, keepdims=True)
    candidates = candidates / np.linalg.norm(candidates, axis=1, keepdims=True)
    cosines = mapped[test] @ candidates.T
    query_density = np.sort(cosines, axis=1)[:, -k:].mean(axis=1)
    candidate_density = np.sort(candidates @ mapped.T, axis=1)[:, -k:].mean(axis=1)
    csls = 2 * cosines - query_density[:, None] - candidate_density[None, :]
    ranks = {}
    for name, scores in (("nn", cosines), ("csls", csls)):
        best = np.array([row[gold[i]].max() for row, i in zip(scores, test)])
        others = [np.setdiff1d(np.arange(len(candidates)), gold[i]) for i in test]
        ranks[name] = np.array([(row[o] >= b).sum() for row, o, b in zip(scores, others, best)])
    return ranks


@pytest.fixture
def scored_data():
    rng = np.random.default_rng(0)
    mapped, candidates = rng.normal(size=(60, 8)), rng.normal(size=(150, 8))
    test = np.arange(40, 60)
    gold = [rng.choice(150, size=1 + i % 3, replace=False) for i in range(60)]
    return mapped, candidates, test, gold


@pytest.mark.parametrize("keep_scores", [True, False])
def test_one_pass_ranks_equal_the_dense_computation_across_blocks(scored_data, monkeypatch, keep_scores):
    mapped, candidates, test, gold = scored_data
    monkeypatch.setattr(ranking, "BLOCK_ENTRIES", 7 * 60)   # 7 candidates per density block, 2 queries per rank block
    if not keep_scores:
        monkeypatch.setattr(ranking, "KEPT_SCORE_ENTRIES", 0)
    scores = CandidateScores(torch.as_tensor(mapped), torch.as_tensor(candidates), test, csls_k=5)
    assert (scores._test_scores is not None) == keep_scores
    ranks = scores.ranks([gold[i] for i in test])
    expected = _dense_ranks(mapped, candidates, test, gold, 5)
    for name in ("nn", "csls"):
        np.testing.assert_array_equal(ranks[name], expected[name])
    # a subset of the queries with other gold gives those queries' ranks under that gold
    rows = np.array([3, 7, 8])
    other_gold = [np.array([5]), np.array([6, 7]), np.array([149])]
    subset = scores.ranks(other_gold, rows=rows)
    regold = list(gold)
    for row, g in zip(rows, other_gold):
        regold[test[row]] = g
    expected = _dense_ranks(mapped, candidates, test[rows], regold, 5)
    for name in ("nn", "csls"):
        np.testing.assert_array_equal(subset[name], expected[name])


def test_float32_scores_agree_with_float64_to_a_tie():
    """float32 vs float64 end to end (PCA, Procrustes, both controls): ranks equal but for near-ties, P@k within one
    test concept per 1,000 on the planted data (the tolerance docs/methods.md states)."""
    rng = np.random.default_rng(1)
    n, dim = 600, 48
    vision = rng.normal(size=(n, dim))
    language = np.vstack([vision @ random_orthogonal(dim, 2) + 0.8 * rng.normal(size=(n, dim)),
                          rng.normal(size=(1400, dim))])  # plus 1,400 distractor words
    language = np.hstack([language, 0.1 * rng.normal(size=(len(language), 16))])  # 64-d: the PCA path runs
    concepts = [f"c{i}" for i in range(n)]
    words = [f"w{i}" for i in range(len(language))]
    dictionary = {c: [f"w{i}"] for i, c in enumerate(concepts)}
    values = {}
    for dtype in ("float32", "float64"):
        records = concept_alignment_records(vision, concepts, language, words, dictionary, [1, 5, 10], 3, 0.7, 10,
                                            seed=0, placement=Placement(dtype=dtype))
        values[dtype] = {(r["split"], r["control"], r["retrieval"], r["k"]): r["value"] for r in records}
    assert values["float32"].keys() == values["float64"].keys()
    differences = [abs(values["float32"][key] - values["float64"][key]) for key in values["float64"]]
    assert max(differences) <= 1 / 180 + 1e-12        # at most one of the 180 test concepts moves
    assert np.mean([d == 0 for d in differences]) >= 0.9
    fitted = [values["float64"][split, "none", "csls", 10] for split in range(3)]
    assert min(fitted) > 0.5                         # the planted map is found: the comparison is not of noise


def test_the_gpu_route_run_on_the_cpu_ranks_as_the_numpy_route(monkeypatch):
    """A GPU's route (torch products, eigh, SVD and topk) taken on the CPU: the same P@k as numpy's, end to end,
    but for the eigenvectors' signs, which both fix alike; so a CUDA device's results differ by float rounding."""
    rng = np.random.default_rng(3)
    n, dim = 300, 32
    vision = rng.normal(size=(n, dim))
    language = np.vstack([vision @ random_orthogonal(dim, 4) + 0.7 * rng.normal(size=(n, dim)),
                          rng.normal(size=(500, dim))])
    language = np.hstack([language, 0.1 * rng.normal(size=(len(language), 8))])
    concepts, words = [f"c{i}" for i in range(n)], [f"w{i}" for i in range(len(language))]
    dictionary = {c: [f"w{i}"] for i, c in enumerate(concepts)}

    def scored():
        records = concept_alignment_records(vision, concepts, language, words, dictionary, [1, 5, 10], 2, 0.7, 10,
                                            seed=0, placement=Placement(dtype="float64"))
        return {(r["split"], r["control"], r["retrieval"], r["k"]): r["value"] for r in records}

    on_numpy = scored()
    monkeypatch.setattr(ranking, "_on_cpu", lambda *tensors: False)
    on_torch = scored()
    assert on_torch == pytest.approx(on_numpy, abs=1e-12)
    assert on_numpy[0, "none", "csls", 10] > 0.5 and on_numpy[0, "random_map", "csls", 10] < 0.2


def test_the_job_placement_is_the_cpu_unless_the_workflow_gave_the_job_a_gpu(monkeypatch):
    monkeypatch.delenv(ranking.DEVICE_ENV, raising=False)
    assert job_placement() == Placement("cpu", "float32")
    monkeypatch.setenv(ranking.DEVICE_ENV, "cpu")
    assert job_placement().device == "cpu"
    with pytest.raises(ValueError, match=r"config: scoring\.device: 'tpu'"):
        job_placement("tpu")
    if not torch.cuda.is_available():
        monkeypatch.setenv(ranking.DEVICE_ENV, "cuda")
        with pytest.raises(RuntimeError, match="holds a GPU .* but sees no CUDA device"):
            job_placement()


def test_scoring_jobs_reserve_a_gpu_only_where_the_run_has_one():
    assert ranking.scoring_gpus("auto", None) == 0
    assert ranking.scoring_gpus("auto", 2) == 1          # --resources gpu=2
    assert ranking.scoring_gpus("cpu", 4) == 0
    assert ranking.scoring_gpus("cuda", None) == 1       # e.g. SLURM, to the GPU partition
