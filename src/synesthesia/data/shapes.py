"""Rendered coloured shapes: the offline demo's caption pairs and concepts.

Every image is drawn with PIL from (colour, shape, size, position), so its caption
and its concept are true by construction.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

from .tables import write_pairs

COLORS = {
    "red": (220, 30, 30), "green": (30, 170, 60), "blue": (30, 70, 220), "yellow": (240, 220, 30),
    "purple": (140, 40, 180), "orange": (250, 140, 20), "black": (20, 20, 20), "white": (250, 250, 250),
}
SHAPES = ("circle", "square", "triangle", "diamond", "cross")
SIZES = {"small": 0.3, "large": 0.6}
POSITIONS = {"left": 0.3, "centre": 0.5, "right": 0.7}
BACKGROUND = (128, 128, 128)


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


def shape_caption(color: str, shape: str, size: str, position: str) -> str:
    return f"a {size} {color} {shape} on the {position}"


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
        rows.append((item_id, shape_caption(color, shape, size, position), relative))
    return write_pairs(out_dir, rows)


# Concepts: one per (colour, shape). Some shapes have a synonym, so some concepts have two aliases.
SHAPE_SYNONYMS = {"circle": ("disc",), "diamond": ("rhombus",)}


def shape_concept(color: str, shape: str) -> str:
    return f"shape.{color}_{shape}"


def shapes_dictionary() -> dict[str, list[str]]:
    return {
        shape_concept(color, shape): [f"{color}_{name}" for name in (shape, *SHAPE_SYNONYMS.get(shape, ()))]
        for color in COLORS for shape in SHAPES
    }


def concept_images(out_dir: str | Path, per_concept: int, image_size: int, seed: int) -> list[tuple[str, str]]:
    """``per_concept`` renderings of each concept at seeded sizes and positions; (concept, image) rows."""
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    rows = []
    for color in COLORS:
        for shape in SHAPES:
            concept = shape_concept(color, shape)
            for index in range(per_concept):
                size, position = rng.choice(list(SIZES)), rng.choice(list(POSITIONS))
                relative = f"images/{concept}_{index:03d}.png"
                render_shape(color, shape, size, position, image_size).save(out_dir / relative)
                rows.append((concept, relative))
    return rows
