"""The demo's stand-ins for data that cannot be downloaded here, built from the shapes' attributes.

CxC- and COCO-shaped STS files (:func:`make_demo_sts`): each demo "image" is one
combination of the shapes' four attributes, with five captions that describe it in
different words. Raters' scores follow how many attributes the two captions' images
share (all four for one image), with some noise, as CxC's raters agree imperfectly.
"""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

from .shapes import COLORS, POSITIONS, SHAPES, SIZES

_DEMO_CAPTIONS = (
    "a {size} {colour} {shape} on the {position}",
    "there is {a_colour} {colour} {shape} on the {position} side",
    "on the {position} , a {size} {shape} coloured {colour}",
    "the {shape} is {colour} and {size} , on the {position}",
    "{a_colour} {colour} {shape} , {size} , placed on the {position}",
)
DEMO_IMAGES = 40
DEMO_SAME_IMAGE_PAIRS = 2  # per image
DEMO_OTHER_IMAGE_PAIRS = 4  # per image
_DEMO_FIRST_ANNOTATION = 1000


def _shared_attributes(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    return sum(x == y for x, y in zip(a, b))


def make_demo_sts(out_dir: str | Path, seed: int = 0) -> tuple[Path, Path]:
    """Write ``sts_val.csv`` (CxC's columns and id form) and ``captions_val2014.json`` (COCO's format)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    images = rng.sample(list(itertools.product(COLORS, SHAPES, SIZES, POSITIONS)), DEMO_IMAGES)
    annotations, captions_of = [], []
    for image_id, (colour, shape, size, position) in enumerate(images, start=1):
        ids = []
        for template in _DEMO_CAPTIONS:
            annotation_id = _DEMO_FIRST_ANNOTATION + len(annotations)
            caption = template.format(colour=colour, shape=shape, size=size, position=position,
                                      a_colour="an" if colour[0] in "aeiou" else "a")
            annotations.append({"image_id": image_id, "id": annotation_id, "caption": caption + " ."})
            ids.append(annotation_id)
        captions_of.append(ids)
    coco = {"info": {"description": "synesthesia demo captions in MS-COCO's format"},
            "images": [{"id": image_id, "file_name": f"COCO_val2014_{image_id:012d}.jpg", "width": 64, "height": 64}
                       for image_id in range(1, len(images) + 1)],
            "annotations": annotations}
    captions_path = out_dir / "captions_val2014.json"
    captions_path.write_text(json.dumps(coco), encoding="utf-8")

    rows = []
    for index, ids in enumerate(captions_of):
        for first, second in rng.sample(list(itertools.combinations(ids, 2)), DEMO_SAME_IMAGE_PAIRS):
            rows.append((first, second, index, index, "c2c_cocaption"))
        others = rng.sample([i for i in range(len(images)) if i != index], DEMO_OTHER_IMAGE_PAIRS)
        for other in others:
            rows.append((rng.choice(ids), rng.choice(captions_of[other]), index, other, "c2c_isim"))
    with open(out_dir / "sts_val.csv", "w", encoding="utf-8") as handle:
        handle.write("caption1,caption2,agg_score,sampling_method\n")
        for first, second, image_a, image_b, method in rows:
            shared = _shared_attributes(images[image_a], images[image_b])
            score = min(5.0, max(0.0, 5 * shared / 4 + rng.uniform(-0.5, 0.5)))
            handle.write(f"COCO_val2014:sentid:{first},COCO_val2014:sentid:{second},{score:.2f},{method}\n")
    return out_dir / "sts_val.csv", captions_path
