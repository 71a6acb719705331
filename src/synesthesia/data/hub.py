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
