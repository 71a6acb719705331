import json

import numpy as np
import pytest

from synesthesia import similarity
from synesthesia.align import random_orthogonal
from synesthesia.resampling import draw_half_samples
from synesthesia.similarity import (
    METRICS,
    Comparison,
    Space,
    cka,
    concept_language_rows,
    cycle_knn,
    half_sample_ci,
    layer_pair_records,
    mutual_knn,
    nn_in_knn,
    shuffled_null,
    svcca,
)

# ---------------------------------------------------------------- naive n x n references


def _cosines(z):
    unit = z / np.linalg.norm(z, axis=1, keepdims=True)
    return unit @ unit.T


def _naive_neighbours(z, k):
    """Each row's k nearest other rows by a full sort of the cosine matrix, ties to the lower index."""
    sims = _cosines(z)
    return [sorted((j for j in range(len(z)) if j != i), key=lambda j: (-sims[i, j], j))[:k] for i in range(len(z))]


def _naive_mutual(x, y, k):
    nx, ny = _naive_neighbours(x, k), _naive_neighbours(y, k)
    return np.mean([len(set(a) & set(b)) / k for a, b in zip(nx, ny)])


def _naive_nn_in_knn(x, y, k):
    nx, ny = _naive_neighbours(x, k), _naive_neighbours(y, k)
    return 0.5 * (np.mean([b[0] in a for a, b in zip(nx, ny)]) + np.mean([a[0] in b for a, b in zip(nx, ny)]))


def _platonic_knn(feats, topk):
    """platonic-rep's compute_nearest_neighbors on L2-normalised rows, in numpy (stable: ties to the lower index)."""
    unit = feats / np.linalg.norm(feats, axis=1, keepdims=True)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -1e8)
    return np.argsort(-sims, axis=1, kind="stable")[:, :topk]


def _platonic_cycle_knn(feats_a, feats_b, topk):
    """platonic-rep's AlignmentMetrics.cycle_knn: compute_knn_accuracy(knn_A[knn_B]), dense, in numpy."""
    knn_a, knn_b = _platonic_knn(feats_a, topk), _platonic_knn(feats_b, topk)
    n = len(knn_a)
    return float((knn_a[knn_b] == np.arange(n)[:, None, None]).reshape(n, -1).max(axis=1).mean())


def _hsic_unbiased(K, L):
    """Huh et al.'s reference hsic_unbiased, verbatim in numpy."""
    m = len(K)
    K, L = K.copy(), L.copy()
    np.fill_diagonal(K, 0)
    np.fill_diagonal(L, 0)
    return ((K * L.T).sum() + K.sum() * L.sum() / ((m - 1) * (m - 2)) - 2 * (K @ L).sum() / (m - 2)) / (m * (m - 3))


def _naive_cka(x, y, unbiased=False):
    K, L = x @ x.T, y @ y.T  # raw features: the estimators centre (or are invariant to centring)
    if unbiased:
        return _hsic_unbiased(K, L) / np.sqrt(_hsic_unbiased(K, K) * _hsic_unbiased(L, L))
    H = np.eye(len(x)) - 1 / len(x)

    def hsic(a, b):
        return np.trace(a @ H @ b @ H)

    return hsic(K, L) / np.sqrt(hsic(K, K) * hsic(L, L))


def _naive_cknna(x, y, k):
    """Huh et al.'s reference cknna (unbiased, self excluded from the neighbours) with dense masks."""
    K, L = _cosines(x), _cosines(y)

    def mask(neighbours):
        m = np.zeros_like(K)
        for i, js in enumerate(neighbours):
            m[i, js] = 1
        return m

    mask_k, mask_l = mask(_naive_neighbours(x, k)), mask(_naive_neighbours(y, k))
    both = mask_k * mask_l
    return _hsic_unbiased(both * K, both * L) / np.sqrt(
        _hsic_unbiased(mask_k * K, mask_k * K) * _hsic_unbiased(mask_l * L, mask_l * L))


