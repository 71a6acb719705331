"""Model options that reproduce what a study's code did, and the studies' grid in config.yaml.

The options (schema $defs.model): ViT-MAE's random masking (`mask_ratio`, seeded per image),
the input size of hf vision models (`image_size`), transformers' slow PIL image processors
(`image_backend: pil`) and img2vec_pytorch's uncropped resize for torchvision models
(`center_crop: false`). Everything runs on the tiny offline models, on the CPU in float32.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import yaml
from conftest import ROOT, SCHEMA

from synesthesia.config import ConfigError, validate_config
from synesthesia.data.tables import read_table
from synesthesia.models import load_encoder
from synesthesia.models.hf import image_seed, mae_noise

ATOL = 1e-5
N_ITEMS = 4


def hf_vision(tiny_models, folder: str, **options) -> dict:
    return {"source": "hf", "id": str(tiny_models / folder), "modality": "vision", "pooling": "mean", **options}


def load(name: str, entry: dict):
    return load_encoder(name, entry, device="cpu")


@pytest.fixture(scope="module")
def images(shapes_dir) -> list:
    from PIL import Image

    loaded = []
    for path in read_table(shapes_dir / "images.tsv")["image"].tolist()[:N_ITEMS]:
        with Image.open(path) as image:
            loaded.append(image.convert("RGB"))
    return loaded


def pixels(encoder, images) -> torch.Tensor:
    transform = encoder.image_transform()
    return torch.stack([transform(image) for image in images])


def forward_outputs(encoder, batch: torch.Tensor) -> tuple[torch.Tensor, list]:
    """The encoder's vectors and the raw outputs of every forward pass its model made."""
    outputs = []
    hook = encoder.model.register_forward_hook(lambda module, args, output: outputs.append(output))
    try:
        return encoder.encode_images(batch), outputs
    finally:
        hook.remove()


# --- ViT-MAE masking ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mae(tiny_models):
    return {ratio: load(f"mae-{ratio}", hf_vision(tiny_models, "mae", mask_ratio=ratio)) for ratio in (0.0, 0.75)}


