"""The hub download paths (``datasets.load_dataset``) run against local dataset folders.

A hub id and a local folder go through the same call, so a parquet folder made
here exercises the code real runs use with ``nlphuji/...``, ``jaagli/...`` ids.
"""

import datasets
import numpy as np
import pytest
from PIL import Image

from synesthesia.data.captions import from_hub
from synesthesia.data.concept_images import hub_rows
from synesthesia.data.sentences import corpus_from_hub
from synesthesia.data.tables import read_table


def _images(n):
    return [Image.fromarray(np.full((8, 8, 3), 10 * i, dtype=np.uint8)) for i in range(n)]


@pytest.fixture
def caption_folder(tmp_path):
    features = datasets.Features({"image": datasets.Image(), "caption": datasets.Sequence(datasets.Value("string"))})
    data = datasets.Dataset.from_dict(
        {"image": _images(3), "caption": [["first a", "first b"], ["second"], ["third"]]}, features=features
    )
    data.to_parquet(str(tmp_path / "hub" / "test.parquet"))
    return tmp_path / "hub"


def test_caption_pairs_from_a_dataset_folder(tmp_path, caption_folder):
    out = from_hub(tmp_path / "prepared", str(caption_folder), "test", "image", "caption", limit=2)
    text, images = read_table(out / "text.tsv"), read_table(out / "images.tsv")
    assert text["text"].tolist() == ["first a", "second"]
    assert text["id"].tolist() == images["id"].tolist()
    assert np.asarray(Image.open(images["image"][1]))[0, 0, 0] == 10


def test_a_missing_column_names_the_dataset_and_its_columns(tmp_path, caption_folder):
    with pytest.raises(KeyError, match="no column 'text'.*'caption'"):
        from_hub(tmp_path / "prepared", str(caption_folder), "test", "image", "text")


def test_sentence_corpus_from_a_dataset_folder(tmp_path):
    data = datasets.Dataset.from_dict({"word": ["Dog", "cat"], "sentence": [["a dog", "the dog ran"], ["a cat"]]})
    data.to_parquet(str(tmp_path / "words" / "train.parquet"))
    corpus = corpus_from_hub(str(tmp_path / "words"), "train", "word", "sentence")
    assert dict(corpus) == {"dog": ["a dog", "the dog ran"], "cat": ["a cat"]}


def test_concept_images_from_a_labelled_dataset_folder(tmp_path):
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["n01", "n02"])})
    data = datasets.Dataset.from_dict({"image": _images(5), "label": [0, 1, 0, 0, 1]}, features=features)
    data.to_parquet(str(tmp_path / "imgs" / "train.parquet"))
    rows = hub_rows(tmp_path / "prepared", str(tmp_path / "imgs"), "train", "image", "label",
                    concepts=["n01"], per_concept=2)
    assert [concept for concept, _ in rows] == ["n01", "n01"]
    assert all((tmp_path / "prepared" / path).is_file() for _, path in rows)
