"""Caption-image pairs for text-to-image: a prepared caption dataset, its held-out split, its images.

A caption dataset is prepared by ``synesthesia.data.captions`` into ``text.tsv``
(id, caption) and ``images.tsv`` (id, image). The held-out captions are drawn once
per run by a seed and written to a split file, so every encoder trains on the same
pairs and is scored on the same captions.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.tables import IMAGES, TEXT, read_table, table_hash
from ..images import load_image


def read_pairs(dataset_dir: str | os.PathLike) -> pd.DataFrame:
    """One row per id: ``id``, ``caption``, ``image`` (absolute path)."""
    dataset_dir = Path(dataset_dir)
    texts, images = read_table(dataset_dir / TEXT), read_table(dataset_dir / IMAGES)
    if texts["id"].duplicated().any() or images["id"].duplicated().any():
        raise ValueError(f"{dataset_dir}: a caption dataset needs one caption and one image per id")
    pairs = texts.rename(columns={"text": "caption"}).merge(images, on="id", how="inner", validate="one_to_one")
    if len(pairs) != len(texts) or len(pairs) != len(images):
        raise ValueError(f"{dataset_dir}: {TEXT} and {IMAGES} hold different ids")
    return pairs[["id", "caption", "image"]]


def split_pairs(dataset_dir: str | os.PathLike, out: str | os.PathLike, n_heldout: int, seed: int) -> Path:
    """Draw ``n_heldout`` ids for evaluation (seeded); the rest train. Writes a JSON split file."""
    dataset_dir = Path(dataset_dir)
    pairs = read_pairs(dataset_dir)
    if not 0 < n_heldout < len(pairs):
        raise ValueError(f"{dataset_dir}: cannot hold out {n_heldout} of {len(pairs)} pairs; "
                         "at least one must remain for training")
    heldout = set(random.Random(seed).sample(list(pairs["id"]), n_heldout))
    split = {
        "dataset_hash": {"text": table_hash(dataset_dir / TEXT), "images": table_hash(dataset_dir / IMAGES)},
        "seed": seed,
        # Dataset order, so the caption index (which seeds generation) does not depend on the draw's order.
        "train": [i for i in pairs["id"] if i not in heldout],
        "heldout": [i for i in pairs["id"] if i in heldout],
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(split, indent=1))
    return out


def read_split(path: str | os.PathLike) -> dict:
    with open(path, encoding="utf-8") as handle:
        split = json.load(handle)
    if not split.get("train") or not split.get("heldout"):
        raise ValueError(f"{path}: a split file needs non-empty `train` and `heldout` id lists")
    return split


def square_image(path: str | os.PathLike, resolution: int, dataset: str | None = None):
    """The image scaled so its shorter side is ``resolution``, centre-cropped to a square (RGB, PIL).
    ``dataset`` names the caption dataset in the error an undecodable image raises."""
    from PIL import Image

    image = load_image(path, dataset)
    scale = resolution / min(image.size)
    width, height = max(resolution, round(image.width * scale)), max(resolution, round(image.height * scale))
    image = image.resize((width, height), Image.Resampling.BICUBIC)
    left, top = (width - resolution) // 2, (height - resolution) // 2
    return image.crop((left, top, left + resolution, top + resolution))


def image_array(path: str | os.PathLike, resolution: int, dataset: str | None = None) -> np.ndarray:
    """3 x R x R uint8, the layout the VAE and the image metrics read."""
    return np.asarray(square_image(path, resolution, dataset), dtype=np.uint8).transpose(2, 0, 1).copy()
