"""The one image loader: every image file or in-memory image becomes 8-bit RGB the way a viewer shows it.

``Image.convert("RGB")`` alone is not that: it clips 16-bit greyscale to white, drops a
palette's transparent index, ignores alpha and ignores EXIF orientation. ``to_rgb``:

- turns the image upright by its EXIF orientation;
- scales deep greyscale to 8 bits by its real depth: 16-bit modes (``I;16*``, and ``I``,
  which is what Pillow makes of 16-bit PNG/TIFF greyscale) by 1/257, so 65535 -> 255;
  float ``F`` is taken as 0..1 (the convention of float image arrays) and scaled by 255;
  out-of-range values are clipped;
- composites alpha (RGBA, LA, PA, a palette or colour key with transparency) over ``BACKGROUND``;
- converts everything else (CMYK, YCbCr, 1, L, ...) with Pillow.
"""

from __future__ import annotations

import os
from typing import IO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# White, as a page or a browser shows a transparent image (and as most photo datasets flatten
# cut-outs); black would turn dark line art on a transparent ground into an all-black image.
BACKGROUND = (255, 255, 255)

# Greyscale modes deeper than 8 bits, and the value that maps to 255.
_DEEP_GREY_FULL_SCALE = {"I;16": 65535, "I;16L": 65535, "I;16B": 65535, "I;16N": 65535, "I": 65535, "F": 1.0}
_ALPHA_MODES = {"RGBA", "RGBa", "LA", "PA"}
_ORIENTATION = 0x0112


class BadImageError(ValueError):
    """An image that cannot be decoded; the message names it, its dataset and what to do."""


def load_image(source: str | os.PathLike | IO[bytes], dataset: str | None = None, name: str | None = None):
    """The image at ``source`` (a path or a binary file object) as 8-bit RGB; ``name`` labels it in errors."""
    name = name or str(source)
    try:
        with Image.open(source) as image:
            image.load()  # decode now, inside the with-block, so a truncated file fails here
            return to_rgb(image)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as error:
        where = f" of dataset {dataset!r}" if dataset else ""
        raise BadImageError(
            f"image {name}{where} cannot be read ({type(error).__name__}: {error}). Replace or remove the file, "
            f"or set `on_bad_image: skip` on the dataset to leave such images out"
        ) from error


def to_rgb(image):
    """An in-memory PIL image as upright 8-bit RGB (the same image when it already is one)."""
    if image.getexif().get(_ORIENTATION, 1) != 1:
        image = ImageOps.exif_transpose(image)
    if image.mode in _DEEP_GREY_FULL_SCALE:
        image = _deep_grey_to_8bit(image)
    if "transparency" in image.info or image.mode in _ALPHA_MODES:
        return _flatten(image.convert("RGBA"))
    return image if image.mode == "RGB" else image.convert("RGB")


def _deep_grey_to_8bit(image):
    full_scale = _DEEP_GREY_FULL_SCALE[image.mode]
    values = np.asarray(image, dtype=np.float64) * (255 / full_scale)
    return Image.fromarray(np.clip(np.round(values), 0, 255).astype(np.uint8))


def _flatten(rgba):
    background = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")
