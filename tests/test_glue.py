"""GLUE's task table, its metrics, task scores and the GLUE average."""

import math
import warnings

import numpy as np
import pytest

from synesthesia.glue import (
    EVALUATION_SETS,
    HUB_TASKS,
    accuracy,
    f1,
    glue_average,
    glue_task,
    hub_task,
    matthews,
    pearson,
    spearman,
)

# --- metrics ---------------------------------------------------------------------------------


def test_matthews_of_a_hand_computed_confusion_matrix():
    # TP=5, TN=3, FP=1, FN=2: (5*3 - 1*2) / sqrt(6 * 7 * 4 * 5)
    y_true = np.array([1] * 5 + [0] * 3 + [0] * 1 + [1] * 2)
    y_pred = np.array([1] * 5 + [0] * 3 + [1] * 1 + [0] * 2)
    assert matthews(y_true, y_pred) == pytest.approx(13 / math.sqrt(840))
    assert matthews(y_true, y_true) == pytest.approx(1.0)
    assert matthews(y_true, 1 - y_true) == pytest.approx(-1.0)


def test_matthews_of_a_hand_computed_three_class_confusion_matrix():
    # Gorodkin: correct c=4 of s=6, true counts t=(2, 2, 2), predicted p=(2, 3, 1):
    # (c s - p.t) / sqrt((s^2 - p.p) (s^2 - t.t)) = (24 - 12) / sqrt(22 * 24)
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 0])
    assert matthews(y_true, y_pred) == pytest.approx(12 / math.sqrt(528))


def test_f1_and_accuracy_of_a_hand_example():
    # TP=5, FP=1, FN=2, TN=3: F1 = 2*5 / (2*5 + 1 + 2), accuracy = 8/11
    y_true = np.array([1] * 5 + [0] * 1 + [1] * 2 + [0] * 3)
    y_pred = np.array([1] * 5 + [1] * 1 + [0] * 2 + [0] * 3)
    assert f1(y_true, y_pred) == pytest.approx(10 / 13)
    # The other class as positive: TP=3, FP=2, FN=1.
    assert f1(y_true, y_pred, positive=0) == pytest.approx(6 / 9)
    assert accuracy(y_true, y_pred) == pytest.approx(8 / 11)
    assert f1(np.zeros(4), np.zeros(4)) == 0.0


def test_pearson_and_spearman_of_hand_examples():
    # centred x = (-1, 0, 1), y = (-4/3, -1/3, 5/3): r = 3 / (sqrt(2) * sqrt(42) / 3)
    assert pearson([1, 2, 3], [1, 2, 4]) == pytest.approx(9 / math.sqrt(84))
    # ranks with a tie: x -> (1, 2.5, 2.5, 4), y -> (1, 3, 2, 4): rho = 4.5 / sqrt(4.5 * 5)
    assert spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(4.5 / math.sqrt(22.5))
    # ranks (1, 2, 3) and (3, 1, 2): centred (-1, 0, 1) and (1, -1, 0), rho = -1 / 2
    assert spearman([10, 20, 30], [0.9, 0.1, 0.5]) == pytest.approx(-0.5)


def test_degenerate_inputs_give_the_undefined_value_without_a_warning():
    # A constant side leaves the correlations undefined: Matthews' is 0 (scikit-learn's
    # convention, and what a chance-level classifier scores), Pearson's and Spearman's NaN,
    # which a probe's regularisation choice ranks below every number.
    y = np.array([0, 1, 1, 0, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert matthews(y, np.zeros_like(y)) == 0.0
        assert matthews(np.ones_like(y), y) == 0.0
        assert matthews(np.zeros_like(y), np.zeros_like(y)) == 0.0
        for correlation in (pearson, spearman):
            assert math.isnan(correlation([1, 1, 1], [1, 2, 3]))
            assert math.isnan(correlation([1, 2, 3], [2.5, 2.5, 2.5]))
            # Constant but not exactly representable: its computed mean differs from the values.
            assert math.isnan(correlation([0.1, 0.1, 0.1], [1, 2, 3]))
            assert math.isnan(correlation([7.0], [3.0]))
            assert math.isnan(correlation([1, np.nan, 3, 4], [1, 2, 3, 5]))


def test_metrics_refuse_arrays_of_different_lengths_or_none():
    with pytest.raises(ValueError, match="lengths 3 and 2"):
        accuracy([1, 0, 1], [1, 0])
    with pytest.raises(ValueError, match="lengths 0 and 0"):
        pearson([], [])


# --- tasks and evaluation sets ---------------------------------------------------------------


def test_the_nine_tasks_with_their_columns_classes_and_metrics():
    assert list(HUB_TASKS) == ["cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte", "wnli"]
    assert hub_task("cola").metrics == ("matthews",)
    assert hub_task("mrpc").metrics == hub_task("qqp").metrics == ("f1", "accuracy")
    assert hub_task("stsb").metrics == ("pearson", "spearman") and hub_task("stsb").is_regression
    assert [task.name for task in HUB_TASKS.values() if task.is_regression] == ["stsb"]
    for name in ("sst2", "mnli", "qnli", "rte", "wnli"):
        assert hub_task(name).metrics == ("accuracy",)
    assert hub_task("mnli").label_names == ("entailment", "neutral", "contradiction")
    assert hub_task("mnli").text_columns == ("premise", "hypothesis")
    assert [name for name, task in HUB_TASKS.items() if len(task.text_columns) == 1] == ["cola", "sst2"]


def test_evaluation_sets_their_splits_tasks_and_labels():
    assert list(EVALUATION_SETS) == ["cola", "sst2", "mrpc", "stsb", "qqp", "mnli_matched", "mnli_mismatched",
                                     "qnli", "rte", "wnli"]
    assert hub_task("sst2").evaluation_splits == {"sst2": "validation"}
    assert hub_task("mnli").evaluation_splits == {"mnli_matched": "validation_matched",
                                                  "mnli_mismatched": "validation_mismatched"}
    assert glue_task("mnli_mismatched") is hub_task("mnli") and glue_task("rte") is hub_task("rte")
    assert [EVALUATION_SETS[name].label for name in ("sst2", "stsb", "mnli_matched", "mnli_mismatched")] == [
        "SST-2", "STS-B", "MNLI-m", "MNLI-mm"]


def test_unknown_names_are_refused_with_the_known_ones():
    # An evaluation set is not a task: MNLI is scored as its matched and mismatched sets.
    with pytest.raises(ValueError, match="unknown GLUE task 'mnli'.*mnli_matched"):
        glue_task("mnli")
    with pytest.raises(ValueError, match="unknown GLUE task 'mnli_matched'; known tasks: cola, sst2.*mnli, qnli"):
        hub_task("mnli_matched")


# --- task scores and the GLUE average --------------------------------------------------------


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


def test_a_task_evaluates_its_own_metrics():
    y_true, y_pred = np.array([1, 1, 0, 0, 1]), np.array([1, 0, 0, 1, 1])
    assert hub_task("mrpc").evaluate(y_true, y_pred) == {"f1": pytest.approx(2 / 3), "accuracy": pytest.approx(0.6)}
    assert hub_task("mrpc").score({"f1": 0.5, "accuracy": 0.7}) == pytest.approx(0.6)
