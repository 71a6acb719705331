"""The one image loader (synesthesia.images) on the files that ``convert("RGB")`` gets wrong, and
``on_bad_image`` in dataset preparation."""

from __future__ import annotations

import datasets
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from synesthesia.data.captions import prepare
from synesthesia.data.concept_images import prepare_images
from synesthesia.data.concepts import make_dictionary, write_dictionary
from synesthesia.data.image_screen import SKIPPED_IMAGES
from synesthesia.data.tables import read_table
from synesthesia.images import BACKGROUND, BadImageError, load_image, to_rgb
from synesthesia.models import load_encoder


def pixel(image, x=0, y=0) -> tuple:
    return tuple(int(v) for v in np.asarray(image)[y, x])


def save_png(tmp_path, name, image):
    path = tmp_path / name
    image.save(path)
    return path


def test_a_16_bit_png_loads_at_its_grey_level_not_white(tmp_path):
    path = save_png(tmp_path, "deep.png", Image.fromarray(np.full((4, 4), 0x8000, dtype=np.uint16)))
    with Image.open(path) as raw:
        assert raw.mode == "I;16" and raw.convert("RGB").getpixel((0, 0)) == (255, 255, 255)  # the bug
    image = load_image(path)
    assert image.mode == "RGB" and pixel(image) == (128, 128, 128)


@pytest.mark.parametrize("array, grey", [
    (np.full((2, 2), 65535, dtype=np.int32), 255),  # mode "I": 16-bit range, as older Pillow read 16-bit PNGs
    (np.full((2, 2), 257 * 40, dtype=np.int32), 40),
    (np.full((2, 2), 0.25, dtype=np.float32), 64),  # mode "F": 0..1
    (np.full((2, 2), 7.0, dtype=np.float32), 255),  # out of range: clipped
])
def test_deep_greyscale_modes_scale_by_their_depth(array, grey):
    assert pixel(to_rgb(Image.fromarray(array))) == (grey, grey, grey)


def test_a_palette_png_with_a_transparent_index_shows_the_background(tmp_path):
    image = Image.fromarray(np.array([[0, 1]], dtype=np.uint8), mode="P")
    image.putpalette([255, 0, 0, 0, 200, 0])
    path = tmp_path / "palette.png"
    image.save(path, transparency=0)
    loaded = load_image(path)
    assert pixel(loaded, 0) == BACKGROUND and pixel(loaded, 1) == (0, 200, 0)


def test_half_transparent_red_is_composited_over_white():
    alpha = 128
    loaded = to_rgb(Image.new("RGBA", (2, 2), (255, 0, 0, alpha)))
    white_share = 255 * (255 - alpha) / 255  # 0 * a + 255 * (1 - a)
    assert pixel(loaded)[0] == 255
    assert pixel(loaded)[1:] == pytest.approx((white_share, white_share), abs=1)
    assert pixel(to_rgb(Image.new("LA", (2, 2), (0, 0)))) == BACKGROUND


def test_a_cmyk_jpeg_comes_out_in_its_colour(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(path, quality=95)  # no cyan, full magenta+yellow: red
    assert pixel(load_image(path), 8, 8) == pytest.approx((255, 0, 0), abs=8)


def test_an_exif_rotated_jpeg_comes_out_upright(tmp_path):
    stored = Image.new("RGB", (40, 20), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 8, 8))  # a red marker at the stored top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation 6: shown rotated 90 degrees clockwise
    path = tmp_path / "rotated.jpg"
    stored.save(path, exif=exif.tobytes(), quality=95)
    loaded = load_image(path)
    assert loaded.size == (20, 40)
    assert pixel(loaded, 20 - 3, 3) == pytest.approx((255, 0, 0), abs=12)  # now at the top-right
    assert pixel(loaded, 3, 3) == pytest.approx((0, 0, 255), abs=12)


@pytest.mark.parametrize("content", ["truncated", "garbage", "missing"])
def test_an_unreadable_image_names_its_path_its_dataset_and_the_way_out(tmp_path, content):
    path = tmp_path / "bad.png"
    if content == "truncated":
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path)
        path.write_bytes(path.read_bytes()[:2000])
    elif content == "garbage":
        path.write_bytes(b"not an image at all")
    with pytest.raises(BadImageError) as error:
        load_image(path, dataset="my-photos")
    assert str(path) in str(error.value) and "my-photos" in str(error.value)
    assert "on_bad_image: skip" in str(error.value) and isinstance(error.value, ValueError)


# --- on_bad_image in dataset preparation ---------------------------------------------------------

def skipped_rows(out_dir) -> list[list[str]]:
    lines = (out_dir / SKIPPED_IMAGES).read_text(encoding="utf-8").splitlines()
    assert lines[0] == "id\timage\treason"
    return [line.split("\t") for line in lines[1:]]


@pytest.fixture
def photo_folder(tmp_path):
    """Three captioned images, the second one garbage."""
    root = tmp_path / "photos"
    root.mkdir()
    for name, grey in (("a", 10), ("c", 30)):
        Image.new("L", (8, 8), grey).save(root / f"{name}.png")
    (root / "b.png").write_bytes(b"\x89PNG broken")
    captions = tmp_path / "captions.tsv"
    captions.write_text("a.png\tfirst\nb.png\tsecond\nc.png\tthird\n", encoding="utf-8")
    return {"source": "folder", "root": str(root), "captions": str(captions)}


