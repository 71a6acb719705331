"""Caption-image datasets: one caption and one image per id, prepared into text.tsv and images.tsv.

Sources:
- ``shapes``: rendered coloured shapes with captions that describe them (the offline demo);
- ``folder``: an image folder plus a TSV of ``image<TAB>caption`` (relative paths);
- ``hf``: a hub dataset (or a local dataset folder) read with ``datasets``, with
  configurable image and caption columns.
"""

from __future__ import annotations

import csv
from pathlib import Path

from .shapes import make_shapes
from .tables import write_pairs


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
    return write_pairs(out_dir, rows)


def from_hub(out_dir: str | Path, dataset_id: str, split: str, image_column: str, caption_column: str,
             limit: int | None = None, revision: str | None = None) -> Path:
    """Save a hub dataset's images as PNG files with their (first) caption."""
    from .hub import load_hub_dataset

    out_dir = Path(out_dir)
    data = load_hub_dataset(dataset_id, split=split, revision=revision)
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
    return write_pairs(out_dir, rows)


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
