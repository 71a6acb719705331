"""Crisscrossed Captions STS: downloads from file:// fixtures, the join with COCO captions, STS-L/STS-V scoring."""

import json
import math
import zipfile

import numpy as np
import pandas as pd
import pytest

from synesthesia.data.demo import make_demo_sts
from synesthesia.data.sts import (
    caption_annotation_id,
    download_coco_captions,
    download_cxc_sts,
    prepare_sts,
    read_pairs,
)
from synesthesia.data.tables import read_table
from synesthesia.sts import sts_records

CXC_CSV = """caption1,caption2,agg_score,sampling_method
COCO_val2014:sentid:770337,COCO_val2014:sentid:771687,4.5,c2c_cocaption
COCO_val2014:sentid:770337,COCO_val2014:sentid:900,1.2,c2c_isim
COCO_val2014:sentid:900,COCO_val2014:sentid:771687,0.8,c2c_isim
"""
COCO = {
    "images": [{"id": 391895, "file_name": "COCO_val2014_000000391895.jpg"}, {"id": 7, "file_name": "x.jpg"}],
    "annotations": [
        {"image_id": 391895, "id": 770337, "caption": "A man with a red helmet on a small moped on a dirt road. "},
        {"image_id": 391895, "id": 771687, "caption": "Man riding a motor bike\non a dirt road."},
        {"image_id": 7, "id": 900, "caption": "A cat on a sofa."},
        {"image_id": 7, "id": 901, "caption": "Not used by any pair."},
    ],
}


@pytest.fixture
def sources(tmp_path):
    """CxC's CSV and a COCO annotations zip, as the real downloads have them."""
    csv_path = tmp_path / "remote" / "sts_val.csv"
    csv_path.parent.mkdir()
    csv_path.write_text(CXC_CSV)
    zip_path = tmp_path / "remote" / "annotations_trainval2014.zip"
    with zipfile.ZipFile(zip_path, "w") as zipped:
        zipped.writestr("annotations/captions_val2014.json", json.dumps(COCO))
        zipped.writestr("annotations/instances_val2014.json", "{}")
    return csv_path, zip_path


def test_caption_ids_are_coco_annotation_ids():
    assert caption_annotation_id("COCO_val2014:sentid:770337") == 770337
    with pytest.raises(ValueError, match="COCO_val2014:sentid:x"):
        caption_annotation_id("COCO_val2014:sentid:x")


def test_downloads_fetch_the_csv_and_extract_the_captions_from_the_zip(tmp_path, sources):
    csv_path, zip_path = sources
    sts_csv = download_cxc_sts(tmp_path / "data" / "sts_val.csv", url=csv_path.as_uri())
    captions = download_coco_captions(tmp_path / "data" / "captions_val2014.json", url=zip_path.as_uri())
    assert sts_csv.read_text() == CXC_CSV
    assert json.loads(captions.read_text()) == COCO
    # Only the two files are left: no partial downloads, no zip.
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["captions_val2014.json", "sts_val.csv"]


def test_download_errors_name_the_url_and_the_missing_member(tmp_path, sources):
    _, zip_path = sources
    missing = (tmp_path / "nowhere.csv").as_uri()
    with pytest.raises(OSError, match="nowhere.csv.*by hand"):
        download_cxc_sts(tmp_path / "data" / "sts_val.csv", url=missing)
    with pytest.raises(KeyError, match="captions_test.json.*instances_val2014"):
        download_coco_captions(tmp_path / "data" / "c.json", url=zip_path.as_uri(),
                               member="annotations/captions_test.json")
    assert not (tmp_path / "data").exists() or not list((tmp_path / "data").iterdir())


def test_prepare_joins_pairs_with_their_captions_and_images(tmp_path, sources):
    csv_path, zip_path = sources
    captions = download_coco_captions(tmp_path / "captions_val2014.json", url=zip_path.as_uri())
    out = prepare_sts(tmp_path / "sts", csv_path, captions)
    text = read_table(out / "text.tsv")
    assert text["id"].tolist() == ["COCO_val2014:sentid:770337", "COCO_val2014:sentid:771687",
                                   "COCO_val2014:sentid:900"]
    # Whitespace inside COCO captions (newlines, trailing spaces) becomes single spaces.
    assert text["text"].tolist()[1:] == ["Man riding a motor bike on a dirt road.", "A cat on a sofa."]
    pairs = read_pairs(out / "pairs.tsv")
    assert list(pairs.columns) == ["id1", "id2", "score", "same_image", "sampling_method"]
    assert pairs["same_image"].tolist() == [1, 0, 0]
    assert pairs["score"].tolist() == [4.5, 1.2, 0.8]
    assert pairs["sampling_method"].tolist() == ["c2c_cocaption", "c2c_isim", "c2c_isim"]


