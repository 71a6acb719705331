"""Every image of a dataset being prepared is decoded once, so a bad file stops (or is left out) at
preparation, named, instead of killing an extraction job hours later.

``on_bad_image: fail`` (the default) raises on the first bad image; ``skip`` leaves it out and lists
it in ``skipped_images.tsv`` (id, image, reason) beside the dataset's tables.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

from ..images import BadImageError, load_image

log = logging.getLogger(__name__)

SKIPPED_IMAGES = "skipped_images.tsv"
ON_BAD_IMAGE = ("fail", "skip")


class ImageScreen:
    def __init__(self, dataset: str | None = None, on_bad_image: str = "fail"):
        if on_bad_image not in ON_BAD_IMAGE:
            raise ValueError(f"on_bad_image must be one of {ON_BAD_IMAGE}, not {on_bad_image!r}")
        self.dataset, self.on_bad_image = dataset, on_bad_image
        self.skipped: list[tuple[str, str, str]] = []

    def load(self, item_id: str, source, name: str | None = None):
        """The image as RGB, or None when it is bad and skipped (``source``: a path or a binary file object)."""
        try:
            return load_image(source, self.dataset, name)
        except BadImageError as error:
            if self.on_bad_image == "fail":
                raise
            self.skipped.append((item_id, name or str(source), str(error.__cause__ or error)))
            return None

    def keep_readable(self, rows: list[tuple], root: str | Path) -> list[tuple]:
        """The rows (id, ..., image) whose image, a path absolute or relative to ``root``, loads."""
        return [row for row in rows if self.load(row[0], Path(root) / row[-1]) is not None]

    def write(self, out_dir: str | Path) -> Path:
        """The skipped images' table, header only when none were skipped, so a stale list never lingers."""
        path = Path(out_dir) / SKIPPED_IMAGES
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, delimiter="\t")
            writer.writerow(["id", "image", "reason"])
            writer.writerows(self.skipped)
        if self.skipped:
            log.warning("dataset %s: skipped %d unreadable images (on_bad_image: skip), listed in %s",
                        self.dataset, len(self.skipped), path)
        return path
