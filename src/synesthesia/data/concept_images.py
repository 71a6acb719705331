"""Images of each concept (synset) of a dictionary, for per-concept vision embeddings.

Sources: an ImageFolder-style root (``root/<wnid>/*.JPEG``, as users keep
ImageNet-21K), a hub dataset with an image and a label column whose values are the
concept ids, or (demo) rendered shapes. At most ``per_concept`` images per concept,
in sorted file order so a rerun picks the same ones. Folder and hub images are decoded
once here (``image_screen``): a bad one fails the job, named, or with ``on_bad_image: skip``
it is left out (the next one takes its place) and listed.
"""

from __future__ import annotations

import itertools
import logging
from pathlib import Path
from typing import Iterable

from .image_screen import SKIPPED_IMAGES, ImageScreen
from .tables import write_image_table

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png", ".webp", ".bmp"}


def folder_rows(root: str | Path, concepts: Iterable[str], per_concept: int,
                screen: ImageScreen | None = None) -> list[tuple[str, str]]:
    root, screen = Path(root), screen or ImageScreen()
    if not root.is_dir():
        raise FileNotFoundError(f"image root {root} does not exist")
    rows, missing = [], []
    for concept in concepts:
        folder = root / concept
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
        if not files:
            missing.append(concept)
        readable = (path for path in files if screen.load(concept, path) is not None)
        rows += [(concept, str(path.resolve())) for path in itertools.islice(readable, per_concept)]
    if missing:
        log.warning("%d concepts have no images under %s and are left out, e.g. %s", len(missing), root, missing[:5])
    return rows


def hub_rows(out_dir: str | Path, dataset_id: str, split: str, image_column: str, label_column: str,
             concepts: Iterable[str], per_concept: int, revision: str | None = None,
             screen: ImageScreen | None = None) -> list[tuple[str, str]]:
    """Save up to ``per_concept`` images per concept from a hub dataset as RGB PNG files."""
    from .hub import hub_image_source, load_hub_dataset, undecoded_images

    screen = screen or ImageScreen(dataset_id)
    data = undecoded_images(load_hub_dataset(dataset_id, split=split, revision=revision), image_column)
    feature = data.features[label_column]
    names = feature.names if hasattr(feature, "names") else None
    wanted = set(concepts)
    counts: dict[str, int] = {}
    rows = []
    folder = Path(out_dir) / "images"
    folder.mkdir(parents=True, exist_ok=True)
    for index, record in enumerate(data):
        label = record[label_column]
        concept = names[label] if names else str(label)
        if concept not in wanted or counts.get(concept, 0) >= per_concept:
            continue
        image = screen.load(concept, *hub_image_source(record[image_column], dataset_id, split, index))
        if image is None:
            continue
        counts[concept] = counts.get(concept, 0) + 1
        path = folder / f"{concept}_{counts[concept]:04d}.png"
        image.save(path)
        rows.append((concept, f"images/{path.name}"))
    return rows


def image_table(out_dir: str | Path, rows: list[tuple[str, str]]) -> Path:
    return write_image_table(out_dir, rows)


def prepare_images(out_dir: str | Path, dictionary_path: str | Path, spec: dict, name: str | None = None) -> Path:
    """The image table of a concept dataset: up to ``per_concept`` images of every dictionary concept."""
    from .concepts import read_dictionary
    from .shapes import concept_images

    concepts = sorted(read_dictionary(dictionary_path).concepts)
    source, per_concept = spec["images"], spec["per_concept"]
    if source["source"] == "shapes":  # rendered here, so there is no bad image to screen
        wanted = set(concepts)
        rows = [row for row in concept_images(out_dir, per_concept, source["image_size"], source["seed"])
                if row[0] in wanted]
        return image_table(out_dir, rows)
    screen = ImageScreen(name, source.get("on_bad_image", "fail"))
    if source["source"] == "folder":
        rows = folder_rows(source["root"], concepts, per_concept, screen)
    else:
        rows = hub_rows(out_dir, source["id"], source["split"], source["image_column"], source["label_column"],
                        concepts, per_concept, source.get("revision"), screen)
    screen.write(out_dir)
    emptied = sorted({concept for concept, *_ in screen.skipped} - {concept for concept, _ in rows})
    if emptied:
        raise ValueError(f"dataset {name}: every image of {len(emptied)} concepts is unreadable, e.g. "
                         f"{emptied[:5]}; see {Path(out_dir) / SKIPPED_IMAGES}. Fix or replace those images")
    return image_table(out_dir, rows)
