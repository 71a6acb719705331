"""Prepared tables cannot lie: texts round-trip exactly, and each fault is refused naming its file and row or id."""

import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from synesthesia.data.captions import from_folder
from synesthesia.data.glue import read_labels
from synesthesia.data.sentences import corpus_from_tsv
from synesthesia.data.tables import read_table, write_pairs, write_table, write_text_table
from synesthesia.embed import embed_dataset

AWKWARD = ["two\nlines", "a\ttab", "carriage\rreturn", "windows\r\nline", '"quoted" text', 'ends with "', '"',
           "  spaced  "]


def _table(tmp_path, body: bytes, name="text.tsv"):
    path = tmp_path / name
    path.write_bytes(body)
    return path


def _names(path, *culprits):
    return ".*".join(re.escape(str(c)) for c in (path, *culprits))


def test_texts_with_line_breaks_tabs_and_quotes_read_back_exactly(tmp_path):
    rows = [(f"id{i}", text) for i, text in enumerate(AWKWARD)]
    table = read_table(write_text_table(tmp_path, rows))
    assert list(zip(table["id"], table["text"])) == rows


def test_glue_tables_round_trip_and_keep_a_blank_second_sentence(tmp_path):
    frame = pd.DataFrame({"id": ["train-0", "train-1"], "text": AWKWARD[:2], "text_pair": ["", AWKWARD[2]]})
    path = write_table(tmp_path / "text.tsv", frame)
    assert read_table(path, blank_texts_allowed=True).equals(frame)
    with pytest.raises(ValueError, match=_names(path, "empty text_pair", "'train-0'")):
        read_table(path)


def test_a_lone_carriage_return_written_by_pandas_is_refused_not_read_as_a_phantom_row(tmp_path):
    path = tmp_path / "text.tsv"
    pd.DataFrame({"id": ["a", "b"], "text": ["one", "two\rthree"]}).to_csv(path, sep="\t", index=False)
    with pytest.raises(ValueError, match=_names(f"{path}:4", "1 field(s) where the header has 2")):
        read_table(path)


def test_a_raw_tab_names_the_file_and_line(tmp_path):
    path = _table(tmp_path, b"id\ttext\na\tfine\nb\tbroken\ttext\n")
    with pytest.raises(ValueError, match=_names(f"{path}:3", "3 field(s)")):
        read_table(path)


def test_invalid_utf8_names_the_file_and_line(tmp_path):
    path = _table(tmp_path, b"id\ttext\na\tfine\nb\tcaf\xe9\n")
    with pytest.raises(ValueError, match=_names(f"{path}:3", "not UTF-8")):
        read_table(path)


def test_an_unclosed_quote_names_the_file_and_line(tmp_path):
    path = _table(tmp_path, b'id\ttext\na\t"never closed\nb\tx\n')
    with pytest.raises(ValueError, match=re.escape(f"{path}:2")):
        read_table(path)


@pytest.mark.parametrize("name", ["text.tsv", "images.tsv"])
def test_a_header_only_table_is_refused(tmp_path, name):
    path = _table(tmp_path, b"id\ttext\n" if name == "text.tsv" else b"id\timage\n", name)
    with pytest.raises(ValueError, match=_names(path, "no rows")):
        read_table(path)


@pytest.mark.parametrize("text", ["", "   "])
def test_an_empty_text_is_refused_naming_its_id(tmp_path, text):
    path = write_table(tmp_path / "text.tsv", pd.DataFrame({"id": ["a", "b"], "text": ["fine", text]}))
    with pytest.raises(ValueError, match=_names(path, "empty text", "'b'")):
        read_table(path)
    with pytest.raises(ValueError, match=_names(tmp_path / "out" / "text.tsv", "empty text", "'b'")):
        write_text_table(tmp_path / "out", [("a", "fine"), ("b", text)])


def test_duplicate_ids_are_refused_in_a_caption_table_but_are_occurrences_in_a_concept_table(tmp_path):
    path = write_table(tmp_path / "text.tsv", pd.DataFrame({"id": ["a", "b", "a"], "text": ["x", "y", "z"]}))
    with pytest.raises(ValueError, match=_names(path, "id 'a' is on 2 rows")):
        read_table(path)
    assert read_table(path, occurrences_allowed=True)["id"].tolist() == ["a", "b", "a"]
    with pytest.raises(ValueError, match=_names(tmp_path / "pairs", "id 'a'")):
        write_pairs(tmp_path / "pairs", [("a", "x", "1.png"), ("a", "y", "2.png")])


def test_embedding_refuses_a_caption_table_with_repeated_ids_before_loading_a_model(tmp_path):
    path = write_table(tmp_path / "images.tsv", pd.DataFrame({"id": ["a", "a"], "image": ["1.png", "2.png"]}))
    with pytest.raises(ValueError, match=_names(path, "id 'a'")):
        embed_dataset(path, tmp_path / "out.h5", "never-loaded", {}, "captions")