def _naive_components(z, keep):
    centred = z - z.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    if isinstance(keep, int):
        r = keep
    else:
        r = int(np.searchsorted(np.cumsum(s ** 2) / (s ** 2).sum(), keep * (1 - 1e-12))) + 1
    return centred @ vt[:r].T


def _naive_cca(a, b):
    ua = np.linalg.svd(a - a.mean(axis=0), full_matrices=False)[0]
    ub = np.linalg.svd(b - b.mean(axis=0), full_matrices=False)[0]
    return np.linalg.svd(ua.T @ ub, compute_uv=False).mean()


def _naive_svcca(x, y, keep):
    return _naive_cca(_naive_components(x, keep), _naive_components(y, keep))


def _naive(metric, x, y, k):
    return {"mutual_knn": lambda: _naive_mutual(x, y, k), "nn_in_knn": lambda: _naive_nn_in_knn(x, y, k),
            # the project's cycle_knn(x, y) is platonic-rep's cycle_knn(feats_A=y, feats_B=x)
            "cycle_knn": lambda: _platonic_cycle_knn(y, x, k),
            "cka": lambda: _naive_cka(x, y), "cka_unbiased": lambda: _naive_cka(x, y, unbiased=True),
            "cknna": lambda: _naive_cknna(x, y, k), "svcca": lambda: _naive_svcca(x, y, 0.99)}[metric]()


def _related(n=120, dx=10, dy=7, noise=1.0, seed=0):
    rng = np.random.default_rng(seed)
    shared = rng.normal(size=(n, 4))
    x = shared @ rng.normal(size=(4, dx)) + noise * rng.normal(size=(n, dx))
    y = shared @ rng.normal(size=(4, dy)) + noise * rng.normal(size=(n, dy))
    return x, y


def _compare(x, y, k=similarity.DEFAULT_K, keep=similarity.DEFAULT_KEEP):
    return Comparison(Space(x, k, keep), Space(y, k, keep))


# ---------------------------------------------------------------- known answers


def _circle(degrees):
    radians = np.radians(degrees)
    return np.stack([np.cos(radians), np.sin(radians)], axis=1)


def test_hand_example_mutual_and_nn_in_knn():
    x, y = _circle([0, 10, 30, 70]), _circle([0, 40, 50, 95])
    # nearest (k=1) by angle: X 0->1, 1->0, 2->1, 3->2; Y 0->1, 1->2, 2->1, 3->2: rows 0, 2, 3 agree
    assert mutual_knn(x, y, k=1) == pytest.approx(3 / 4)
    assert nn_in_knn(x, y, k=1) == pytest.approx(3 / 4)
    # k=2: X {1,2} {0,2} {1,0} {2,1}; Y {1,2} {2,0} {1,3} {2,1}: shares 2, 2, 1, 2 of 2
    assert mutual_knn(x, y, k=2) == pytest.approx(3.5 / 4)


def test_hand_example_cycle_knn_is_platonic_reps_with_x_as_feats_b():
    # Points on the unit circle, so cosine order is angle order (all gaps below 180 degrees).
    x, y = _circle([0, 10, 30, 70, 120]), _circle([0, 40, 50, 65, 100])
    # k nearest by angle (N1: k=1, N2: k=2):
    #   X: 0 {1} {1,2}   1 {0} {0,2}   2 {1} {1,0}   3 {2} {2,4}   4 {3} {3,2}
    #   Y: 0 {1} {1,2}   1 {2} {2,3}   2 {1} {1,3}   3 {2} {2,1}   4 {3} {3,2}
    # platonic-rep's cycle_knn(feats_A=y, feats_B=x): concept i counts if i is in N_Y(j) for some j in N_X(i).
    # k=1: 0: N_Y(1)={2} no; 1: N_Y(0)={1} yes; 2: N_Y(1)={2} yes; 3: N_Y(2)={1} no; 4: N_Y(3)={2} no -> 2/5
    assert cycle_knn(x, y, k=1) == pytest.approx(0.4)
    # k=2: 0: N_Y(1)={2,3}, N_Y(2)={1,3} no; 1: N_Y(0)={1,2} yes; 2: N_Y(1)={2,3} yes;
    #      3: N_Y(2)={1,3} yes; 4: N_Y(3)={2,1}, N_Y(2)={1,3} no -> 3/5
    assert cycle_knn(x, y, k=2) == pytest.approx(0.6)
    # Swapped (i in N_X(j) for some j in N_Y(i)), k=2: 0: N_X(1)={0,2} yes; 1: N_X(2)={1,0} yes;
    #   2: N_X(1) yes; 3: N_X(2)={1,0}, N_X(1)={0,2} no; 4: N_X(3)={2,4} yes -> 4/5: the metric is not symmetric.
    assert cycle_knn(y, x, k=2) == pytest.approx(0.8)
    # A space against itself, k=1: i counts if its nearest's nearest is i: 0->1->0 and 1->0->1 only -> 2/5
    assert cycle_knn(x, x, k=1) == pytest.approx(0.4)
    for k, expected in ((1, 0.4), (2, 0.6)):
        assert _platonic_cycle_knn(y, x, k) == pytest.approx(expected)


