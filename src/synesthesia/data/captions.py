"""Caption-image datasets, prepared into one table: ``items.tsv`` (id, caption, image).

Sources:
- ``shapes``: images of coloured shapes rendered with PIL, each with a caption
  that describes it (the offline demo);
- ``folder``: an image folder plus a TSV of ``image<TAB>caption`` (relative paths);
- ``hf``: a hub dataset (or a local dataset folder) read with ``datasets``, with
  configurable image and caption columns.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import random
from pathlib import Path

import pandas as pd

COLORS = {
    "red": (220, 30, 30), "green": (30, 170, 60), "blue": (30, 70, 220), "yellow": (240, 220, 30),
    "purple": (140, 40, 180), "orange": (250, 140, 20), "black": (20, 20, 20), "white": (250, 250, 250),
}
SHAPES = ("circle", "square", "triangle", "diamond", "cross")
SIZES = {"small": 0.3, "large": 0.6}
POSITIONS = {"left": 0.3, "centre": 0.5, "right": 0.7}
BACKGROUND = (128, 128, 128)
TABLE = "items.tsv"
COLUMNS = ["id", "caption", "image"]


def _draw_shape(draw, shape: str, cx: float, cy: float, r: float, fill) -> None:
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif shape == "square":
        draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif shape == "triangle":
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fill)
    elif shape == "diamond":
        draw.polygon([(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)], fill=fill)
    elif shape == "cross":
        w = r / 3
        draw.rectangle([cx - r, cy - w, cx + r, cy + w], fill=fill)
        draw.rectangle([cx - w, cy - r, cx + w, cy + r], fill=fill)
    else:
        raise ValueError(f"unknown shape {shape!r}")


def render_shape(color: str, shape: str, size: str, position: str, image_size: int):
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (image_size, image_size), BACKGROUND)
    radius = SIZES[size] * image_size / 2
    cx = POSITIONS[position] * image_size
    _draw_shape(ImageDraw.Draw(image), shape, cx, image_size / 2, radius * 0.9, COLORS[color])
    return image


def make_shapes(out_dir: str | Path, n: int, image_size: int, seed: int) -> Path:
    """Render ``n`` distinct shapes (a seeded sample of all combinations) with their captions."""
    out_dir = Path(out_dir)
    combos = list(itertools.product(COLORS, SHAPES, SIZES, POSITIONS))
    if n > len(combos):
        raise ValueError(f"shapes dataset: n={n} exceeds the {len(combos)} distinct combinations")
    chosen = random.Random(seed).sample(combos, n)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for index, (color, shape, size, position) in enumerate(chosen):
        item_id = f"shape{index:05d}"
        relative = f"images/{item_id}.png"
        render_shape(color, shape, size, position, image_size).save(out_dir / relative)
        rows.append((item_id, f"a {size} {color} {shape} on the {position}", relative))
    return write_table(out_dir, rows)


def from_folder(out_dir: str | Path, root: str | Path, captions: str | Path, limit: int | None = None) -> Path:
    """Index an image folder by a ``image<TAB>caption`` file; images stay where they are."""
    root, captions = Path(root), Path(captions)
    rows = []
    with open(captions, newline="", encoding="utf-8") as handle:
        for line_no, record in enumerate(csv.reader(handle, delimiter="\t"), start=1):
            if len(record) < 2:
                raise ValueError(f"{captions}:{line_no}: expected `image<TAB>caption`")
            image = (root / record[0]).resolve()
            if not image.is_file():
                raise FileNotFoundError(f"{captions}:{line_no}: image {image} does not exist")
            rows.append((Path(record[0]).stem, record[1], str(image)))
            if limit and len(rows) >= limit:
                break
    return write_table(out_dir, rows)


def from_hub(out_dir: str | Path, dataset_id: str, split: str, image_column: str, caption_column: str,
             limit: int | None = None, revision: str | None = None) -> Path:
    """Save a hub dataset's images as PNG files with their (first) caption."""
    import datasets

    out_dir = Path(out_dir)
    data = datasets.load_dataset(dataset_id, split=split, revision=revision)
    for column in (image_column, caption_column):
        if column not in data.column_names:
            raise KeyError(f"dataset {dataset_id}: no column {column!r}; columns are {data.column_names}")
    if limit:
        data = data.select(range(min(limit, len(data))))
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for index, record in enumerate(data):
        caption = record[caption_column]
        caption = caption[0] if isinstance(caption, list) else caption
        item_id = f"{index:06d}"
        relative = f"images/{item_id}.png"
        record[image_column].convert("RGB").save(out_dir / relative)
        rows.append((item_id, caption, relative))
    return write_table(out_dir, rows)


def write_table(out_dir: str | Path, rows: list[tuple[str, str, str]]) -> Path:
    ids = [row[0] for row in rows]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{out_dir}: item ids are not unique")
    path = Path(out_dir) / TABLE
    pd.DataFrame(rows, columns=COLUMNS).to_csv(path, sep="\t", index=False)
    return path


def read_table(path: str | Path) -> pd.DataFrame:
    """The items with image paths made absolute (relative ones are relative to the table)."""
    path = Path(path)
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    missing = set(COLUMNS) - set(table.columns)
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)}")
    table["image"] = [str(p if Path(p).is_absolute() else path.parent / p) for p in table["image"]]
    return table


def table_hash(path: str | Path) -> str:
    """Identifies a dataset version: the table's bytes (ids, captions and image names)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def prepare(out_dir: str | Path, spec: dict) -> Path:
    """Prepare a dataset from its config entry."""
    source = spec["source"]
    if source == "shapes":
        return make_shapes(out_dir, spec["size"], spec["image_size"], spec["seed"])
    if source == "folder":
        return from_folder(out_dir, spec["root"], spec["captions"], spec.get("limit"))
    if source == "hf":
        return from_hub(out_dir, spec["id"], spec["split"], spec["image_column"], spec["caption_column"],
                        spec.get("limit"), spec.get("revision"))
    raise ValueError(f"unknown dataset source {source!r}")