def test_a_word_span_outside_its_text_is_refused(tmp_path):
    path = write_table(tmp_path / "text.tsv", pd.DataFrame({"id": ["cat"], "text": ["a cat"], "start": [2],
                                                            "end": [9]}))
    with pytest.raises(ValueError, match=_names(path, "'cat'", "span 2..9")):
        read_table(path, occurrences_allowed=True)


def _caption_folder(tmp_path, lines: bytes):
    for name in ("x.png", "y.png", "sub/x.png"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        Image.new("RGB", (4, 4)).save(tmp_path / name)
    return _table(tmp_path, lines, "captions.tsv")


@pytest.mark.parametrize("lines, culprit", [
    (b"x.png\ta red x\ny.png\n", ":2: expected `image<TAB>caption`, found 1 field"),
    (b"x.png\ta red\tx\n", ":1: expected `image<TAB>caption`, found 3 field"),
    (b"x.png\ta red x\ny.png\t \n", ":2: empty caption for y.png"),
    (b"x.png\ta red x\nsub/x.png\tanother x\n", ":2: id 'x'"),
    (b"x.png\ta red x\ny.png\tcaf\xe9\n", ":2: not UTF-8"),
])
def test_a_malformed_caption_file_line_is_refused_naming_file_and_line(tmp_path, lines, culprit):
    captions = _caption_folder(tmp_path, lines)
    with pytest.raises(ValueError, match=re.escape(f"{captions}{culprit}")):
        from_folder(tmp_path / "out", tmp_path, captions)


def test_a_quoted_caption_with_a_line_break_is_one_caption(tmp_path):
    captions = _caption_folder(tmp_path, b'x.png\t"two\nlines"\ny.png\tone line\n')
    out = from_folder(tmp_path / "out", tmp_path, captions)
    assert read_table(out / "text.tsv")["text"].tolist() == ["two\nlines", "one line"]


def test_a_sentence_corpus_with_a_broken_row_names_file_and_line(tmp_path):
    corpus = _table(tmp_path, b"word\tsentence\ncat\ta cat\ndog\ta\tdog\n", "corpus.tsv")
    with pytest.raises(ValueError, match=re.escape(f"{corpus}:3")):
        corpus_from_tsv(corpus, "word", "sentence")



def test_glue_labels_read_as_written_class_indices_as_integers_scores_as_floats(tmp_path):
    classes = write_table(tmp_path / "labels.tsv", pd.DataFrame(
        {"id": ["train-000000", "train-000001", "validation-000000"], "split": ["train", "train", "validation"],
         "label": [0, 2, 1]}))
    table = read_labels(classes)
    assert table["id"].tolist() == ["train-000000", "train-000001", "validation-000000"]
    assert table["split"].tolist() == ["train", "train", "validation"]
    assert table["label"].tolist() == [0, 2, 1] and table["label"].dtype == np.int64
    scores = write_table(tmp_path / "stsb" / "labels.tsv", pd.DataFrame(
        {"id": ["train-000000", "train-000001"], "split": ["train", "train"], "label": [3.8, 5.0]}))
    table = read_labels(scores)
    assert table["label"].tolist() == [3.8, 5.0] and table["label"].dtype == np.float64


@pytest.mark.parametrize("body, culprit", [
    (b"id\tsplit\tlabel\ntrain-0\ttrain\t1\ntrain-1\ttr\xe4in\t0\n", ":3: not UTF-8"),
    (b'id\tsplit\tlabel\ntrain-0\t"train\t1\n', ":2: "),
    (b"id\tsplit\tlabel\ntrain-0\ttrain\t1\textra\n", ":2: 4 field(s) where the header has 3"),
    (b"id\tsplit\tlabel\n", ": no rows, only a header"),
    (b"id\tlabel\ntrain-0\t1\n", ": missing columns ['split']"),
    (b"id\tsplit\tlabel\ntrain-0\ttrain\t1\ntrain-0\ttrain\t0\n", ": id 'train-0' is on 2 rows"),
    (b"id\tsplit\tlabel\n\ttrain\t1\n", ": 1 row(s) with an empty id, the first row 1"),
    (b"id\tsplit\tlabel\ntrain-0\t \t1\n", ": 1 row(s) with an empty split, the first id 'train-0'"),
    (b"id\tsplit\tlabel\ntrain-0\ttrain\t1\ntest-0\ttest\t-1\n",
     ": 1 label(s) that are not a number >= 0, the first '-1' of id 'test-0'"),
    (b"id\tsplit\tlabel\ntrain-0\ttrain\tentailment\ntrain-1\ttrain\t\n",
     ": 2 label(s) that are not a number >= 0, the first 'entailment' of id 'train-0'"),
    (b"id\tsplit\tlabel\ntrain-0\ttrain\tnan\n", ": 1 label(s) that are not a number >= 0, the first 'nan'"),
])
def test_a_bad_glue_label_table_is_refused_naming_the_file_and_the_line_or_id(tmp_path, body, culprit):
    path = _table(tmp_path, body, "labels.tsv")
    with pytest.raises(ValueError, match=re.escape(f"{path}{culprit}")):
        read_labels(path)