def test_hand_example_one_dimensional_cka_is_squared_correlation_and_svcca_the_correlation():
    x = np.array([[1.0], [2.0], [3.0], [4.0]])
    y = np.array([[1.0], [3.0], [2.0], [4.0]])
    # centred: (-1.5, -0.5, 0.5, 1.5) and (-1.5, 0.5, -0.5, 1.5): dot 4, norms^2 5 -> r = 0.8
    assert cka(x, y) == pytest.approx(0.64)
    assert svcca(x, y, keep=0.99) == pytest.approx(0.8)


@pytest.mark.parametrize("metric", list(METRICS))
def test_each_metric_matches_its_naive_computation_on_a_small_example(metric):
    x, y = _related(n=5, dx=3, dy=3, seed=1)
    values = _compare(x, y, k=2).values([metric])
    assert values[metric] == pytest.approx(_naive(metric, x, y, 2), abs=1e-10)


def test_blocked_results_equal_the_naive_full_matrices(monkeypatch):
    monkeypatch.setattr(similarity.spaces, "ROW_BLOCK", 7)
    x, y = _related(n=40, seed=2)
    values = _compare(x, y, k=5).values()
    for metric in METRICS:
        assert values[metric] == pytest.approx(_naive(metric, x, y, 5), abs=1e-10), metric


@pytest.mark.parametrize("metric", [metric for metric in METRICS if metric != "cycle_knn"])
def test_a_space_against_itself_and_a_rotated_scaled_copy_scores_one(metric):
    x, _ = _related(n=80, dx=12, seed=3)
    copy = 2.5 * x @ random_orthogonal(12, 4)
    assert _compare(x, x).values([metric])[metric] == pytest.approx(1.0, abs=1e-9)
    assert _compare(x, copy).values([metric])[metric] == pytest.approx(1.0, abs=1e-9)


def test_cycle_knn_of_a_space_with_itself_is_the_share_with_a_mutual_neighbour():
    # Not 1 in general: a concept whose k nearest all have k nearer others of their own does not count.
    x, _ = _related(n=80, dx=12, seed=3)
    copy = 2.5 * x @ random_orthogonal(12, 4)
    for k in (1, 3, 10):
        neighbours = _naive_neighbours(x, k)
        mutual = np.mean([any(i in neighbours[j] for j in neighbours[i]) for i in range(len(x))])
        assert cycle_knn(x, x, k=k) == pytest.approx(mutual, abs=1e-12)
        assert cycle_knn(x, copy, k=k) == pytest.approx(mutual, abs=1e-12)
    assert cycle_knn(x, x, k=1) < 1


