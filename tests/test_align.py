import numpy as np
import pytest

from synesthesia.align import (
    mapped_retrieval,
    normalize_rows,
    recall_at_k,
    retrieval_ranks,
    retrieval_records,
    ridge_map,
    split_indices,
)


def test_ranks_of_identical_spaces_are_zero():
    x = np.random.default_rng(0).normal(size=(50, 8))
    assert (retrieval_ranks(x, x) == 0).all()


def test_ranks_match_a_hand_example():
    queries = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    candidates = np.array([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    # query 0 is closest to candidate 2 -> gold (0) ranks after candidate 2 and ties with 1: rank 2
    # query 1 ties with candidates 0 and 1 (identical): ties count against the query -> rank 1
    # query 2 is equally close to all three: rank 2
    assert retrieval_ranks(queries, candidates).tolist() == [2, 1, 2]


def test_recall_at_k_counts_ranks_below_k():
    assert recall_at_k(np.array([0, 1, 4, 9]), [1, 5, 10]) == {1: 0.25, 5: 0.75, 10: 1.0}


def test_ridge_without_penalty_recovers_a_linear_map():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 5))
    w = rng.normal(size=(5, 3))
    np.testing.assert_allclose(ridge_map(x, x @ w, alpha=0.0), w, atol=1e-8)


def test_splits_are_disjoint_seeded_and_sized():
    train, test = split_indices(100, 0.7, seed=3)
    assert len(train) == 70 and len(test) == 30 and not set(train) & set(test)
    again, _ = split_indices(100, 0.7, seed=3)
    np.testing.assert_array_equal(train, again)
    with pytest.raises(ValueError, match="train_fraction"):
        split_indices(3, 0.1, seed=0)


def test_planted_rotation_is_retrieved_and_shuffled_pairs_are_near_chance():
    rng = np.random.default_rng(2)
    vision = rng.normal(size=(400, 16))
    rotation, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    text = vision @ rotation + 0.01 * rng.normal(size=(400, 16))
    train, test = split_indices(400, 0.7, seed=0)
    ranks = mapped_retrieval(vision, text, train, test, alpha=1e-3)
    assert recall_at_k(ranks, [1])[1] == 1.0
    chance = [recall_at_k(mapped_retrieval(vision, text, train, test, 1e-3, shuffle_seed=s), [10])[10]
              for s in range(5)]
    assert abs(np.mean(chance) - 10 / len(test)) < 0.05


def test_records_are_long_format_per_split_control_and_k():
    rng = np.random.default_rng(3)
    vision = rng.normal(size=(60, 6))
    records = retrieval_records(vision @ rng.normal(size=(6, 4)), vision, ks=[1, 5], splits=2,
                                train_fraction=0.5, alpha=1.0, seed=0)
    keys = {(r["split"], r["control"], r["metric"], r["k"]) for r in records}
    assert len(keys) == len(records) == 2 * 2 * 3
    assert all(0.0 <= r["value"] for r in records)


def test_normalize_rows_gives_unit_norm_and_keeps_zero_rows_finite():
    x = normalize_rows(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(x, [[0.6, 0.8], [0.0, 0.0]])
