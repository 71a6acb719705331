"""Caption similarity: Crisscrossed Captions (CxC) STS pairs over MS-COCO 2014 val captions.

CxC (Parekh et al., 2021; github.com/google-research-datasets/Crisscrossed-Captions)
rates caption pairs for semantic textual similarity (0-5). ``data/sts_val.csv`` has
the columns ``caption1,caption2,agg_score,sampling_method``; a caption is named
``COCO_val2014:sentid:<N>``. ``N`` is a sentence id of Karpathy's COCO split
(``dataset_coco.json``), and Karpathy's sentence ids are MS-COCO's caption
annotation ids (image 391895's first caption is annotation 770337 in both), so a
caption is found in ``captions_val2014.json`` as the annotation with ``id == N``;
its ``image_id`` says which image it describes. CxC's own merge script reads the id
the same way: the integer after the last ``:``. ``sampling_method`` is
``c2c_cocaption`` for two captions of one image and ``c2c_isim`` for captions of
different, similar images.

:func:`prepare_sts` writes ``text.tsv`` (``id``, ``text``: each caption used once,
id = CxC's caption id) and ``pairs.tsv`` (``id1``, ``id2``, ``score``,
``same_image``, ``sampling_method``), which :mod:`synesthesia.sts` scores.
"""

from __future__ import annotations

import itertools
import json
import shutil
import urllib.request
import zipfile
from pathlib import Path

import pandas as pd

from .tables import write_table, write_text_table

PAIRS = "pairs.tsv"
CXC_STS_VAL_URL = ("https://raw.githubusercontent.com/google-research-datasets/Crisscrossed-Captions/"
                   "master/data/sts_val.csv")
COCO_ANNOTATIONS_URL = "http://images.cocodataset.org/annotations/annotations_trainval2014.zip"
COCO_VAL_CAPTIONS_MEMBER = "annotations/captions_val2014.json"
CXC_COLUMNS = ("caption1", "caption2", "agg_score")
PAIR_COLUMNS = ["id1", "id2", "score", "same_image", "sampling_method"]
_DOWNLOAD_TIMEOUT_S = 60


# --- Downloads ------------------------------------------------------------------------------


def download(url: str, out_path: str | Path) -> Path:
    """Fetch ``url`` to ``out_path``, written under a temporary name and renamed when complete."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial = out_path.with_name(out_path.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response, open(partial, "wb") as handle:
            shutil.copyfileobj(response, handle)
    except OSError as error:  # urllib's URLError and HTTPError included
        partial.unlink(missing_ok=True)
        raise OSError(f"could not download {url} to {out_path}: {error}; download it by hand and pass the "
                      "local file instead") from error
    partial.replace(out_path)
    return out_path


def download_cxc_sts(out_path: str | Path, url: str = CXC_STS_VAL_URL) -> Path:
    """CxC's STS pairs (``sts_val.csv`` by default)."""
    return download(url, out_path)


def download_coco_captions(out_path: str | Path, url: str = COCO_ANNOTATIONS_URL,
                           member: str = COCO_VAL_CAPTIONS_MEMBER) -> Path:
    """Extract one captions file (``captions_val2014.json`` by default) from the COCO annotations zip."""
    out_path = Path(out_path)
    # A zip is read from its end, so it is saved whole first, then removed.
    archive = download(url, out_path.with_name(out_path.name + ".zip"))
    try:
        with zipfile.ZipFile(archive) as zipped:
            if member not in zipped.namelist():
                raise KeyError(f"{url}: no member {member!r}; its JSON files are "
                               f"{[name for name in zipped.namelist() if name.endswith('.json')]}")
            partial = out_path.with_name(out_path.name + ".part")
            with zipped.open(member) as source, open(partial, "wb") as handle:
                shutil.copyfileobj(source, handle)
            partial.replace(out_path)
    finally:
        archive.unlink()
    return out_path


# --- Preparation ----------------------------------------------------------------------------


def caption_annotation_id(cxc_id: str) -> int:
    """The COCO caption annotation id in a CxC caption id (``COCO_val2014:sentid:770337`` -> 770337)."""
    try:
        return int(cxc_id.rsplit(":", 1)[-1])
    except ValueError:
        raise ValueError(f"CxC caption id {cxc_id!r} does not end in an integer sentence id "
                         "(expected e.g. COCO_val2014:sentid:770337)") from None


def read_cxc_sts(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    table = pd.read_csv(path, dtype={"caption1": str, "caption2": str}, keep_default_na=False)
    missing = [column for column in CXC_COLUMNS if column not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}; a CxC STS file has {', '.join(CXC_COLUMNS)}, "
                         "sampling_method")
    return table


def read_coco_captions(path: str | Path) -> dict[int, tuple[int, str]]:
    """Caption annotation id -> (image id, caption) from a COCO captions file."""
    path = Path(path)
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    if "annotations" not in data:
        raise ValueError(f"{path}: no 'annotations' list; expected a COCO captions file such as "
                         "captions_val2014.json")
    # Some COCO captions carry newlines or trailing spaces; one space between words.
    return {annotation["id"]: (annotation["image_id"], " ".join(annotation["caption"].split()))
            for annotation in data["annotations"]}


def prepare_sts(out_dir: str | Path, sts_csv: str | Path, coco_captions_json: str | Path) -> Path:
    """Join CxC's STS pairs with their COCO captions into ``text.tsv`` and ``pairs.tsv``."""
    pairs = read_cxc_sts(sts_csv)
    captions = read_coco_captions(coco_captions_json)
    # Captions in order of first appearance, pair by pair.
    ids = list(dict.fromkeys(itertools.chain.from_iterable(zip(pairs["caption1"], pairs["caption2"]))))
    missing = [cxc_id for cxc_id in ids if caption_annotation_id(cxc_id) not in captions]
    if missing:
        raise KeyError(f"{len(missing)} caption ids of {sts_csv} are not annotations in {coco_captions_json}, "
                       f"e.g. {missing[:3]}; CxC's validation pairs need captions_val2014.json")
    out_dir = Path(out_dir)
    write_text_table(out_dir, [(cxc_id, captions[caption_annotation_id(cxc_id)][1]) for cxc_id in ids])
    image_of = {cxc_id: captions[caption_annotation_id(cxc_id)][0] for cxc_id in ids}
    table = pd.DataFrame({
        "id1": pairs["caption1"],
        "id2": pairs["caption2"],
        "score": pairs["agg_score"].astype(float),
        "same_image": [int(image_of[a] == image_of[b]) for a, b in zip(pairs["caption1"], pairs["caption2"])],
        "sampling_method": pairs.get("sampling_method", ""),
    })
    write_table(out_dir / PAIRS, table)
    return out_dir


def read_pairs(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    table = pd.read_csv(path, sep="\t", dtype={"id1": str, "id2": str, "sampling_method": str},
                        keep_default_na=False)
    missing = [column for column in PAIR_COLUMNS if column not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}; rewrite it with prepare_sts")
    return table