def test_cycle_knn_matches_platonic_reps_dense_formula_on_all_concepts_halves_and_shuffles(monkeypatch):
    monkeypatch.setattr(similarity.spaces, "ROW_BLOCK", 13)
    n = 90
    x, y = _related(n=n, dx=12, dy=9, noise=0.8, seed=21)
    for k in (1, 4, 10):
        comparison = _compare(x, y, k=k)
        assert comparison.values(["cycle_knn"])["cycle_knn"] == pytest.approx(_platonic_cycle_knn(y, x, k), abs=1e-12)
        halves = comparison.half_samples(["cycle_knn"], count=3, seed=k)["cycle_knn"]
        for value, rows in zip(halves, draw_half_samples(n, 3, seed=k) > 0):
            # neighbours sought among the half's concepts only
            assert value == pytest.approx(_platonic_cycle_knn(y[rows], x[rows], k), abs=1e-12)
        null = comparison.null(["cycle_knn"], permutations=3, seed=k)["cycle_knn"]
        rng = np.random.default_rng(k)
        for value in null:
            assert value == pytest.approx(_platonic_cycle_knn(y[rng.permutation(n)], x, k), abs=1e-12)
    # the direction matters: at k=10 the swapped formula gives another value on these data
    assert _platonic_cycle_knn(x, y, 10) != pytest.approx(cycle_knn(x, y, k=10), abs=1e-6)


def test_cka_is_invariant_to_orthogonal_maps_and_isotropic_scaling_of_either_side():
    x, y = _related(seed=5)
    for unbiased in (False, True):
        reference = cka(x, y, unbiased=unbiased)
        assert reference < 0.99
        assert cka(3.0 * x @ random_orthogonal(10, 1), y, unbiased=unbiased) == pytest.approx(reference, abs=1e-12)
        assert cka(x, 0.2 * y @ random_orthogonal(7, 2), unbiased=unbiased) == pytest.approx(reference, abs=1e-12)


def test_integer_svcca_components_match_the_dense_solution():
    x, y = _related(n=200, dx=40, dy=30, noise=0.5, seed=6)
    # 5 of 40 components goes through the iterative solver, 20 of 30 through the dense one
    assert svcca(x, y, keep=5) == pytest.approx(_naive_svcca(x, y, 5), abs=1e-9)
    assert svcca(x, y, keep=20) == pytest.approx(_naive_svcca(x, y, 20), abs=1e-9)


def test_shuffled_pairing_gives_the_chance_level():
    n, k = 300, 10
    x, _ = _related(n=n, dx=16, seed=7)
    y = x @ random_orthogonal(16, 8) + 0.3 * np.random.default_rng(9).normal(size=(n, 16))
    null = _compare(x, y, k=k).null(permutations=30, seed=0)
    assert np.mean(null["mutual_knn"]) == pytest.approx(k / (n - 1), abs=0.01)
    assert np.mean(null["nn_in_knn"]) == pytest.approx(k / (n - 1), abs=0.015)
    # i counts if it is among the k nearest of any of k unrelated concepts: about 1 - (1 - k / (n - 1))^k
    assert np.mean(null["cycle_knn"]) == pytest.approx(1 - (1 - k / (n - 1)) ** k, abs=0.03)
    assert abs(np.mean(null["cka_unbiased"])) < 0.01
    assert abs(np.mean(null["cknna"])) < 0.05
    # Linear CKA is the RV coefficient, whose mean over all pairings is known:
    # tr(K~) tr(L~) / ((n - 1) ||K~||_F ||L~||_F) (Josse et al. 2008).
    xc, yc = x - x.mean(axis=0), y - y.mean(axis=0)
    expected = (xc ** 2).sum() * (yc ** 2).sum() / ((n - 1) * np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc))
    assert np.mean(null["cka"]) == pytest.approx(expected, rel=0.1)
    # SVCCA's chance level is that of an unrelated space of the same shape
    unrelated = np.random.default_rng(10).normal(size=(n, 16))
    assert np.mean(null["svcca"]) == pytest.approx(svcca(x, unrelated), abs=0.05)
    assert all(_compare(x, y, k=k).values()[metric] > np.max(null[metric]) for metric in METRICS)


def test_shuffled_null_relabels_without_recomputing():
    x, y = _related(n=60, seed=11)
    values = shuffled_null("mutual_knn", x, y, permutations=3, seed=4)
    first_pairing = np.random.default_rng(4).permutation(60)
    assert values[0] == pytest.approx(_naive_mutual(x, y[first_pairing], 10))


