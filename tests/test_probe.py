import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from synesthesia.glue import accuracy
from synesthesia.probe import (
    LOGISTIC_C_GRID,
    RIDGE_ALPHA_GRID,
    fit_logistic,
    fit_ridge,
    glue_probe_records,
    select_logistic,
    select_ridge,
)


def anisotropic(n: int, dim: int, seed: int) -> np.ndarray:
    """Rows like embeddings: a decaying spectrum in a random basis plus a large common offset."""
    rng = np.random.default_rng(seed)
    rotation, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    spectrum = np.arange(1, dim + 1) ** -1.0
    return ((rng.normal(size=(n, dim)) * spectrum) @ rotation.T + 3.0 * rng.normal(size=dim)).astype(np.float32)


def planted_classes(n: int, dim: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    features = anisotropic(n, dim, seed)
    separator = np.random.default_rng(seed + 1).normal(size=(dim, classes))
    standardized = (features - features.mean(axis=0)) / features.std(axis=0)
    return features, np.argmax(standardized @ separator, axis=1)


# --- logistic probe --------------------------------------------------------------------------


def test_logistic_probe_recovers_a_planted_separator():
    features, labels = planted_classes(4000, 24, 3, seed=0)
    selection = select_logistic(features[:3000], labels[:3000])
    assert selection.probe.converged
    assert accuracy(labels[3000:], selection.probe.predict(features[3000:])) > 0.97


def test_logistic_probe_is_at_chance_on_shuffled_labels():
    # Shuffled across train and test rows alike, the labels say nothing about the features.
    features, labels = planted_classes(5000, 24, 2, seed=1)
    shuffled = np.random.default_rng(0).permutation(np.arange(5000) % 2)
    selection = select_logistic(features[:3000], shuffled[:3000])
    assert abs(accuracy(shuffled[3000:], selection.probe.predict(features[3000:])) - 0.5) < 0.05
    probe = select_logistic(features[:3000], labels[:3000]).probe
    assert accuracy(labels[3000:], probe.predict(features[3000:])) > 0.97


@pytest.mark.parametrize("classes", [2, 3])
def test_logistic_probe_agrees_with_sklearn_on_standardised_features(classes):
    features, labels = planted_classes(800, 16, classes, seed=2)
    noisy = np.where(np.random.default_rng(3).random(800) < 0.2, np.roll(labels, 1), labels)
    probe = fit_logistic(features, noisy, C=0.5)
    # scikit-learn fits float32 input in float32, about 1e-3 off the optimum: the reference gets float64.
    exact = features.astype(np.float64)
    reference = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, tol=1e-10, max_iter=10_000))
    reference.fit(exact, noisy)
    assert probe.converged
    assert np.mean(probe.predict(features) == reference.predict(exact)) >= 0.995
    np.testing.assert_allclose(probe.predict_proba(features), reference.predict_proba(exact), atol=1e-3)
    np.testing.assert_allclose(probe.coef.T, reference[-1].coef_, atol=1e-3)


def test_logistic_probe_keeps_label_values():
    features, labels = planted_classes(600, 8, 2, seed=4)
    names = np.array(["unacceptable", "acceptable"])[labels]
    probe = fit_logistic(features, names)
    assert set(probe.predict(features)) == {"acceptable", "unacceptable"}
    assert accuracy(names, probe.predict(features)) > 0.95


def test_logistic_choice_is_scored_on_the_stratified_held_out_rows_only():
    features, labels = planted_classes(1000, 12, 3, seed=5)
    seen = []

    def recording_score(y_true, y_pred):
        seen.append(np.bincount(y_true, minlength=3))
        return accuracy(y_true, y_pred)

    selection = select_logistic(features, labels, holdout_fraction=0.2, score=recording_score)
    expected_per_class = np.round(0.2 * np.bincount(labels)).astype(int)
    assert len(seen) == len(LOGISTIC_C_GRID)
    assert all((counts == expected_per_class).all() for counts in seen)
    assert selection.n_holdout == expected_per_class.sum()
    best = max(selection.holdout_scores.values())
    assert selection.regularization == min(C for C, value in selection.holdout_scores.items() if value == best)
    assert selection.probe.C == selection.regularization


def test_logistic_selection_is_deterministic_for_a_seed():
    features, labels = planted_classes(1500, 20, 3, seed=6)
    noisy = np.where(np.random.default_rng(0).random(1500) < 0.3, 0, labels)
    first = select_logistic(features, noisy, seed=7)
    second = select_logistic(features, noisy, seed=7)
    other = select_logistic(features, noisy, seed=8)
    np.testing.assert_array_equal(first.probe.coef, second.probe.coef)
    assert first.holdout_scores == second.holdout_scores
    assert first.holdout_scores != other.holdout_scores


# --- ridge probe -----------------------------------------------------------------------------


def test_ridge_probe_recovers_a_planted_linear_map():
    rng = np.random.default_rng(8)
    features = anisotropic(2000, 30, seed=8)
    mapping = rng.normal(size=(30, 4))
    targets = features.astype(np.float64) @ mapping + 0.01 * rng.normal(size=(2000, 4))
    selection = select_ridge(features[:1500], targets[:1500])
    predicted = selection.probe.predict(features[1500:])
    residual = np.sum((predicted - targets[1500:]) ** 2)
    assert 1 - residual / np.sum((targets[1500:] - targets[1500:].mean(axis=0)) ** 2) > 0.999
    np.testing.assert_allclose(selection.probe.coef / selection.probe.scale[:, None], mapping, rtol=0.02, atol=0.5)