def test_mask_ratio_075_keeps_a_quarter_of_the_patches_and_averages_them(tiny_models, mae, images):
    import transformers

    encoder = mae[0.75]
    assert encoder.model.config.mask_ratio == 0.75
    batch = pixels(encoder, images)
    vectors, outputs = forward_outputs(encoder, batch)
    out = outputs[0]
    n_patches = out.mask.shape[1]  # 16 patches of 8 x 8 pixels in a 32-pixel image
    assert n_patches == 16
    assert (out.mask == 0).sum(dim=1).tolist() == [n_patches // 4] * len(images)
    assert out.last_hidden_state.shape[1] == 1 + n_patches // 4  # CLS + the kept patches
    # Different images draw different masks.
    assert len({tuple(row.tolist()) for row in out.mask}) > 1

    # The vector is the mean of the kept patches (CLS excluded) under the same noise.
    noise = mae_noise(batch, patch_size=8, mask_ratio=0.75)
    model = transformers.ViTMAEModel.from_pretrained(tiny_models / "mae", mask_ratio=0.75).eval()
    with torch.inference_mode():
        hand = model(pixel_values=batch, noise=noise)
    assert torch.equal(hand.mask, out.mask)
    torch.testing.assert_close(vectors, hand.last_hidden_state[:, 1:].mean(dim=1), atol=ATOL, rtol=0)


def test_mask_ratio_075_is_deterministic_across_runs_loads_and_batches(tiny_models, mae, images):
    encoder = mae[0.75]
    batch = pixels(encoder, images)
    first = encoder.encode_images(batch)
    torch.manual_seed(123)  # the global generator plays no part
    assert torch.equal(first, encoder.encode_images(batch))
    reloaded = load("mae-again", hf_vision(tiny_models, "mae", mask_ratio=0.75))
    assert torch.equal(first, reloaded.encode_images(batch))
    # An image's mask depends on the image only: one at a time, or in another order, gives its vector.
    one_at_a_time = torch.cat([encoder.encode_images(batch[i : i + 1]) for i in range(len(images))])
    torch.testing.assert_close(first, one_at_a_time, atol=ATOL, rtol=0)
    order = torch.tensor([2, 0, 3, 1])
    torch.testing.assert_close(encoder.encode_images(batch[order]), first[order], atol=ATOL, rtol=0)


def test_mask_ratio_075_differs_from_no_masking(mae, images):
    batch = pixels(mae[0.0], images)
    unmasked, masked = mae[0.0].encode_images(batch), mae[0.75].encode_images(batch)
    assert unmasked.shape == masked.shape
    assert (unmasked - masked).abs().max() > 1e-3
    assert mae[0.0].provenance()["mask_ratio"] == 0.0 and mae[0.75].provenance()["mask_ratio"] == 0.75


def test_mae_noise_ascends_without_masking_and_is_seeded_by_the_image():
    images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert torch.equal(mae_noise(images, 8, 0.0), torch.arange(16.0).expand(3, -1))
    noise = mae_noise(images, 8, 0.75)
    assert noise.shape == (3, 16)
    assert torch.equal(noise[1], mae_noise(images[1:2], 8, 0.75)[0])
    assert image_seed(images[0]) == image_seed(images[0].clone()) != image_seed(images[1])
    # A cast to the model's dtype happens after the seed is drawn: the fp32 pixels decide it.
    assert image_seed(images[0].double()) == image_seed(images[0])


def test_mask_ratio_on_a_model_other_than_vit_mae_is_refused_naming_it(tiny_models):
    with pytest.raises(ValueError, match=r"model 'vit-masked': mask_ratio applies to ViT-MAE models only.*'vit'"):
        load("vit-masked", hf_vision(tiny_models, "vit", pooling="cls", mask_ratio=0.5))


# --- input size and image processor backend of hf vision models -----------------------------------

def test_image_size_changes_segformer_input_and_grid_but_not_the_vector_size(tiny_models, images):
    default = load("segformer-32", hf_vision(tiny_models, "segformer"))
    larger = load("segformer-64", hf_vision(tiny_models, "segformer", image_size=64))
    small_batch, large_batch = pixels(default, images), pixels(larger, images)
    assert small_batch.shape[1:] == (3, 32, 32) and large_batch.shape[1:] == (3, 64, 64)
    small, small_out = forward_outputs(default, small_batch)
    large, large_out = forward_outputs(larger, large_batch)
    small_grid, large_grid = small_out[0].last_hidden_state.shape[2:], large_out[0].last_hidden_state.shape[2:]
    assert large_grid[0] == 2 * small_grid[0] and large_grid[1] == 2 * small_grid[1]
    assert small.shape == large.shape == (len(images), 32)
    torch.testing.assert_close(large, large_out[0].last_hidden_state.mean(dim=(2, 3)), atol=ATOL, rtol=0)
    assert larger.provenance()["image_size"] == 64


@pytest.mark.parametrize(
    "folder, options",
    [("mae", {"mask_ratio": 0.75}), ("vit", {"pooling": "cls"}), ("clip", {"family": "clip", "pooling": "projection"})],
)
def test_image_size_interpolates_position_embeddings_of_vit_towers(folder, options, tiny_models, images):
    native = load(f"{folder}-32", hf_vision(tiny_models, folder, **options))
    larger = load(f"{folder}-64", hf_vision(tiny_models, folder, image_size=64, **options))
    batch = pixels(larger, images)
    assert batch.shape[1:] == (3, 64, 64)  # CLIP: shortest edge and centre crop both 64
    vectors = larger.encode_images(batch)
    assert vectors.shape == native.encode_images(pixels(native, images)).shape
    assert torch.isfinite(vectors).all()


def test_image_backend_pil_runs_the_slow_processor(tiny_models, images):
    import transformers

    default = load("segformer-default", hf_vision(tiny_models, "segformer"))
    slow = load("segformer-pil", hf_vision(tiny_models, "segformer", image_backend="pil", image_size=64))
    reference = transformers.AutoImageProcessor.from_pretrained(
        tiny_models / "segformer", backend="pil", size={"height": 64, "width": 64}
    )
    expected = torch.cat([reference(images=image, return_tensors="pt")["pixel_values"] for image in images])
    assert torch.equal(pixels(slow, images), expected)
    assert type(slow.processor) is not type(default.processor)


# --- torchvision: img2vec_pytorch's uncropped resize ----------------------------------------------

def img2vec_pixels(image, size: int) -> torch.Tensor:
    """img2vec_pytorch 1.0.1's preprocessing: Resize((size, size)), ToTensor, ImageNet normalisation."""
    from torchvision import transforms

    scaler = transforms.Resize((size, size))
    normalize = transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
    return normalize(transforms.ToTensor()(scaler(image)))


@pytest.fixture(scope="module")
def wide_image():
    from PIL import Image

    values = np.random.default_rng(0).integers(0, 256, size=(60, 100, 3), dtype=np.uint8)
    return Image.fromarray(values)


def test_center_crop_false_squashes_the_whole_image_as_img2vec(tiny_models, wide_image):
    entry = {"source": "torchvision", "id": "resnet18", "modality": "vision", "image_size": 64,
             "weights": str(tiny_models / "resnet-torchvision" / "model.safetensors")}
    cropped = load("resnet-crop", entry).image_transform()(wide_image)
    squashed = load("resnet-squash", {**entry, "center_crop": False}).image_transform()(wide_image)
    assert cropped.shape == squashed.shape == (3, 64, 64)
    assert torch.equal(squashed, img2vec_pixels(wide_image, 64))
    assert not torch.allclose(cropped, squashed)


def test_center_crop_false_with_weights_enum_keeps_its_normalisation(monkeypatch, wide_image):
    import torchvision

    get_model = torchvision.models.get_model
    # No download: the architecture with random weights, whatever enum is asked for.
    monkeypatch.setattr(torchvision.models, "get_model", lambda name, weights=None: get_model(name, weights=None))
    entry = {"source": "torchvision", "id": "resnet18", "weights": "IMAGENET1K_V1", "modality": "vision"}
    squashed = load("resnet-v1-squash", {**entry, "center_crop": False}).image_transform()(wide_image)
    assert torch.equal(squashed, img2vec_pixels(wide_image, 224))
    cropped = load("resnet-v1", entry).image_transform()(wide_image)
    assert cropped.shape == squashed.shape and not torch.allclose(cropped, squashed)


# --- schema ---------------------------------------------------------------------------------------

@pytest.fixture
def demo() -> dict:
    return yaml.safe_load((ROOT / "demo" / "config.yaml").read_text())


def refusal(config: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        validate_config(config, SCHEMA, root=ROOT)
    assert "\n" not in str(caught.value)
    return str(caught.value)


@pytest.mark.parametrize(
    "model, options",
    [
        ("tiny-mae", {"mask_ratio": 0.75, "image_size": 64, "image_backend": "pil"}),
        ("tiny-mae", {"mask_ratio": 0}),
        ("tiny-segformer", {"image_size": 512, "image_backend": "torchvision"}),
        ("tiny-resnet", {"center_crop": False, "image_size": 224}),
    ],
)
def test_schema_accepts_the_study_options(demo, model, options):
    demo["models"][model].update(options)
    validated = validate_config(demo, SCHEMA, root=ROOT)
    assert {key: validated["models"][model][key] for key in options} == options
    # No defaults are filled in: an entry without the options keeps its canonical params (no reruns).
    others = [entry for name, entry in validated["models"].items() if name != model]
    assert not any({"mask_ratio", "image_backend", "center_crop"} & set(entry) for entry in others)


@pytest.mark.parametrize(
    "model, options, expected",
    [
        ("tiny-mae", {"mask_ratio": 1},
         r"models\.tiny-mae\.mask_ratio: 1 is greater than or equal to the maximum of 1"),
        ("tiny-mae", {"mask_ratio": 1.5}, r"models\.tiny-mae\.mask_ratio: 1\.5 is greater than or equal"),
        ("tiny-mae", {"mask_ratio": -0.1}, r"models\.tiny-mae\.mask_ratio: -0\.1 is less than the minimum of 0"),
        ("tiny-mae", {"mask_ratio": "most"}, r"models\.tiny-mae\.mask_ratio: 'most' is not of type 'number'"),
        ("tiny-resnet", {"mask_ratio": 0.5}, r"models\.tiny-resnet\.mask_ratio: .*for source hf \(ViT-MAE\) only"),
        ("tiny-bert", {"mask_ratio": 0.5}, r"models\.tiny-bert\.mask_ratio: .*a vision-model option"),
        ("tiny-bert", {"image_size": 64}, r"models\.tiny-bert\.image_size: .*a vision-model option"),
        ("tiny-timm-resnet", {"image_size": 64}, r"models\.tiny-timm-resnet\.image_size: .*hf and torchvision only"),
        ("tiny-segformer", {"center_crop": False}, r"models\.tiny-segformer\.center_crop: .*torchvision only"),
        ("tiny-openclip-vision", {"image_backend": "pil"}, r"models\.tiny-openclip-vision\.image_backend: .*hf only"),
        ("tiny-mae", {"image_backend": "cv2"}, r"models\.tiny-mae\.image_backend: 'cv2' is not one of"),
    ],
)
def test_schema_refuses_bad_study_options_naming_the_key(demo, model, options, expected):
    demo["models"][model].update(options)
    assert re.search(expected, refusal(demo))


# --- the studies' grid in config.yaml -------------------------------------------------------------

# The second study's model table (jiaangli/VLCA, src/config.py and its history), as this project names
# the same weights: hub ids moved to their current organisations (bert-base-uncased ->
# google-bert/..., gpt2 -> openai-community/..., meta/Llama-2 -> meta-llama/Llama-2), torchvision
# architectures for img2vec_pytorch's ResNets, open_clip's -quickgelu configs for OpenAI's CLIP.
STUDY_LANGUAGE_MODELS = {
    "google/bert_uncased_L-2_H-128_A-2", "google/bert_uncased_L-4_H-256_A-4",
    "google/bert_uncased_L-4_H-512_A-8", "google/bert_uncased_L-8_H-512_A-8",
    "google-bert/bert-base-uncased", "google-bert/bert-large-uncased",
    "openai-community/gpt2", "openai-community/gpt2-medium", "openai-community/gpt2-large", "openai-community/gpt2-xl",
    "facebook/opt-125m", "facebook/opt-1.3b", "facebook/opt-6.7b", "facebook/opt-30b",
    "meta-llama/Llama-2-7b-hf", "meta-llama/Llama-2-13b-hf",
}
# In a commented block of config.yaml: they need more than one GPU.
STUDY_MULTI_GPU_LANGUAGE_MODELS = {"facebook/opt-66b", "meta-llama/Llama-2-70b-hf"}
STUDY_VISION_MODELS = {
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "nvidia/segformer-b0-finetuned-ade-512-512", "nvidia/segformer-b1-finetuned-ade-512-512",
    "nvidia/segformer-b2-finetuned-ade-512-512", "nvidia/segformer-b3-finetuned-ade-512-512",
    "nvidia/segformer-b4-finetuned-ade-512-512", "nvidia/segformer-b5-finetuned-ade-640-640",
    "facebook/vit-mae-base", "facebook/vit-mae-large", "facebook/vit-mae-huge",
    "RN50-quickgelu", "RN101-quickgelu", "RN50x64-quickgelu", "ViT-B-32-quickgelu", "ViT-L-14-quickgelu",
}
FIRST_STUDY_STS_EXTRA = {
    "princeton-nlp/unsup-simcse-bert-base-uncased", "princeton-nlp/unsup-simcse-bert-large-uncased",
    "princeton-nlp/unsup-simcse-roberta-base", "princeton-nlp/unsup-simcse-roberta-large",
}


@pytest.fixture(scope="module")
def grid() -> dict:
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def test_concepts_grid_is_the_second_studys_model_table(grid):
    models, concepts = grid["models"], grid["experiments"]["concepts"]
    assert {models[name]["id"] for name in concepts["text_models"]} == STUDY_LANGUAGE_MODELS
    assert {models[name]["id"] for name in concepts["vision_models"]} == STUDY_VISION_MODELS
    assert len(concepts["vision_models"]) == len(STUDY_VISION_MODELS)
    # The two largest are in a commented block (enabling one is uncommenting it and naming it in text_models).
    text = (ROOT / "config.yaml").read_text()
    assert all(model in text for model in STUDY_MULTI_GPU_LANGUAGE_MODELS)
    assert not {entry["id"] for entry in models.values()} & STUDY_MULTI_GPU_LANGUAGE_MODELS


def test_concepts_grid_pools_and_sizes_as_the_study_did(grid):
    models, concepts = grid["models"], grid["experiments"]["concepts"]
    for name in concepts["text_models"]:
        entry = models[name]
        assert entry["word_pooling"] == ("mean" if entry["family"] == "bert" else "last"), name
        # The study ran BERT and GPT-2 in float32; OPT and LLaMA-2 in float16, which this project
        # replaces by its bf16 default (float16 overflows in large LMs).
        assert entry.get("dtype") == ("float32" if entry["family"] in ("bert", "gpt2") else None), name
    for name in concepts["vision_models"]:
        entry = models[name]
        assert "mask_ratio" not in entry, name  # deterministic by default; 0.75 is the study's option
        if entry["family"] == "resnet":
            assert (entry["source"], entry["weights"], entry["center_crop"], entry["image_size"]) == (
                "torchvision", "IMAGENET1K_V1", False, 224), name
        elif entry["family"] == "segformer":
            assert entry["image_size"] == int(entry["id"][-3:]) and entry["pooling"] == "mean", name
        elif entry["family"] == "mae":
            assert (entry["pooling"], entry["layer"]) == ("mean", -1), name
        else:
            assert (entry["source"], entry["pretrained"], entry["pooling"], entry["dtype"]) == (
                "open_clip", "openai", "projection", "float16"), name
        if entry["source"] != "open_clip":
            assert entry["dtype"] == "float32", name


def test_first_study_grid_keeps_its_encoders_adds_simcse_and_fine_tunes(grid):
    models, experiments = grid["models"], grid["experiments"]
    glue = experiments["glue"]
    assert glue["finetune"]["enabled"] is True
    assert {"bert-base-cased", "bert-large-cased", "roberta-base", "roberta-large", "clip-vit-b32-text",
            "clip-vit-l14-336-text", "openclip-b32-laion-text"} <= set(glue["models"])
    assert all(models[name].get("max_length") == 128 for name in glue["models"] if models[name]["family"] == "bert")
    sts_ids = {models[name]["id"] for name in experiments["sts"]["models"]}
    assert FIRST_STUDY_STS_EXTRA <= sts_ids
    assert set(glue["models"]) <= set(experiments["sts"]["models"])
    assert all(models[name]["pooling"] == "cls" for name in experiments["sts"]["models"]
               if models[name]["id"] in FIRST_STUDY_STS_EXTRA)