# ---------------------------------------------------------------- half-samples


def test_half_samples_are_halves_without_replacement():
    members = draw_half_samples(11, 4, seed=0)
    assert members.shape == (4, 11) and set(np.unique(members)) == {0.0, 1.0}
    assert (members.sum(axis=1) == 5).all()


def test_a_half_sample_scores_as_the_naive_metrics_on_its_rows(monkeypatch):
    monkeypatch.setattr(similarity.spaces, "ROW_BLOCK", 9)
    x, y = _related(n=50, seed=12)
    comparison = _compare(x, y, k=4)
    members = draw_half_samples(50, 2, seed=3)
    got = comparison.half_samples(count=2, seed=3)
    for i, rows in enumerate(members > 0):
        for metric in ("mutual_knn", "nn_in_knn", "cycle_knn", "cka", "cka_unbiased", "cknna"):
            assert got[metric][i] == pytest.approx(_naive(metric, x[rows], y[rows], 4), abs=1e-9), metric
        # SVCCA keeps the components fitted on all concepts
        fixed = _naive_cca(_naive_components(x, 0.99)[rows], _naive_components(y, 0.99)[rows])
        assert got["svcca"][i] == pytest.approx(fixed, abs=1e-9)


def test_interval_surrounds_the_estimate_and_narrows_with_more_concepts():
    widths = []
    for n in (100, 400):
        x, y = _related(n=n, seed=13)
        for metric in METRICS:
            low, high = half_sample_ci(metric, x, y, half_samples=40, seed=0)
            assert low <= _compare(x, y).values([metric])[metric] <= high, metric
        low, high = half_sample_ci("cka", x, y, half_samples=40, seed=0)
        widths.append(high - low)
    assert widths[1] < widths[0]


# ---------------------------------------------------------------- records and errors


def test_layer_pairs_records_every_pair_and_the_best_with_uncertainty():
    x, y = _related(n=120, seed=14)
    rng = np.random.default_rng(15)
    records = layer_pair_records({"0": rng.normal(size=(120, 10)), "1": x}, {"a": y, "b": rng.normal(size=(120, 7))},
                                 half_samples=20, permutations=5)
    assert len(records) == 4 * len(METRICS) + len(METRICS)
    best = [r for r in records if r["selection"] == "best"]
    assert {(r["text_layer"], r["vision_layer"]) for r in best} == {("1", "a")}
    for r in best:
        assert r["ci_low"] <= r["value"] <= r["ci_high"] and r["null_mean"] < r["value"]
        assert r["n_concepts"] == 120 and r["permutations"] == 5 and r["half_samples"] == 20
    others = [r for r in records if r["selection"] == "layer_pair" and r["text_layer"] == "0"]
    assert all(r["ci_low"] is None and r["null_mean"] is None for r in others)
    json.dumps(records)


def test_concept_language_rows_average_unit_alias_rows():
    language = np.array([[3.0, 4.0], [0.0, 2.0], [5.0, 0.0]])
    rows = concept_language_rows(language, [np.array([0, 1]), np.array([2])])
    np.testing.assert_allclose(rows, [[0.3, 0.9], [1.0, 0.0]], rtol=1e-6)


def test_errors_name_what_is_wrong():
    x, y = _related(n=30)
    with pytest.raises(ValueError, match="row-aligned"):
        mutual_knn(x, y[:20])
    with pytest.raises(ValueError, match="unknown similarity metrics"):
        shuffled_null("procrustes", x, y)
    with pytest.raises(ValueError, match="non-finite"):
        cka(np.where(np.eye(30, 10) > 0, np.nan, x), y)
    with pytest.raises(ValueError, match="k=10"):
        mutual_knn(x[:8], y[:8])
    with pytest.raises(ValueError, match="keep"):
        svcca(x, y, keep=1.5)


def _layered_store(path, ids, main, layers, model):
    from synesthesia.store import PartialStore

    store = PartialStore(path, ids, {"model": model}, log=lambda message: None, layers=sorted(layers))
    store.write(np.arange(len(ids)), main, layers)
    return store.finalize({"model": model, "dataset": "concepts", "revision": "r", "layer": "last"})