def test_ridge_matches_sklearn_on_standardised_features():
    features = anisotropic(300, 10, seed=9)
    targets = np.random.default_rng(9).normal(size=300)
    probe = fit_ridge(features, targets, alpha=3.0)
    reference = make_pipeline(StandardScaler(), Ridge(alpha=3.0)).fit(features, targets)
    np.testing.assert_allclose(probe.coef, reference[-1].coef_, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(probe.predict(features), reference.predict(features), rtol=1e-4, atol=1e-5)


def test_ridge_chooses_the_heaviest_penalty_when_targets_are_noise():
    # 120 rows, 100 dimensions, targets unrelated to them: any fit is overfitting, so the
    # held-out rows prefer the strongest penalty of the grid.
    rng = np.random.default_rng(10)
    selection = select_ridge(rng.normal(size=(120, 100)), rng.normal(size=120))
    scores = selection.holdout_scores
    assert selection.regularization >= 1e4
    assert scores[selection.regularization] == max(scores.values())
    assert scores[selection.regularization] > scores[min(RIDGE_ALPHA_GRID)] + 0.5


# --- GLUE records ----------------------------------------------------------------------------


def test_glue_records_for_a_classification_task_are_long_format_json():
    features, labels = planted_classes(1200, 16, 2, seed=11)
    records = glue_probe_records(features[:1000], labels[:1000], {"mrpc": (features[1000:], labels[1000:])})
    assert [record["metric"] for record in records] == ["f1", "accuracy"]
    for record in records:
        assert record["task"] == "mrpc" and record["probe"] == "logistic"
        assert record["regularization_param"] == "C" and record["regularization"] in LOGISTIC_C_GRID
        assert record["n_train"] == 1000 and record["n_eval"] == 200 and record["n_holdout"] == 200
        assert record["value"] > 0.9
    assert json.loads(json.dumps(records)) == records


def test_glue_records_for_stsb_use_ridge_and_correlations():
    features = anisotropic(900, 12, seed=12)
    scores = features.astype(np.float64) @ np.random.default_rng(12).normal(size=12)
    records = glue_probe_records(features[:700], scores[:700], {"stsb": (features[700:], scores[700:])})
    assert {record["metric"]: record["probe"] for record in records} == {"pearson": "ridge", "spearman": "ridge"}
    assert all(record["regularization_param"] == "alpha" and record["value"] > 0.99 for record in records)


def test_mnli_matched_and_mismatched_share_one_probe():
    features, labels = planted_classes(1500, 16, 3, seed=13)
    records = glue_probe_records(features[:1000], labels[:1000], {
        "mnli_matched": (features[1000:1250], labels[1000:1250]),
        "mnli_mismatched": (features[1250:], labels[1250:]),
    })
    assert [record["task"] for record in records] == ["mnli_matched", "mnli_mismatched"]
    assert records[0]["regularization"] == records[1]["regularization"]


def test_glue_records_refuse_tasks_scored_differently_on_one_training_split():
    features, labels = planted_classes(300, 8, 2, seed=14)
    with pytest.raises(ValueError, match="share one training split but are scored differently"):
        glue_probe_records(features, labels, {"cola": (features, labels), "sst2": (features, labels)})


def test_glue_records_refuse_evaluation_features_of_another_width():
    features, labels = planted_classes(300, 8, 2, seed=15)
    with pytest.raises(ValueError, match="rte evaluation features have 6 dimensions, the training features 8"):
        glue_probe_records(features, labels, {"rte": (features[:, :6], labels)})


# --- refused inputs --------------------------------------------------------------------------


def test_non_finite_features_are_refused_with_the_row():
    features, labels = planted_classes(100, 4, 2, seed=16)
    features[37, 2] = np.nan
    with pytest.raises(ValueError, match="row 37 is not finite"):
        fit_logistic(features, labels)


def test_a_single_class_is_refused():
    with pytest.raises(ValueError, match="at least two classes"):
        fit_logistic(np.ones((10, 3)), np.zeros(10))


# --- the rule's entry point ------------------------------------------------------------------


def write_store(path, ids, vectors):
    import h5py

    with h5py.File(path, "w") as f:
        f.create_dataset("ids", data=np.array(ids, dtype=object), dtype=h5py.string_dtype())
        f.create_dataset("embeddings", data=vectors)
        f.attrs.update({"model": "tiny-bert", "family": "bert", "pooling": "cls", "truncated": 3, "revision": "abc123",
                        "complete": True})


def test_score_glue_probe_writes_mnli_records_for_both_evaluation_sets(tmp_path):
    from synesthesia.probe import score_glue_probe

    features, labels = planted_classes(1400, 16, 3, seed=17)
    splits = ["train"] * 1000 + ["validation_matched"] * 200 + ["validation_mismatched"] * 200
    ids = [f"{split}-{row:06d}" for row, split in enumerate(splits)]
    # The store's row order differs from the label table's: rows are matched by id.
    order = np.random.default_rng(0).permutation(1400)
    write_store(tmp_path / "tiny-bert.h5", [ids[i] for i in order], features[order])
    table = "id\tsplit\tlabel\n" + "".join(f"{i}\t{s}\t{y}\n" for i, s, y in zip(ids, splits, labels))
    (tmp_path / "labels.tsv").write_text(table)
    out = tmp_path / "mnli.json"
    records = score_glue_probe(tmp_path / "tiny-bert.h5", tmp_path / "labels.tsv", "mnli", out,
                               {"holdout_fraction": 0.2, "seed": 0})
    assert json.loads(out.read_text()) == records
    assert [(r["task"], r["metric"]) for r in records] == [("mnli_matched", "accuracy"),
                                                          ("mnli_mismatched", "accuracy")]
    assert all(r["model"] == "tiny-bert" and r["family"] == "bert" and r["truncated"] == 3 for r in records)
    assert all(r["n_train"] == 1000 and r["n_eval"] == 200 and r["value"] > 0.9 for r in records)
