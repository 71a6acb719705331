"""Caption-image datasets: one caption and one image per id, prepared into text.tsv and images.tsv.

Sources:
- ``shapes``: rendered coloured shapes with captions that describe them (the offline demo);
- ``folder``: an image folder plus a TSV of ``image<TAB>caption`` (relative paths);
- ``hf``: a hub dataset (or a local dataset folder) read with ``datasets``, with
  configurable image and caption columns.

Folder and hub images are decoded once here (``image_screen``): a bad one fails the job, named,
or with ``on_bad_image: skip`` its pair is left out and listed.
"""

from __future__ import annotations

from pathlib import Path

from .image_screen import ImageScreen
from .shapes import make_shapes
from .tables import read_records, write_pairs


def from_folder(out_dir: str | Path, root: str | Path, captions: str | Path, limit: int | None = None,
                screen: ImageScreen | None = None) -> Path:
    """Index an image folder by a ``image<TAB>caption`` file; images stay where they are, each checked
    by ``screen`` (a bad one fails, or with ``on_bad_image: skip`` its pair is left out)."""
    root, captions, screen = Path(root), Path(captions), screen or ImageScreen()
    rows, line_of = [], {}
    for line_no, record in read_records(captions):
        if len(record) != 2:
            raise ValueError(f"{captions}:{line_no}: expected `image<TAB>caption`, found {len(record)} field(s) "
                             f"{record!r}; a tab or line break inside a caption must be in double quotes")
        if not record[1].strip():
            raise ValueError(f"{captions}:{line_no}: empty caption for {record[0]}")
        item_id = Path(record[0]).stem
        if item_id in line_of:
            raise ValueError(f"{captions}:{line_no}: id {item_id!r} (the image's file stem) is line "
                             f"{line_of[item_id]}'s too; each id must be one image with one caption")
        line_of[item_id] = line_no
        image = (root / record[0]).resolve()
        if not image.is_file():
            raise FileNotFoundError(f"{captions}:{line_no}: image {image} does not exist")
        if screen.load(item_id, image) is None:
            continue
        rows.append((item_id, record[1], str(image)))
        if limit and len(rows) >= limit:
            break
    screen.write(out_dir)
    return write_pairs(out_dir, rows)


def from_hub(out_dir: str | Path, dataset_id: str, split: str, image_column: str, caption_column: str,
             limit: int | None = None, revision: str | None = None, screen: ImageScreen | None = None) -> Path:
    """Save a hub dataset's images as RGB PNG files with their (first) caption; a bad image fails, or
    with ``on_bad_image: skip`` its pair is left out."""
    from .hub import hub_image_source, load_hub_dataset, undecoded_images

    out_dir, screen = Path(out_dir), screen or ImageScreen(dataset_id)
    data = load_hub_dataset(dataset_id, split=split, revision=revision)
    for column in (image_column, caption_column):
        if column not in data.column_names:
            raise KeyError(f"dataset {dataset_id}: no column {column!r}; columns are {data.column_names}")
    if limit:
        data = data.select(range(min(limit, len(data))))
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for index, record in enumerate(undecoded_images(data, image_column)):
        caption = record[caption_column]
        caption = caption[0] if isinstance(caption, list) and caption else caption
        item_id = f"{index:06d}"
        if not isinstance(caption, str) or not caption.strip():
            raise ValueError(f"dataset {dataset_id} (split {split}), row {index}: empty caption {caption!r}")
        image = screen.load(item_id, *hub_image_source(record[image_column], dataset_id, split, index))
        if image is None:
            continue
        relative = f"images/{item_id}.png"
        image.save(out_dir / relative)
        rows.append((item_id, caption, relative))
    screen.write(out_dir)
    return write_pairs(out_dir, rows)


def prepare(out_dir: str | Path, spec: dict, name: str | None = None) -> Path:
    """Prepare the dataset called ``name`` from its config entry."""
    source = spec["source"]
    if source == "shapes":  # rendered here, so there is no bad image to screen
        return make_shapes(out_dir, spec["size"], spec["image_size"], spec["seed"])
    screen = ImageScreen(name, spec.get("on_bad_image", "fail"))
    if source == "folder":
        return from_folder(out_dir, spec["root"], spec["captions"], spec.get("limit"), screen)
    if source == "hf":
        return from_hub(out_dir, spec["id"], spec["split"], spec["image_column"], spec["caption_column"],
                        spec.get("limit"), spec.get("revision"), screen)
    raise ValueError(f"unknown dataset source {source!r}")