def test_two_multi_layer_stores_give_every_layer_pair_and_the_best_on_the_shifted_diagonal(tmp_path):
    from synesthesia.data.concepts import ConceptDictionary, write_dictionary
    from synesthesia.similarity import score_similarity

    # Four unrelated representations of 40 concepts; the vision model's layer j+1 is a rotation of the
    # language model's layer j, so the best pairs lie one off the diagonal.
    rng = np.random.default_rng(3)
    depth = [rng.normal(size=(40, 8)) for _ in range(4)]
    rotation = np.linalg.qr(rng.normal(size=(8, 8)))[0]
    concepts = [f"c{i}" for i in range(40)]
    aliases = [f"w{i}" for i in range(40)]
    text = _layered_store(tmp_path / "t.h5", aliases, depth[2], {i: depth[i] for i in (0, 1, 2)}, "txt")
    vision = _layered_store(tmp_path / "v.h5", concepts, rng.normal(size=(40, 8)),  # a head unlike any layer
                            {j: depth[j - 1] @ rotation for j in (1, 2, 3)}, "vis")
    dictionary = write_dictionary(ConceptDictionary("planted", "test", {c: [a] for c, a in zip(concepts, aliases)},
                                                    {a: {"polysemy": 1} for a in aliases}), tmp_path / "d.json")
    records = score_similarity(str(text), str(vision), str(dictionary), str(tmp_path / "out.json"),
                               {"metrics": ["mutual_knn", "cka"], "k": 5, "half_samples": 0, "permutations": 0})
    pairs = [r for r in records if r["selection"] == "layer_pair"]
    # The main vectors ("last") and three stored layers per side: 4 x 4 pairs per metric.
    assert len(pairs) == 2 * 16
    for metric in ("mutual_knn", "cka"):
        values = {(r["text_layer"], r["vision_layer"]): r["value"] for r in pairs if r["metric"] == metric}
        for text_layer in ("0", "1", "2"):
            row = {vision_layer: value for (t, vision_layer), value in values.items() if t == text_layer}
            assert max(row, key=row.get) == str(int(text_layer) + 1), (metric, text_layer, row)
            assert row[str(int(text_layer) + 1)] == pytest.approx(1.0)
        (best,) = [r for r in records if r["selection"] == "best" and r["metric"] == metric]
        assert best["value"] == pytest.approx(1.0)


# ---------------------------------------------------------------- per-pair routes for many layers


def _listed_positions(index, rows, labels):
    """Where each label stands in its row's list, by scanning the list: the reference for Neighbours.positions."""
    rows, labels = np.broadcast_arrays(rows, labels)
    return np.array([list(index[r]).index(label) if label in index[r] else -1
                     for r, label in zip(rows.ravel(), labels.ravel())]).reshape(rows.shape)


def test_neighbour_positions_are_found_by_search_as_by_scanning_the_lists():
    x, y = _related(n=120, seed=16)
    ours, theirs = Space(x, k=4).neighbours, Space(y, k=4).neighbours
    rows = np.arange(120)[:, None]
    for lists, others in ((ours, theirs), (theirs, ours)):
        # the other space's neighbours in this space's lists, and each row in the lists of its neighbours
        for query_rows, labels in ((rows, others.index), (others.index, rows)):
            expected = _listed_positions(lists.index, query_rows, labels)
            assert (expected == -1).any() and (expected >= 0).any()
            np.testing.assert_array_equal(lists.positions(query_rows, labels), expected)
    np.testing.assert_array_equal(ours.reverse, _listed_positions(ours.index, ours.index, rows))
    # a row's list never holds the row itself
    np.testing.assert_array_equal(ours.positions(rows[:, 0], rows[:, 0]), -1)


