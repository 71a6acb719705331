"""One entry to ``datasets.load_dataset`` for hub ids and local dataset folders alike."""

from __future__ import annotations

from pathlib import Path


def load_hub_dataset(dataset_id: str, name: str | None = None, split: str | None = None,
                     revision: str | None = None):
    """A hub dataset (``org/name``) or a local folder laid out like one, through the same call.

    ``datasets`` caches a local folder under its name and README, whatever its files
    hold: a folder rewritten in place would come back stale, so local folders are re-read.
    """
    import datasets

    fresh = "force_redownload" if Path(dataset_id).is_dir() else None
    return datasets.load_dataset(dataset_id, name, split=split, revision=revision, download_mode=fresh)


def undecoded_images(data, column: str):
    """The dataset with its image ``column`` left as stored (bytes or a path): the project's image loader
    decodes it, so a bad image is named (or skipped) instead of breaking the iteration."""
    import datasets

    if isinstance(data.features[column], datasets.Image):
        return data.cast_column(column, datasets.Image(decode=False))
    return data


def hub_image_source(value, dataset_id: str, split: str, index: int) -> tuple:
    """(source, name) of one stored image for ``images.load_image``: its bytes or its file, and how errors name it."""
    import io

    name = f"{dataset_id} [{split}] row {index}"
    if isinstance(value, dict):
        if value.get("bytes") is not None:
            return io.BytesIO(value["bytes"]), f"{name} ({value.get('path') or 'embedded bytes'})"
        value = value.get("path")
    if isinstance(value, str):
        return value, f"{name} ({value})"
    raise ValueError(f"{name}: the image column holds {type(value).__name__}, not an image, its bytes or a path")
