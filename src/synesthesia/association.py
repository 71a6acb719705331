"""Zero-shot visual association of words: is "banana" nearest to "yellow", "ball" to "circle"?

The word list ships with the package (``data/association_words.tsv``; its header
says where the expected answers come from). Each task's candidates are its distinct
expected answers: the basic colour terms, a few plane shapes. An item is right when
its word's vector is nearer (by cosine) to the expected candidate's vector than to
every other candidate's. Words are embedded on their own, as a plain text table
(:func:`association_table`), so every text encoder is asked the same thing.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from .data.tables import write_text_table
from .records import write_records

WORDS_FILE = "association_words.tsv"


def association_items() -> pd.DataFrame:
    """The shipped word list: ``task``, ``word``, ``expected``."""
    with resources.files("synesthesia.data").joinpath(WORDS_FILE).open(encoding="utf-8") as handle:
        return pd.read_csv(handle, sep="\t", comment="#", dtype=str, keep_default_na=False)


def association_candidates(items: pd.DataFrame) -> dict[str, list[str]]:
    """Each task's candidate answers, in order of first appearance."""
    return {task: list(dict.fromkeys(group["expected"])) for task, group in items.groupby("task", sort=False)}


def association_texts() -> list[str]:
    """Every word to embed: the object words and the candidates, each once."""
    items = association_items()
    return list(dict.fromkeys([*items["word"], *items["expected"]]))


def association_table(out_dir: str | Path) -> Path:
    """The words as a text table (id = text = the word), for the embedding rule."""
    return write_text_table(out_dir, [(word, word) for word in association_texts()])


def _unit_rows(words: list[str], word_vectors: Mapping[str, np.ndarray]) -> np.ndarray:
    matrix = np.stack([np.asarray(word_vectors[word], dtype=np.float64) for word in words])
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    bad = [word for word, norm in zip(words, norms[:, 0]) if not np.isfinite(norm) or norm == 0]
    if bad:
        raise ValueError(f"words {bad} have a zero or non-finite vector; cosine similarity is undefined")
    return matrix / norms


def association_predictions(word_vectors: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """One row per item: ``task``, ``word``, ``expected``, ``predicted`` (the nearest candidate), ``correct``."""
    missing = [word for word in association_texts() if word not in word_vectors]
    if missing:
        raise KeyError(f"no vector for {len(missing)} association words, e.g. {missing[:5]}; "
                       "embed every word of association_texts()")
    items = association_items()
    predicted: dict[int, str] = {}
    for task, candidates in association_candidates(items).items():
        task_items = items[items["task"] == task]
        similarity = _unit_rows(task_items["word"].tolist(), word_vectors) @ _unit_rows(candidates, word_vectors).T
        predicted.update(zip(task_items.index, (candidates[i] for i in similarity.argmax(axis=1))))
    items["predicted"] = pd.Series(predicted)
    items["correct"] = items["predicted"] == items["expected"]
    return items


def association_records(word_vectors: Mapping[str, np.ndarray]) -> list[dict]:
    """Accuracy per task in long format, with the chance level (one over the number of candidates)."""
    predictions = association_predictions(word_vectors)
    candidates = association_candidates(predictions)
    return [{"task": task, "metric": "accuracy", "value": float(group["correct"].mean()),
             "chance": 1 / len(candidates[task]), "n_items": int(len(group))}
            for task, group in predictions.groupby("task", sort=False)]


def score_association(embeddings_path: str | Path, out: str | Path) -> list[dict]:
    """Colour and shape association accuracy of one model's word embeddings, as long-format JSON."""
    from .store import read_embeddings

    stored = read_embeddings(embeddings_path)
    return write_records(out, stored.identity(), association_records(dict(zip(stored.ids, stored.vectors))))