def test_scores_on_all_concepts_read_only_the_k_nearest():
    from synesthesia.similarity.metrics import KNN_METRICS, _knn_scores

    x, y = _related(n=70, seed=17)
    comparison = _compare(x, y, k=5)
    assert comparison.x.neighbours.index.shape[1] == 64 and comparison.nearest_graph.x.index.shape[1] == 5
    deep = _knn_scores(comparison.graph, np.ones(70), KNN_METRICS)
    assert comparison.values(KNN_METRICS) == deep
    permutation = np.random.default_rng(0).permutation(70)
    shuffled = _knn_scores(comparison.graph.shuffled(permutation), np.ones(70), KNN_METRICS)
    assert shuffled == _knn_scores(comparison.nearest_graph.shuffled(permutation), np.ones(70), KNN_METRICS)


@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-12), (np.float32, 2e-6)])
def test_cka_from_grams_equals_cka_from_the_cross_scatter(monkeypatch, dtype, tolerance):
    monkeypatch.setattr(similarity.spaces, "ROW_BLOCK", 23)
    x, y = _related(n=150, dx=30, dy=20, noise=0.7, seed=18)
    x, y = x.astype(dtype), y.astype(dtype)
    across = _compare(x, y)
    via_grams = Comparison(Space(x), Space(y), via_grams=True)
    metrics = ["cka", "cka_unbiased"]
    for metric in metrics:
        assert via_grams.values([metric])[metric] == pytest.approx(across.values([metric])[metric], abs=tolerance)
        naive = _naive(metric, x.astype(np.float64), y.astype(np.float64), 10)
        assert across.values([metric])[metric] == pytest.approx(naive, abs=max(tolerance, 1e-10))
    # shuffled pairings permute the held Gram's rows and columns
    null_grams = via_grams.null(metrics, permutations=4, seed=5)
    null_cross = across.null(metrics, permutations=4, seed=5)
    for metric in metrics:
        np.testing.assert_allclose(null_grams[metric], null_cross[metric], rtol=0, atol=tolerance)
    assert via_grams.x.gram.dtype == dtype and via_grams.x.gram.shape == (150, 150)


@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-12), (np.float32, 2e-6)])
def test_svcca_from_components_equals_the_whitened_cross_scatter(dtype, tolerance):
    from synesthesia.similarity.metrics import _cross_scatter, _svcca_score

    x, y = _related(n=200, dx=40, dy=30, noise=0.5, seed=19)
    x, y = x.astype(dtype), y.astype(dtype)
    comparison = _compare(x, y, keep=8)
    space_x, space_y = comparison.x, comparison.y
    rng = np.random.default_rng(6)
    for order in (None, rng.permutation(200), rng.permutation(200)):
        # the route before components: the whitening applied to the d_x x d_y cross-scatter
        whitened = space_x.whitening.T @ _cross_scatter(space_x, space_y, order) @ space_y.whitening
        expected = np.clip(np.linalg.svd(whitened, compute_uv=False), 0, 1).mean()
        assert _svcca_score(space_x, space_y, order) == pytest.approx(expected, abs=tolerance)
    # shuffled pairings: a row order leaves each side's principal components as they were
    null = comparison.null(["svcca"], permutations=3, seed=7)["svcca"]
    rng = np.random.default_rng(7)
    for value in null:
        shuffled = y[rng.permutation(200)].astype(np.float64)
        assert value == pytest.approx(_naive_svcca(x.astype(np.float64), shuffled, 8), abs=max(tolerance, 1e-10))


def test_grams_pay_off_for_many_layers_of_thousands_of_concepts_within_the_memory_budget():
    from synesthesia.similarity.metrics import grams_pay_off

    language, vision = [4096] * 33, [2048] * 25
    # 825 pairs of 6,000 concepts: 4.2e13 multiply-adds by cross-scatters, 3.8e12 by Grams (26 x 144 MB held)
    assert grams_pay_off(6000, language, vision, 4)
    # one pair: its two Grams (1.1e11) cost more than its cross-scatter (5.0e10)
    assert not grams_pay_off(6000, [4096], [2048], 4)
    # 64-d layers: cross-scatters (1.7e9) beat the Grams' 825 n^2 passes (3.8e9 with the Grams themselves)
    assert not grams_pay_off(500, [64] * 33, [64] * 25, 4)
    # cheaper but too large to hold: 26 float64 Grams (7.5 GB), or float32 ones of 20,000 concepts (42 GB)
    assert not grams_pay_off(6000, language, vision, 8)
    assert not grams_pay_off(20000, language, vision, 4)


