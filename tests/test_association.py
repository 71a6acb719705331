"""Zero-shot colour and shape association: the shipped word list and accuracy on hand-made vectors."""

import numpy as np
import pytest

from synesthesia.association import (
    association_candidates,
    association_items,
    association_records,
    association_table,
    association_texts,
)
from synesthesia.data.tables import read_table


def _planted_vectors(wrong: set[str] = frozenset()) -> dict[str, np.ndarray]:
    """One axis per candidate; each word sits on its expected candidate's axis (or, if
    in ``wrong``, on the task's first other candidate's), plus a small shared offset."""
    items = association_items()
    candidates = association_candidates(items)
    axes = {candidate: i for i, candidate in enumerate(c for task in candidates.values() for c in task)}
    dim = len(axes)
    vectors = {candidate: np.eye(dim)[i] for candidate, i in axes.items()}
    for task, word, expected in items[["task", "word", "expected"]].itertuples(index=False):
        target = next(c for c in candidates[task] if c != expected) if word in wrong else expected
        vectors[word] = 3.0 * np.eye(dim)[axes[target]] + 0.1
    return vectors


def test_word_list_has_the_documented_tasks_and_sizes():
    items = association_items()
    candidates = association_candidates(items)
    assert set(candidates) == {"colour_association", "shape_association"}
    assert len(candidates["colour_association"]) == 11  # Berlin and Kay's basic colour terms
    assert 30 <= (items["task"] == "colour_association").sum() <= 35
    assert 12 <= (items["task"] == "shape_association").sum() <= 16
    assert not items.duplicated(["task", "word"]).any()
    colour_items = items[items["task"] == "colour_association"].set_index("word")["expected"]
    assert colour_items["banana"] == "yellow" and colour_items["sky"] == "blue" and colour_items["blood"] == "red"
    # No object word names or contains one of its task's candidates (that would give the answer away).
    for task, group in items.groupby("task"):
        assert not [w for w in group["word"] for c in candidates[task] if c in w]


def test_texts_cover_words_and_candidates_once_and_make_a_text_table(tmp_path):
    texts = association_texts()
    assert len(texts) == len(set(texts))
    assert {"banana", "yellow", "ball", "circle"} <= set(texts)
    table = read_table(association_table(tmp_path))
    assert table["id"].tolist() == texts and table["text"].tolist() == texts


def test_planted_answers_score_one_and_planted_mistakes_lower_the_accuracy():
    records = {r["task"]: r for r in association_records(_planted_vectors())}
    assert records["colour_association"]["value"] == 1.0 and records["shape_association"]["value"] == 1.0
    assert records["colour_association"]["chance"] == pytest.approx(1 / 11)
    assert records["shape_association"]["chance"] == pytest.approx(1 / 4)

    records = {r["task"]: r for r in association_records(_planted_vectors(wrong={"banana", "sky", "ball"}))}
    n_colour = records["colour_association"]["n_items"]
    assert records["colour_association"]["value"] == pytest.approx((n_colour - 2) / n_colour)
    n_shape = records["shape_association"]["n_items"]
    assert records["shape_association"]["value"] == pytest.approx((n_shape - 1) / n_shape)


def test_nearest_is_by_cosine_not_by_distance():
    vectors = _planted_vectors()
    # Far from "yellow" in distance, but pointing the same way: still yellow.
    vectors["banana"] = 100.0 * vectors["yellow"] + 0.01 * vectors["red"]
    records = {r["task"]: r for r in association_records(vectors)}
    assert records["colour_association"]["value"] == 1.0


def test_missing_and_degenerate_vectors_are_refused_by_name():
    vectors = _planted_vectors()
    del vectors["banana"]
    with pytest.raises(KeyError, match="banana.*association_texts"):
        association_records(vectors)
    vectors = _planted_vectors()
    vectors["sky"] = np.zeros_like(vectors["sky"])
    with pytest.raises(ValueError, match="sky"):
        association_records(vectors)
