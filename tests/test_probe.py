import json
import math

import numpy as np
import pytest
from scipy import stats
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import f1_score, matthews_corrcoef
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from synesthesia.probe import (
    GLUE_TASKS,
    LOGISTIC_C_GRID,
    RIDGE_ALPHA_GRID,
    accuracy,
    f1,
    fit_logistic,
    fit_ridge,
    glue_average,
    glue_probe_records,
    glue_task,
    matthews,
    pearson,
    select_logistic,
    select_ridge,
    spearman,
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


# --- metrics ---------------------------------------------------------------------------------


def test_matthews_of_a_hand_computed_confusion_matrix():
    # TP=5, TN=3, FP=1, FN=2: (5*3 - 1*2) / sqrt(6 * 7 * 4 * 5)
    y_true = np.array([1] * 5 + [0] * 3 + [0] * 1 + [1] * 2)
    y_pred = np.array([1] * 5 + [0] * 3 + [1] * 1 + [0] * 2)
    assert matthews(y_true, y_pred) == pytest.approx(13 / math.sqrt(840))
    assert matthews(y_true, y_true) == pytest.approx(1.0)
    assert matthews(y_true, 1 - y_true) == pytest.approx(-1.0)


def test_matthews_is_zero_for_constant_predictions_and_matches_sklearn_for_three_classes():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 3, 200), rng.integers(0, 3, 200)
    y_pred[:120] = y_true[:120]
    assert matthews(y_true, y_pred) == pytest.approx(matthews_corrcoef(y_true, y_pred))
    assert matthews(y_true, np.zeros_like(y_true)) == 0.0


def test_f1_and_accuracy_of_a_hand_example():
    # TP=5, FP=1, FN=2, TN=3: F1 = 2*5 / (2*5 + 1 + 2), accuracy = 8/11
    y_true = np.array([1] * 5 + [0] * 1 + [1] * 2 + [0] * 3)
    y_pred = np.array([1] * 5 + [1] * 1 + [0] * 2 + [0] * 3)
    assert f1(y_true, y_pred) == pytest.approx(10 / 13)
    assert f1(y_true, y_pred) == pytest.approx(f1_score(y_true, y_pred))
    assert accuracy(y_true, y_pred) == pytest.approx(8 / 11)
    assert f1(np.zeros(4), np.zeros(4)) == 0.0


def test_pearson_and_spearman_of_hand_examples():
    # centred x = (-1, 0, 1), y = (-4/3, -1/3, 5/3): r = 3 / (sqrt(2) * sqrt(42) / 3)
    assert pearson([1, 2, 3], [1, 2, 4]) == pytest.approx(9 / math.sqrt(84))
    # ranks with a tie: x -> (1, 2.5, 2.5, 4), y -> (1, 3, 2, 4): rho = 4.5 / sqrt(4.5 * 5)
    assert spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(4.5 / math.sqrt(22.5))
    assert math.isnan(pearson([1, 1, 1], [1, 2, 3]))


def test_correlations_match_scipy_with_ties():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 6, 300).astype(float)
    y = x + rng.normal(size=300)
    assert pearson(x, y) == pytest.approx(stats.pearsonr(x, y)[0])
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y)[0])


def test_metrics_refuse_arrays_of_different_lengths():
    with pytest.raises(ValueError, match="lengths 3 and 2"):
        accuracy([1, 0, 1], [1, 0])


# --- GLUE tasks and average -----------------------------------------------------------------


def test_glue_tasks_have_glue_metrics():
    assert set(GLUE_TASKS) == {"cola", "sst2", "mrpc", "stsb", "qqp", "mnli_matched", "mnli_mismatched",
                               "qnli", "rte", "wnli"}
    assert glue_task("cola").metrics == ("matthews",)
    assert glue_task("mrpc").metrics == glue_task("qqp").metrics == ("f1", "accuracy")
    assert glue_task("stsb").metrics == ("pearson", "spearman") and glue_task("stsb").is_regression
    regression = [name for name, task in GLUE_TASKS.items() if task.is_regression]
    assert regression == ["stsb"]
    for name in ("sst2", "mnli_matched", "mnli_mismatched", "qnli", "rte", "wnli"):
        assert glue_task(name).metrics == ("accuracy",)


def test_unknown_glue_task_is_refused_with_the_known_names():
    with pytest.raises(ValueError, match="unknown GLUE task 'mnli'.*mnli_matched"):
        glue_task("mnli")


def test_glue_average_averages_metrics_within_a_task_then_tasks():
    scores = {"cola": {"matthews": 0.5}, "mrpc": {"f1": 0.9, "accuracy": 0.8}, "stsb": {"pearson": 0.7,
                                                                                      "spearman": 0.5}}
    assert glue_average(scores) == pytest.approx((0.5 + 0.85 + 0.6) / 3)


def test_glue_average_reproduces_bert_large_leaderboard_score():
    # BERT-large's GLUE test entries; its paper reports a GLUE score of 80.5. MNLI counts once.
    scores = {
        "cola": {"matthews": 60.5}, "sst2": {"accuracy": 94.9}, "mrpc": {"f1": 89.3, "accuracy": 85.4},
        "stsb": {"pearson": 87.6, "spearman": 86.5}, "qqp": {"f1": 72.1, "accuracy": 89.3},
        "mnli_matched": {"accuracy": 86.7}, "mnli_mismatched": {"accuracy": 85.9}, "qnli": {"accuracy": 92.7},
        "rte": {"accuracy": 70.1}, "wnli": {"accuracy": 65.1},
    }
    assert round(glue_average(scores), 1) == 80.5


def test_glue_average_names_a_missing_metric():
    with pytest.raises(ValueError, match=r"mrpc needs metrics \['f1', 'accuracy'\]; missing \['f1'\]"):
        glue_average({"mrpc": {"accuracy": 0.8}})


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
    assert accuracy(labels[3000:], select_logistic(features[:3000], labels[:3000]).probe.predict(features[3000:])) > 0.97


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