def test_skip_drops_the_bad_pair_and_lists_it(tmp_path, photo_folder):
    out = prepare(tmp_path / "out", {**photo_folder, "on_bad_image": "skip"}, "my-photos")
    assert read_table(out / "text.tsv")["text"].tolist() == ["first", "third"]
    assert read_table(out / "images.tsv")["id"].tolist() == ["a", "c"]
    skipped = skipped_rows(out)
    assert [row[:2] for row in skipped] == [["b", photo_folder["root"] + "/b.png"]]


def test_fail_stops_at_the_bad_image_naming_it_and_the_dataset(tmp_path, photo_folder):
    with pytest.raises(BadImageError, match=r"b\.png of dataset 'my-photos'"):
        prepare(tmp_path / "out", photo_folder, "my-photos")


def test_a_bad_hub_image_is_skipped_with_its_row(tmp_path):
    features = datasets.Features({"image": datasets.Image(), "caption": datasets.Value("string")})
    good = Image.fromarray(np.full((8, 8), 0x8000, dtype=np.uint16))  # stored 16-bit: saved as grey 128
    data = datasets.Dataset.from_dict(
        {"image": [good, {"bytes": b"garbage", "path": "x.png"}], "caption": ["good", "bad"]}, features=features
    )
    data.to_parquet(str(tmp_path / "hub" / "test.parquet"))
    spec = {"source": "hf", "id": str(tmp_path / "hub"), "split": "test", "image_column": "image",
            "caption_column": "caption", "on_bad_image": "skip"}
    out = prepare(tmp_path / "out", spec, "hubset")
    images = read_table(out / "images.tsv")
    assert read_table(out / "text.tsv")["text"].tolist() == ["good"]
    assert pixel(Image.open(images["image"][0])) == (128, 128, 128)
    assert [row[0] for row in skipped_rows(out)] == ["000001"]


def concept_folder(tmp_path, files: dict[str, list[str]]):
    root = tmp_path / "imagenet"
    for concept, names in files.items():
        (root / concept).mkdir(parents=True)
        for name in names:
            if name.startswith("bad"):
                (root / concept / name).write_bytes(b"garbage")
            else:
                Image.new("RGB", (8, 8), (1, 2, 3)).save(root / concept / name)
    dictionary = write_dictionary(make_dictionary(None, "d", "test", {c: [f"w{c}"] for c in files}),
                                  tmp_path / "d.json")
    return root, dictionary


def test_skip_replaces_a_bad_concept_image_by_the_next_and_lists_it(tmp_path):
    root, dictionary = concept_folder(tmp_path, {"n1": ["a.png", "bad.png", "c.png"], "n2": ["x.png"]})
    spec = {"per_concept": 2, "images": {"source": "folder", "root": str(root), "on_bad_image": "skip"}}
    table = pd.read_csv(prepare_images(tmp_path / "out", dictionary, spec, "concepts"), sep="\t")
    assert [(c, p.rsplit("/", 1)[1]) for c, p in zip(table["id"], table["image"])] == [
        ("n1", "a.png"), ("n1", "c.png"), ("n2", "x.png")]
    assert [row[:2] for row in skipped_rows(tmp_path / "out")] == [["n1", str(root / "n1/bad.png")]]


def test_a_concept_whose_every_image_is_bad_is_an_error_naming_it(tmp_path):
    root, dictionary = concept_folder(tmp_path, {"n1": ["a.png"], "n2": ["bad1.png", "bad2.png"]})
    spec = {"per_concept": 2, "images": {"source": "folder", "root": str(root), "on_bad_image": "skip"}}
    with pytest.raises(ValueError, match=r"concepts.*\['n2'\]"):
        prepare_images(tmp_path / "out", dictionary, spec, "concepts")
    with pytest.raises(BadImageError, match=r"bad1\.png of dataset 'concepts'"):
        prepare_images(tmp_path / "out", dictionary, {**spec, "images": {**spec["images"], "on_bad_image": "fail"}},
                       "concepts")


# --- every model source sees a 16-bit image as its 8-bit equivalent ------------------------------

VISION_SOURCES = {
    "hf": ("clip", {"source": "hf", "modality": "vision", "family": "clip", "pooling": "projection"}),
    "open_clip": ("open-clip", {"source": "open_clip", "modality": "vision", "pooling": "projection"}),
    "timm": ("resnet-timm", {"source": "timm", "modality": "vision"}),
    "torchvision": ("resnet-torchvision", {"source": "torchvision", "id": "resnet18", "modality": "vision",
                                           "image_size": 64}),
}


@pytest.fixture(scope="module")
def grey_pair(tmp_path_factory):
    """The same gradient as an 8-bit and a 16-bit PNG (v -> 257 v)."""
    folder = tmp_path_factory.mktemp("grey")
    levels = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (64, 1))
    return (save_png(folder, "8.png", Image.fromarray(levels)),
            save_png(folder, "16.png", Image.fromarray(levels.astype(np.uint16) * 257)))


@pytest.mark.parametrize("source", VISION_SOURCES)
def test_every_source_transforms_a_16_bit_png_as_its_8_bit_equivalent(source, tiny_models, grey_pair):
    folder, entry = VISION_SOURCES[source]
    entry = ({**entry, "weights": str(tiny_models / folder / "model.safetensors")} if source == "torchvision"
             else {**entry, "id": str(tiny_models / folder)})
    transform = load_encoder(f"tiny-{source}", entry, device="cpu").image_transform()
    eight, sixteen = grey_pair
    with Image.open(eight) as image8, Image.open(sixteen) as image16:
        assert image16.mode == "I;16"
        expected = transform(image8)
        assert torch.equal(transform(image16), expected)  # the raw file, through the transform's to_rgb
    assert torch.equal(transform(load_image(sixteen)), expected)  # and through the loader