def test_layer_pair_records_are_the_same_with_cka_from_grams(monkeypatch):
    from synesthesia.similarity import metrics, scoring

    x, y = _related(n=120, seed=20)
    rng = np.random.default_rng(21)
    text = {"0": rng.normal(size=(120, 10)), "1": x}
    vision = {"a": y, "b": y + 0.3 * rng.normal(size=(120, 7))}
    routes = []
    route_of = metrics._cross_squared
    monkeypatch.setattr(metrics, "_cross_squared",
                        lambda *args, **kwargs: routes.append(args[2]) or route_of(*args, **kwargs))
    records = {}
    for via_grams in (False, True):
        monkeypatch.setattr(scoring, "grams_pay_off", lambda *args, via_grams=via_grams: via_grams)
        records[via_grams] = layer_pair_records(text, vision, half_samples=20, permutations=5, uncertainty="all")
        # 4 pairs, then 5 shuffled pairings of each
        assert routes == [via_grams] * 24
        routes.clear()
    for across, gram in zip(records[False], records[True]):
        assert {key: value for key, value in across.items() if not isinstance(value, float)} == {
            key: value for key, value in gram.items() if not isinstance(value, float)}
        for key, value in across.items():
            if isinstance(value, float):
                assert gram[key] == pytest.approx(value, abs=1e-12), (across["metric"], key)


@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-10), (np.float32, 2e-5)])
def test_spaces_on_a_torch_device_score_as_numpy(monkeypatch, dtype, tolerance):
    """The GPU route (torch products, topk, eigh) run on the CPU: every metric, null and half-sample as numpy's."""
    monkeypatch.setattr(similarity.spaces, "ROW_BLOCK", 37)
    x, y = _related(n=130, dx=24, dy=16, noise=0.8, seed=22)
    x, y = x.astype(dtype), y.astype(dtype)
    for via_grams in (False, True):
        on_numpy = Comparison(Space(x, keep=0.9), Space(y, keep=0.9), via_grams)
        on_torch = Comparison(Space(x, keep=0.9, device="cpu"), Space(y, keep=0.9, device="cpu"), via_grams)
        assert on_torch.values() == pytest.approx(on_numpy.values(), abs=tolerance)
        draws = {"null": lambda comparison: comparison.null(permutations=6, seed=3),
                 "half_samples": lambda comparison: comparison.half_samples(count=8, seed=3)}
        for name, draw in draws.items():
            expected, found = draw(on_numpy), draw(on_torch)
            for metric in METRICS:
                np.testing.assert_allclose(found[metric], expected[metric], rtol=0, atol=tolerance,
                                           err_msg=f"{name} {metric}")
    assert not isinstance(on_torch.x.gram, np.ndarray)
    np.testing.assert_array_equal(Space(x, device="cpu").neighbours.index, Space(x).neighbours.index)
    with pytest.raises(ValueError, match="on device cpu but Y on None"):
        Comparison(Space(x, device="cpu"), Space(y, name="Y"))


def test_layer_pair_records_on_a_torch_device_are_numpys():
    x, y = _related(n=120, seed=23)
    rng = np.random.default_rng(24)
    text, vision = {"0": rng.normal(size=(120, 10)), "1": x}, {"a": y, "b": rng.normal(size=(120, 6))}
    records = {device: layer_pair_records(text, vision, half_samples=10, permutations=4, device=device)
               for device in (None, "cpu")}
    assert len(records["cpu"]) == len(records[None]) == 5 * len(METRICS)
    for on_numpy, on_torch in zip(records[None], records["cpu"]):
        assert on_torch.keys() == on_numpy.keys()
        for key, value in on_numpy.items():
            assert on_torch[key] == (pytest.approx(value, abs=1e-10) if isinstance(value, float) else value), key
