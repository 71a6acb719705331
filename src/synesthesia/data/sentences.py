"""Sentences that contain each word of a concept dataset, for word embeddings in context.

A corpus maps each word to sentences that contain it. Real runs read the study's
``jaagli/common-words-79k`` (split ``whole``: one row per word, its ``alias`` and a
list of ``sentences``) from the hub or a local dataset folder laid out like it, or a
local TSV of (word, sentence) rows; the demo writes template sentences.

Which words get rows (``candidates``): ``corpus``, every corpus word with at least
one sentence that contains it, as the study embedded them all and retrieved among
all of them; or ``dictionary``, only the dictionary's aliases. Either way each word
keeps at most ``per_alias`` sentences of at most ``max_words`` words (``None``: all,
as the study's code kept them) in which it occurs as whole words
(case-insensitive); multiword words are written with ``_`` and matched with
spaces (``lime_juice`` -> ``lime juice``).
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from pathlib import Path
from typing import Iterable, Mapping

from .tables import read_tsv, write_text_table

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
CANDIDATES = ("corpus", "dictionary")
# The study's clean-up of each sentence: a space before final punctuation is
# dropped ("a cat ." -> "a cat.").
_SPACE_BEFORE_FINAL_PUNCTUATION = re.compile(r"\s+([^\w\s]+)(\s*)$")
_PROGRESS_EVERY = 10_000


def surface_form(alias: str) -> str:
    return alias.replace("_", " ")


def word_id(word: str) -> str:
    """A corpus word in alias spelling: lower case, ``_`` between words."""
    return "_".join(word.lower().split())


def join_final_punctuation(sentence: str) -> str:
    """The study's rule: ``re.sub(r"\\s+([^\\w\\s]+)(\\s*)$", r"\\1\\2", sentence)``."""
    return _SPACE_BEFORE_FINAL_PUNCTUATION.sub(r"\1\2", sentence)


def word_pattern(alias: str) -> re.Pattern:
    """Whole-word, case-insensitive occurrences of the alias, its words separated by any spaces."""
    return re.compile(r"(?<!\w)" + r"\s+".join(re.escape(part) for part in surface_form(alias).split()) + r"(?!\w)",
                      flags=re.IGNORECASE)


def select_sentences(alias: str, candidates: Iterable[str], per_alias: int | None, max_words: int | None):
    """Up to ``per_alias`` (sentence, start, end) of at most ``max_words`` words containing the alias."""
    pattern = word_pattern(alias)
    chosen = []
    for sentence in candidates:
        if max_words is not None and len(sentence.split()) > max_words:
            continue
        match = pattern.search(sentence)
        if match:
            chosen.append((sentence, match.start(), match.end()))
            if len(chosen) == per_alias:
                break
    return chosen


def template_corpus(aliases: Iterable[str], per_alias: int | None) -> dict[str, list[str]]:
    templates = TEMPLATES if per_alias is None else TEMPLATES[:per_alias]
    return {alias: [t.format(surface_form(alias)) for t in templates] for alias in aliases}


def corpus_from_tsv(path: str | Path, word_column: str, sentence_column: str) -> dict[str, list[str]]:
    table = read_tsv(path, ())
    return _group(table, word_column, sentence_column, str(path), table.columns)


def corpus_from_hub(dataset_id: str, split: str, word_column: str, sentence_column: str,
                    revision: str | None = None) -> dict[str, list[str]]:
    """A hub dataset (or local dataset folder) of word and sentence columns; a list of sentences per row is fine."""
    from .hub import load_hub_dataset

    data = load_hub_dataset(dataset_id, split=split, revision=revision)
    return _group(data, word_column, sentence_column, dataset_id, data.column_names)


