import numpy as np
import pytest
import torch

from synesthesia.align import align_concepts, concept_alignment_records, random_orthogonal, recall_at_k, split_indices
from synesthesia.ranking import best_gold_ranks, pca_basis, procrustes


def _rotated_pairs(n_concepts=300, dim=24, noise=0.05, seed=0):
    rng = np.random.default_rng(seed)
    vision = rng.normal(size=(n_concepts, dim))
    rotation = random_orthogonal(dim, seed + 1)
    gold, rows = [], []
    for i in range(n_concepts):
        aliases = 1 + i % 3
        gold.append(np.arange(len(rows), len(rows) + aliases))
        rows += [vision[i] @ rotation + noise * rng.normal(size=dim) for _ in range(aliases)]
    return vision, np.array(rows), gold


def test_best_gold_rank_hand_example():
    scores = np.array([[0.9, 0.2, 0.5, 0.7],    # gold {1, 2}: best 0.5, beaten by 0.9 and 0.7 -> 2
                       [0.1, 0.3, 0.3, 0.0],    # gold {2}: tie with candidate 1 counts against -> 1
                       [0.4, 0.4, 0.0, 0.0]])   # gold {0, 1}: both tied at the top -> 0
    gold = [np.array([1, 2]), np.array([2]), np.array([0, 1])]
    assert best_gold_ranks(lambda a, b: torch.as_tensor(scores[a:b]), 3, gold).tolist() == [2, 1, 0]


def test_procrustes_recovers_a_rotation_and_pca_matches_svd():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 8))
    rotation = random_orthogonal(8, 3)
    np.testing.assert_allclose(procrustes(torch.as_tensor(x), torch.as_tensor(x @ rotation)), rotation, atol=1e-10)
    centred = x - x.mean(axis=0)
    basis = pca_basis(torch.as_tensor(centred), 3).numpy()
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    np.testing.assert_allclose(np.abs(basis.T @ vt[:3].T), np.eye(3), atol=1e-8)
    # signs are fixed (largest entry positive), so another precision or solver gives the same basis
    assert (basis[np.abs(basis).argmax(axis=0), range(3)] > 0).all()
    single = pca_basis(torch.as_tensor(centred, dtype=torch.float32), 3).numpy()
    np.testing.assert_allclose(single, basis, atol=1e-4)


def test_planted_rotation_gives_near_perfect_precision_and_controls_give_chance():
    vision, language, gold = _rotated_pairs()
    train, test = split_indices(len(gold), 0.7, seed=0)
    ranks = align_concepts(vision, language, gold, train, test, csls_k=10, seed=0)
    assert recall_at_k(ranks["none"]["nn"], [1])[1] >= 0.99
    assert recall_at_k(ranks["none"]["csls"], [1])[1] >= 0.99
    # chance at k: about k * (mean aliases per concept) / (number of aliases)
    chance_10 = 10 * np.mean([len(g) for g in gold]) / len(language)
    for control in ("shuffled", "random_map"):
        assert recall_at_k(ranks[control]["nn"], [10])[10] == pytest.approx(chance_10, abs=0.06)


def test_unrelated_spaces_score_near_k_over_vocabulary():
    rng = np.random.default_rng(5)
    vision, language = rng.normal(size=(400, 20)), rng.normal(size=(400, 30))
    gold = [np.array([i]) for i in range(400)]
    values = []
    for split in range(4):
        train, test = split_indices(400, 0.7, seed=split)
        values.append(recall_at_k(align_concepts(vision, language, gold, train, test, 10, split)["none"]["nn"],
                                  [40])[40])
    assert np.mean(values) == pytest.approx(40 / 400, abs=0.04)


def test_csls_never_below_nearest_neighbour_when_hubs_crowd_the_candidates():
    rng = np.random.default_rng(0)
    vision = rng.normal(size=(300, 50))
    clean = vision @ random_orthogonal(50, 1)
    # hubs: aliases of no concept, each the sum of five concepts' clean vectors, so near all five
    hubs = np.array([clean[rng.choice(300, 5, replace=False)].sum(axis=0) for _ in range(30)])
    language = np.vstack([clean + 1.2 * rng.normal(size=clean.shape), hubs])
    gold = [np.array([i]) for i in range(300)]
    train, test = split_indices(300, 0.7, seed=0)
    ranks = align_concepts(vision, language, gold, train, test, csls_k=10, seed=0)["none"]
    for k in (1, 5, 10):
        assert recall_at_k(ranks["csls"], [k])[k] >= recall_at_k(ranks["nn"], [k])[k]
    assert recall_at_k(ranks["csls"], [1])[1] > recall_at_k(ranks["nn"], [1])[1]


def test_records_use_the_dictionary_and_ignore_concepts_without_rows():
    vision, language, gold = _rotated_pairs(n_concepts=60, dim=8)
    alias_ids = [f"alias{i}" for i in range(len(language))]
    dictionary = {f"syn{i}": [alias_ids[j] for j in g] for i, g in enumerate(gold)}
    dictionary["syn-without-image"] = ["alias0"]
    dictionary["syn-without-alias-rows"] = ["unknown"]
    vision_ids = [f"syn{i}" for i in range(60)] + ["syn-without-alias-rows"]
    vision = np.vstack([vision, np.zeros((1, 8))])
    records = concept_alignment_records(vision, vision_ids, language, alias_ids, dictionary, ks=[1, 5],
                                        splits=2, train_fraction=0.7, csls_k=5, seed=0)
    assert {r["n_test"] for r in records} == {18}
    assert len(records) == 2 * 3 * 2 * 2  # splits x controls x retrievals x ks
    best = [r["value"] for r in records if r["control"] == "none" and r["k"] == 1]
    assert min(best) >= 0.9


def _dictionary_records(n_concepts, ks, csls_k):
    """Records of ``n_concepts`` planted concepts (1 + i % 3 aliases each), every one in the dictionary."""
    vision, language, gold = _rotated_pairs(n_concepts=n_concepts, dim=8)
    alias_ids = [f"alias{i}" for i in range(len(language))]
    dictionary = {f"syn{i}": [alias_ids[j] for j in g] for i, g in enumerate(gold)}
    return concept_alignment_records(vision, list(dictionary), language, alias_ids, dictionary, ks=ks, splits=1,
                                     train_fraction=0.7, csls_k=csls_k, seed=0)


def test_a_precision_k_as_large_as_the_candidate_words_is_refused_naming_the_key_and_sizes():
    # 12 concepts with 1, 2, 3, 1, 2, 3, ... aliases: 24 candidate words. At k = 24 every query is a hit.
    with pytest.raises(ValueError, match=r"^config: experiments\.concepts\.ks: \[24, 100\] must be below the 24 "
                                         r"candidate words, or every query scores a hit whatever the model"):
        _dictionary_records(12, ks=[1, 24, 100], csls_k=5)
    records = _dictionary_records(12, ks=[1, 23], csls_k=5)
    assert {r["k"] for r in records} == {1, 23} and {r["n_candidates"] for r in records} == {24}


def test_a_csls_neighbourhood_larger_than_the_concepts_or_words_is_refused_naming_the_key_and_sizes():
    # A candidate's CSLS neighbourhood is among the 12 mapped concepts: 13 neighbours do not exist.
    with pytest.raises(ValueError, match=r"^config: experiments\.concepts\.csls_k: 13 neighbours asked, but there "
                                         r"are only 24 candidate words and 12 concepts; lower it"):
        _dictionary_records(12, ks=[1], csls_k=13)
    assert {r["n_test"] for r in _dictionary_records(12, ks=[1], csls_k=12)} == {4}
