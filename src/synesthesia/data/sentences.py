"""Sentences that contain each alias of a concept dictionary, for word embeddings in context.

Real runs read a corpus of (word, sentence) pairs (the study's ``jaagli/common-words-79k``
on the hub, or a local TSV); the demo writes template sentences. Each alias keeps at
most ``per_alias`` sentences of at most ``max_words`` words in which it occurs as
whole words (case-insensitive); multiword aliases are written with spaces
(``lime_juice`` -> ``lime juice``).
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from pathlib import Path
from typing import Iterable, Mapping

from .tables import write_text_table

log = logging.getLogger(__name__)

TEMPLATES = (
    "there is a {} in this picture .",
    "i saw a {} yesterday .",
    "the {} was next to the door .",
    "she pointed at the {} and smiled .",
    "a {} can be found here .",
    "we talked about the {} for a while .",
    "he drew a {} on the page .",
    "nobody noticed the {} at first .",
)


def surface_form(alias: str) -> str:
    return alias.replace("_", " ")


def find_word(sentence: str, alias: str) -> tuple[int, int] | None:
    """Character span of the first whole-word occurrence of ``alias`` in ``sentence``."""
    pattern = r"(?<!\w)" + r"\s+".join(re.escape(part) for part in surface_form(alias).split()) + r"(?!\w)"
    match = re.search(pattern, sentence, flags=re.IGNORECASE)
    return (match.start(), match.end()) if match else None


def select_sentences(alias: str, candidates: Iterable[str], per_alias: int, max_words: int):
    """Up to ``per_alias`` (sentence, start, end) of at most ``max_words`` words containing the alias."""
    chosen = []
    for sentence in candidates:
        if len(sentence.split()) > max_words:
            continue
        span = find_word(sentence, alias)
        if span:
            chosen.append((sentence, *span))
            if len(chosen) == per_alias:
                break
    return chosen


def template_corpus(aliases: Iterable[str], per_alias: int) -> dict[str, list[str]]:
    return {alias: [t.format(surface_form(alias)) for t in TEMPLATES[:per_alias]] for alias in aliases}


def corpus_from_tsv(path: str | Path, word_column: str, sentence_column: str) -> dict[str, list[str]]:
    import pandas as pd

    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    return _group(table[word_column], table[sentence_column], str(path), table.columns)


def corpus_from_hub(dataset_id: str, split: str, word_column: str, sentence_column: str,
                    revision: str | None = None) -> dict[str, list[str]]:
    """A hub dataset (or local dataset folder) of word and sentence columns; a list of sentences per row is fine."""
    from .hub import load_hub_dataset

    data = load_hub_dataset(dataset_id, split=split, revision=revision)
    return _group(data[word_column], data[sentence_column], dataset_id, data.column_names)


def _group(words, sentences, where: str, columns) -> dict[str, list[str]]:
    corpus = defaultdict(list)
    for word, sentence in zip(words, sentences):
        corpus[str(word).lower()].extend(sentence if isinstance(sentence, list) else [sentence])
    if not corpus:
        raise ValueError(f"{where}: no sentences (columns are {list(columns)})")
    return corpus


def word_table(out_dir: str | Path, aliases: Iterable[str], corpus: Mapping[str, list[str]],
               per_alias: int, max_words: int) -> Path:
    """The text table of words in context: one row per (alias, sentence) with the alias's span."""
    rows, missing = [], []
    for alias in aliases:
        candidates = corpus.get(alias.lower()) or corpus.get(surface_form(alias).lower()) or []
        chosen = select_sentences(alias, candidates, per_alias, max_words)
        if not chosen:
            missing.append(alias)
        rows += [(alias, sentence, start, end) for sentence, start, end in chosen]
    if missing:
        log.warning("%d aliases have no sentence and are left out, e.g. %s", len(missing), missing[:5])
    return write_text_table(out_dir, rows)


def prepare_sentences(out_dir: str | Path, dictionary_path: str | Path, spec: dict) -> Path:
    """The text table of a concept dataset: sentences for every alias of its dictionary."""
    from .concepts import read_dictionary

    aliases = sorted(read_dictionary(dictionary_path).aliases)
    source = spec["sentences"]
    if source["source"] == "templates":
        corpus = template_corpus(aliases, spec["per_alias"])
    elif source["source"] == "tsv":
        corpus = corpus_from_tsv(source["path"], source["word_column"], source["sentence_column"])
    else:
        corpus = corpus_from_hub(source["id"], source["split"], source["word_column"], source["sentence_column"],
                                 source.get("revision"))
    return word_table(out_dir, aliases, corpus, spec["per_alias"], spec["max_words"])