def test_prepare_refuses_captions_missing_from_the_coco_file(tmp_path, sources):
    csv_path, _ = sources
    partial = tmp_path / "captions_train2014.json"
    partial.write_text(json.dumps({"annotations": COCO["annotations"][:1]}))
    with pytest.raises(KeyError, match="2 caption ids.*captions_train2014.json"):
        prepare_sts(tmp_path / "sts", csv_path, partial)


def _hand_made_case():
    """Cosines [1, 0, -1, 0] against scores [5, 2, 0, 3] and same-image [1, 0, 0, 0]."""
    vectors = {"a1": np.array([1.0, 0.0]), "a2": np.array([2.0, 0.0]), "b": np.array([0.0, 1.0]),
               "c": np.array([-1.0, 0.0])}
    pairs = pd.DataFrame({"id1": ["a1", "a1", "a1", "b"], "id2": ["a2", "b", "c", "a2"],
                          "score": [5.0, 2.0, 0.0, 3.0], "same_image": [1, 0, 0, 0],
                          "sampling_method": ""})
    return vectors, pairs


def test_sts_records_match_hand_computed_correlations():
    records = {(r["task"], r["metric"]): r for r in sts_records(*_hand_made_case())}
    # Pearson: covariance 5 over sqrt(2 * 13). Spearman: ranks [4, 2.5, 1, 2.5] vs [4, 2, 1, 3].
    assert records["sts_l", "pearson"]["value"] == pytest.approx(5 / math.sqrt(26))
    assert records["sts_l", "spearman"]["value"] == pytest.approx(3 / math.sqrt(10))
    # Point-biserial: covariance 1 over sqrt(2 * 0.75); ranks [4, 2, 2, 2] give the same here.
    assert records["sts_v", "pearson"]["value"] == pytest.approx(math.sqrt(2 / 3))
    assert records["sts_v", "spearman"]["value"] == pytest.approx(math.sqrt(2 / 3))
    assert {r["n_pairs"] for r in records.values()} == {4}


def test_sts_scoring_refuses_missing_ids_zero_vectors_and_constant_targets():
    vectors, pairs = _hand_made_case()
    with pytest.raises(KeyError, match="'c'.*embed every id"):
        sts_records({k: v for k, v in vectors.items() if k != "c"}, pairs)
    with pytest.raises(ValueError, match="a1 / b"):
        sts_records(vectors | {"b": np.zeros(2)}, pairs)
    with pytest.raises(ValueError, match="sts_v.*same_image"):
        sts_records(vectors, pairs.assign(same_image=0))


def test_demo_files_have_cxc_and_coco_shapes_and_similarity_follows_shared_attributes(tmp_path):
    sts_csv, captions = make_demo_sts(tmp_path / "demo")
    raw = pd.read_csv(sts_csv)
    assert list(raw.columns) == ["caption1", "caption2", "agg_score", "sampling_method"]
    assert raw["caption1"].str.fullmatch(r"COCO_val2014:sentid:\d+").all()
    assert raw["agg_score"].between(0, 5).all()
    out = prepare_sts(tmp_path / "sts", sts_csv, captions)
    pairs = read_pairs(out / "pairs.tsv")
    assert (pairs["same_image"] == (pairs["sampling_method"] == "c2c_cocaption")).all()
    assert pairs["score"][pairs["same_image"] == 1].min() > pairs["score"][pairs["same_image"] == 0].mean()

    # Bag-of-words vectors of the captions already correlate with the scores: the demo is learnable.
    text = read_table(out / "text.tsv")
    vocabulary = sorted({word for caption in text["text"] for word in caption.split()})
    vectors = {item_id: np.array([caption.split().count(word) for word in vocabulary], dtype=float)
               for item_id, caption in zip(text["id"], text["text"])}
    records = {(r["task"], r["metric"]): r["value"] for r in sts_records(vectors, pairs)}
    assert records["sts_l", "pearson"] > 0.5 and records["sts_v", "pearson"] > 0.3