def _group(data, word_column: str, sentence_column: str, where: str, columns) -> dict[str, list[str]]:
    missing = [column for column in (word_column, sentence_column) if column not in columns]
    if missing:
        raise KeyError(f"{where}: no column {missing[0]!r}; its columns are {list(columns)} "
                       f"(set word_column / sentence_column in the dataset's `sentences`)")
    corpus = defaultdict(list)
    for word, sentence in zip(data[word_column], data[sentence_column]):
        corpus[word_id(str(word))].extend(sentence if isinstance(sentence, list) else [sentence])
    if not corpus:
        raise ValueError(f"{where}: no sentences (columns are {list(columns)})")
    return dict(corpus)


def read_corpus(source: Mapping, dictionary_aliases: Iterable[str] = ()) -> dict[str, list[str]]:
    """The word -> sentences corpus a dataset's ``sentences`` entry names, words in alias spelling.

    ``templates`` writes sentences for the dictionary's aliases and ``extra_words``;
    with ``join_final_punctuation`` every sentence gets the study's clean-up.
    """
    kind = source["source"]
    if kind == "templates":
        corpus = template_corpus([*dictionary_aliases, *source.get("extra_words", ())], None)
    elif kind == "tsv":
        corpus = corpus_from_tsv(source["path"], source["word_column"], source["sentence_column"])
    else:
        corpus = corpus_from_hub(source["id"], source["split"], source["word_column"], source["sentence_column"],
                                 source.get("revision"))
    if source.get("join_final_punctuation"):
        corpus = {word: [join_final_punctuation(s) for s in sentences] for word, sentences in corpus.items()}
    return corpus


def candidate_words(candidates: str, aliases: Iterable[str], corpus: Mapping[str, list[str]]) -> list[str]:
    """The words that get rows: the dictionary's aliases, and with ``corpus`` every corpus word besides."""
    if candidates not in CANDIDATES:
        raise ValueError(f"candidates must be one of {CANDIDATES}, not {candidates!r}")
    words = list(dict.fromkeys(aliases))
    if candidates == "corpus":
        words += sorted(set(corpus) - set(words))
    return words


def word_table(out_dir: str | Path, words: Iterable[str], corpus: Mapping[str, list[str]],
               per_alias: int | None, max_words: int | None) -> Path:
    """The text table of words in context: one row per (word, sentence) with the word's span."""
    words = list(words)
    rows, missing = [], []
    for done, word in enumerate(words, 1):
        sentences = corpus.get(word_id(word), [])
        chosen = select_sentences(word, sentences, per_alias, max_words)
        if not chosen:
            missing.append(word)
        rows += [(word, sentence, start, end) for sentence, start, end in chosen]
        if done % _PROGRESS_EVERY == 0:
            log.info("sentences chosen for %d/%d words (%d rows)", done, len(words), len(rows))
    log.info("%d words with %d sentences", len(words) - len(missing), len(rows))
    if missing:
        log.warning("%d words have no sentence containing them and are left out, e.g. %s", len(missing), missing[:5])
    return write_text_table(out_dir, rows)


def prepare_sentences(out_dir: str | Path, dictionary_path: str | Path, spec: dict) -> Path:
    """The text table of a concept dataset: sentences for its candidate words (see the module docstring)."""
    from .concepts import read_dictionary

    aliases = sorted(read_dictionary(dictionary_path).aliases)
    corpus = read_corpus(spec["sentences"], aliases)
    words = candidate_words(spec["candidates"], aliases, corpus)
    return word_table(out_dir, words, corpus, spec["per_alias"], spec["max_words"])


def corpus_vocabulary(source: Mapping, out: str | Path) -> Path:
    """The corpus's words that have at least one sentence, one per line: a dictionary builder's vocabulary."""
    corpus = read_corpus(source)
    words = sorted(word for word, sentences in corpus.items() if select_sentences(word, sentences, 1, None))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(f"{word}\n" for word in words), encoding="utf-8")
    log.info("%d of the corpus's %d words occur in one of their sentences", len(words), len(corpus))
    return out
