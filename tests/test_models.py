"""Encoders of synesthesia.models checked against hand computations on the tiny offline models.

Every encoder runs on the CPU in float32 so that hand computations agree to ATOL.
"""

from __future__ import annotations

from importlib.metadata import version

import pytest
import torch

from synesthesia.data.tables import read_table
from synesthesia.embed import NonFiniteEmbeddingError, check_finite
from synesthesia.models import load_encoder
from synesthesia.models.pooling import cls_pool, eos_pool, last_token_index, mean_pool

ATOL = 1e-5
N_ITEMS = 4


def _hf(modality: str, family: str, pooling: str) -> dict:
    return {"source": "hf", "modality": modality, "family": family, "pooling": pooling}


def _open_clip(modality: str, pooling: str) -> dict:
    return {"source": "open_clip", "modality": modality, "pooling": pooling}


# name -> (tiny model folder, config entry without its id, vector dimension)
TEXT_ENCODERS = {
    "bert-mean": ("bert", _hf("text", "bert", "mean"), 32),
    "minilm-mean": ("minilm", _hf("text", "bert", "mean"), 384),
    "clip-text-projection": ("clip", _hf("text", "clip", "projection"), 16),
    "clip-text-pooler": ("clip", _hf("text", "clip", "pooler"), 32),
    "gpt2-eos": ("gpt2", _hf("text", "causal", "eos"), 32),
    "opt-eos": ("opt", _hf("text", "causal", "eos"), 32),
    "open-clip-text-projection": ("open-clip", _open_clip("text", "projection"), 16),
    "open-clip-text-pooler": ("open-clip", _open_clip("text", "pooler"), 32),
}
VISION_ENCODERS = {
    "clip-vision-projection": ("clip", _hf("vision", "clip", "projection"), 16),
    "clip-vision-pooler": ("clip", _hf("vision", "clip", "pooler"), 32),
    "vit-cls": ("vit", _hf("vision", "vit", "cls"), 32),
    "mae-mean": ("mae", _hf("vision", "mae", "mean"), 32),
    "segformer-mean": ("segformer", _hf("vision", "segformer", "mean"), 32),
    "timm-resnet": ("resnet-timm", {"source": "timm", "modality": "vision"}, 512),
    # A 64-pixel crop instead of the default 224 keeps the CPU run short.
    "torchvision-resnet": (
        "resnet-torchvision", {"source": "torchvision", "id": "resnet18", "modality": "vision", "image_size": 64}, 512
    ),
    "open-clip-vision-projection": ("open-clip", _open_clip("vision", "projection"), 16),
    "open-clip-vision-pooler": ("open-clip", _open_clip("vision", "pooler"), 32),
}


def make_entry(tiny_models, folder: str, entry: dict) -> dict:
    if entry["source"] == "torchvision":  # the id is the architecture; the tiny folder holds the weights
        return {**entry, "weights": str(tiny_models / folder / "model.safetensors")}
    return {**entry, "id": str(tiny_models / folder)}


def load(tiny_models, name: str, folder: str, entry: dict, **overrides):
    # device="cpu": "auto" would pick bf16 on a GPU machine and break the float32 tolerances.
    return load_encoder(name, {**make_entry(tiny_models, folder, entry), **overrides}, device="cpu")


@pytest.fixture(scope="module")
def text_encoders(tiny_models):
    return {name: load(tiny_models, name, *spec[:2]) for name, spec in TEXT_ENCODERS.items()}


@pytest.fixture(scope="module")
def vision_encoders(tiny_models):
    return {name: load(tiny_models, name, *spec[:2]) for name, spec in VISION_ENCODERS.items()}


@pytest.fixture(scope="module")
def texts(shapes_dir) -> list[str]:
    """Captions of clearly different lengths, so batching pads every short one."""
    captions = read_table(shapes_dir / "text.tsv")["text"].tolist()[: N_ITEMS - 2]
    return ["a cross", *captions, f"{captions[0]} and {captions[1]}, drawn on a grey background"]


@pytest.fixture(scope="module")
def images(shapes_dir) -> list:
    from PIL import Image

    images = []
    for path in read_table(shapes_dir / "images.tsv")["image"].tolist()[:N_ITEMS]:
        with Image.open(path) as image:
            images.append(image.convert("RGB"))
    return images


def pixels(encoder, images) -> torch.Tensor:
    transform = encoder.image_transform()
    return torch.stack([transform(image) for image in images])


# --- pooling on explicit tensors; 100 marks padding, so any leak shows ----------------------------

RIGHT_PADDED = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]], [[5.0, 6.0], [100.0, 100.0], [100.0, 100.0]]])
RIGHT_MASK = torch.tensor([[1, 1, 0], [1, 0, 0]])
LEFT_PADDED = torch.tensor([[[100.0, 100.0], [1.0, 2.0], [3.0, 4.0]], [[100.0, 100.0], [100.0, 100.0], [5.0, 6.0]]])
LEFT_MASK = torch.tensor([[0, 1, 1], [0, 0, 1]])


@pytest.mark.parametrize("hidden, mask", [(RIGHT_PADDED, RIGHT_MASK), (LEFT_PADDED, LEFT_MASK)], ids=["right", "left"])
def test_mean_pool_averages_only_real_tokens(hidden, mask):
    expected = torch.tensor([[(1 + 3) / 2, (2 + 4) / 2], [5.0, 6.0]])
    assert torch.equal(mean_pool(hidden, mask), expected)


def test_mean_pool_without_mask_averages_every_position():
    assert torch.equal(mean_pool(RIGHT_PADDED), RIGHT_PADDED.mean(dim=1))


@pytest.mark.parametrize(
    "hidden, mask, positions",
    [(RIGHT_PADDED, RIGHT_MASK, [1, 0]), (LEFT_PADDED, LEFT_MASK, [2, 2])],
    ids=["right", "left"],
)
def test_eos_pool_reads_the_last_real_token(hidden, mask, positions):
    assert last_token_index(mask).tolist() == positions
    assert torch.equal(eos_pool(hidden, mask), torch.tensor([[3.0, 4.0], [5.0, 6.0]]))


def test_eos_pool_never_reads_the_padding_at_the_end_of_a_right_padded_row():
    pooled = eos_pool(RIGHT_PADDED, RIGHT_MASK)
    assert not (pooled == RIGHT_PADDED[:, -1]).all(dim=1).any()


def test_cls_pool_reads_the_first_position():
    assert torch.equal(cls_pool(RIGHT_PADDED, RIGHT_MASK), torch.tensor([[1.0, 2.0], [5.0, 6.0]]))


# --- every encoder family: shape, dtype, determinism, batch == one at a time ---------------------

@pytest.mark.parametrize("name", TEXT_ENCODERS)
def test_text_encoder_shape_dtype_and_determinism(name, text_encoders, texts):
    encoder, dimension = text_encoders[name], TEXT_ENCODERS[name][2]
    vectors = encoder.encode_texts(texts)
    assert vectors.shape == (len(texts), dimension)
    assert vectors.dtype == torch.float32 and vectors.device.type == "cpu"
    assert torch.equal(vectors, encoder.encode_texts(texts))
    # Different captions must give different vectors (pooling a shared pad or start token would not).
    assert torch.cdist(vectors, vectors)[~torch.eye(len(texts), dtype=torch.bool)].min() > 1e-4


@pytest.mark.parametrize("name", TEXT_ENCODERS)
def test_text_batch_equals_one_at_a_time(name, text_encoders, texts):
    encoder = text_encoders[name]
    assert len(set(encoder.token_lengths(texts).tolist())) > 1, "the captions must need padding"
    one_at_a_time = torch.cat([encoder.encode_texts([text]) for text in texts])
    torch.testing.assert_close(encoder.encode_texts(texts), one_at_a_time, atol=ATOL, rtol=0)


@pytest.mark.parametrize("name", VISION_ENCODERS)
def test_vision_encoder_shape_dtype_and_determinism(name, vision_encoders, images):
    encoder, dimension = vision_encoders[name], VISION_ENCODERS[name][2]
    batch = pixels(encoder, images)
    vectors = encoder.encode_images(batch)
    assert vectors.shape == (len(images), dimension)
    assert vectors.dtype == torch.float32 and vectors.device.type == "cpu"
    assert torch.equal(vectors, encoder.encode_images(batch))
    assert torch.cdist(vectors, vectors)[~torch.eye(len(images), dtype=torch.bool)].min() > 1e-4


@pytest.mark.parametrize("name", VISION_ENCODERS)
def test_vision_batch_equals_one_at_a_time(name, vision_encoders, images):
    encoder = vision_encoders[name]
    batch = pixels(encoder, images)
    one_at_a_time = torch.cat([encoder.encode_images(batch[i : i + 1]) for i in range(len(images))])
    torch.testing.assert_close(encoder.encode_images(batch), one_at_a_time, atol=ATOL, rtol=0)


# --- text encoders against hand computations with transformers ------------------------------------

def hand_model(folder, model_class: str = "AutoModel"):
    """The plain transformers tokenizer and model, outside the encoder."""
    import transformers

    model = getattr(transformers, model_class).from_pretrained(folder).eval()
    return transformers.AutoTokenizer.from_pretrained(folder), model


def run_alone(tokenizer, model, text: str, **model_kwargs):
    """One text alone, so without padding: its token ids and the model output."""
    ids = tokenizer(text, return_tensors="pt")
    with torch.inference_mode():
        return ids["input_ids"][0], model(**ids, **model_kwargs)


def test_minilm_mean_equals_mean_of_unpadded_states(tiny_models, text_encoders, texts):
    encoded = text_encoders["minilm-mean"].encode_texts(texts)
    tokenizer, model = hand_model(tiny_models / "minilm")
    for text, vector in zip(texts, encoded):
        _, out = run_alone(tokenizer, model, text)
        torch.testing.assert_close(vector, out.last_hidden_state[0].mean(dim=0), atol=ATOL, rtol=0)


@pytest.mark.parametrize("name", ["gpt2-eos", "opt-eos"])
def test_causal_eos_equals_state_of_the_last_token(name, tiny_models, text_encoders, texts):
    encoded = text_encoders[name].encode_texts(texts)
    tokenizer, model = hand_model(tiny_models / TEXT_ENCODERS[name][0])
    for text, vector in zip(texts, encoded):
        _, out = run_alone(tokenizer, model, text)
        torch.testing.assert_close(vector, out.last_hidden_state[0, -1], atol=ATOL, rtol=0)


def test_bert_layer_minus_two_equals_mean_of_that_hidden_state(tiny_models, text_encoders, texts):
    encoder = load(tiny_models, "bert-layer-2", *TEXT_ENCODERS["bert-mean"][:2], layer=-2)
    encoded = encoder.encode_texts(texts)
    assert not torch.allclose(encoded, text_encoders["bert-mean"].encode_texts(texts), atol=1e-3)
    tokenizer, model = hand_model(tiny_models / "bert")
    for text, vector in zip(texts, encoded):
        _, out = run_alone(tokenizer, model, text, output_hidden_states=True)
        torch.testing.assert_close(vector, out.hidden_states[-2][0].mean(dim=0), atol=ATOL, rtol=0)


# --- CLIP towers ----------------------------------------------------------------------------------

def test_clip_text_pooler_is_the_end_token_state_and_projection_projects_it(tiny_models, text_encoders, texts):
    projection, pooler = text_encoders["clip-text-projection"], text_encoders["clip-text-pooler"]
    pooled = pooler.encode_texts(texts)
    assert (pooled.shape[1], projection.encode_texts(texts).shape[1]) == (32, 16)
    with torch.inference_mode():  # the encoders' outputs are inference tensors
        projected = projection.model.text_projection(pooled)
    torch.testing.assert_close(projection.encode_texts(texts), projected, atol=ATOL, rtol=0)
    tokenizer, model = hand_model(tiny_models / "clip", "CLIPTextModel")
    for text, vector in zip(texts, pooled):
        ids, out = run_alone(tokenizer, model, text)
        assert ids[-1] == tokenizer.eos_token_id and (ids == tokenizer.eos_token_id).sum() == 1
        torch.testing.assert_close(vector, out.last_hidden_state[0, -1], atol=ATOL, rtol=0)


def test_clip_vision_projection_projects_the_pooler_features(vision_encoders, images):
    projection, pooler = vision_encoders["clip-vision-projection"], vision_encoders["clip-vision-pooler"]
    pooled = pooler.encode_images(pixels(pooler, images))
    with torch.inference_mode():  # the encoders' outputs are inference tensors
        projected = projection.model.visual_projection(pooled)
    torch.testing.assert_close(projection.encode_images(pixels(projection, images)), projected, atol=ATOL, rtol=0)


@pytest.mark.parametrize("pooling", ["projection", "pooler"])
def test_clip_refuses_a_tokenizer_that_drops_the_end_token(pooling, tiny_models):
    from tokenizers import processors

    name = f"clip-text-{pooling}"
    encoder = load(tiny_models, name, *TEXT_ENCODERS[name][:2])
    start = encoder.tokenizer.bos_token
    encoder.tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{start} $A", special_tokens=[(start, encoder.tokenizer.bos_token_id)]
    )
    with pytest.raises(ValueError, match=f"model '{name}'.*end token"):
        encoder.encode_texts(["a red circle"])


# --- open_clip towers -----------------------------------------------------------------------------

def test_open_clip_projection_is_pooler_times_the_projection_matrix(text_encoders, vision_encoders, texts, images):
    text_projection, text_pooler = text_encoders["open-clip-text-projection"], text_encoders["open-clip-text-pooler"]
    vision_projection, vision_pooler = (
        vision_encoders["open-clip-vision-projection"], vision_encoders["open-clip-vision-pooler"]
    )
    with torch.inference_mode():  # the encoders' outputs are inference tensors
        projected_texts = text_pooler.encode_texts(texts) @ text_projection.model.text_projection
        pooled_images = vision_pooler.encode_images(pixels(vision_pooler, images))
        projected_images = pooled_images @ vision_projection.model.visual.proj
    torch.testing.assert_close(text_projection.encode_texts(texts), projected_texts, atol=ATOL, rtol=0)
    torch.testing.assert_close(
        vision_projection.encode_images(pixels(vision_projection, images)), projected_images, atol=ATOL, rtol=0
    )
    # Reading the pooler drops the projection only for the call.
    assert text_pooler.model.text_projection is not None and vision_pooler.model.visual.proj is not None


# --- vision encoders against hand computations ----------------------------------------------------

def test_vit_cls_is_the_first_token_state(tiny_models, vision_encoders, images):
    import transformers

    encoder = vision_encoders["vit-cls"]
    batch = pixels(encoder, images)
    with torch.inference_mode():
        out = transformers.ViTModel.from_pretrained(tiny_models / "vit").eval()(pixel_values=batch)
    torch.testing.assert_close(encoder.encode_images(batch), out.last_hidden_state[:, 0], atol=ATOL, rtol=0)


def test_mae_keeps_every_patch_in_order(tiny_models, vision_encoders, images):
    import transformers

    encoder = vision_encoders["mae-mean"]
    assert encoder.model.config.mask_ratio == 0.0
    batch = pixels(encoder, images)
    outputs = []
    hook = encoder.model.register_forward_hook(lambda module, args, output: outputs.append(output))
    try:
        first, second = encoder.encode_images(batch), encoder.encode_images(batch)
    finally:
        hook.remove()
    assert torch.equal(first, second)
    n_patches = outputs[0].ids_restore.shape[1]
    for out in outputs:  # ascending noise: nothing masked, no patch moved, so per-patch states repeat
        assert not out.mask.any()
        assert torch.equal(out.ids_restore, torch.arange(n_patches).expand(len(images), -1))
    assert torch.equal(outputs[0].last_hidden_state, outputs[1].last_hidden_state)

    model = transformers.ViTMAEModel.from_pretrained(tiny_models / "mae", mask_ratio=0.0).eval()
    with torch.inference_mode():
        hidden = model(pixel_values=batch, noise=torch.arange(n_patches).expand(len(images), -1).float())
    torch.testing.assert_close(first, hidden.last_hidden_state[:, 1:].mean(dim=1), atol=ATOL, rtol=0)


def test_segformer_mean_averages_the_last_feature_map(tiny_models, vision_encoders, images):
    import transformers

    encoder = vision_encoders["segformer-mean"]
    batch = pixels(encoder, images)
    with torch.inference_mode():
        out = transformers.SegformerModel.from_pretrained(tiny_models / "segformer").eval()(pixel_values=batch)
    torch.testing.assert_close(encoder.encode_images(batch), out.last_hidden_state.mean(dim=(2, 3)), atol=ATOL, rtol=0)


def test_timm_features_are_the_classifier_input(tiny_models, vision_encoders, images):
    import timm

    encoder = vision_encoders["timm-resnet"]
    batch = pixels(encoder, images)
    model = timm.create_model(f"local-dir:{tiny_models / 'resnet-timm'}", pretrained=True).eval()
    with torch.inference_mode():
        expected = model.forward_head(model.forward_features(batch), pre_logits=True)
    torch.testing.assert_close(encoder.encode_images(batch), expected, atol=ATOL, rtol=0)


def test_torchvision_features_are_the_classifier_input(tiny_models, vision_encoders, images):
    import torchvision
    from safetensors.torch import load_file

    encoder = vision_encoders["torchvision-resnet"]
    batch = pixels(encoder, images)
    model = torchvision.models.resnet18()
    model.load_state_dict(load_file(tiny_models / "resnet-torchvision" / "model.safetensors"))
    classifier_inputs = []
    model.fc.register_forward_hook(lambda module, args, output: classifier_inputs.append(args[0]))
    with torch.inference_mode():
        model.eval()(batch)
    torch.testing.assert_close(encoder.encode_images(batch), classifier_inputs[0], atol=ATOL, rtol=0)


# --- registry and config checks -------------------------------------------------------------------

def test_unknown_source_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown model source 'keras'.*hf, open_clip, timm, torchvision"):
        load_encoder("m", {"source": "keras", "id": "x", "modality": "text"}, device="cpu")


@pytest.mark.parametrize(
    "name, folder, entry",
    [
        ("bert-projection", "bert", _hf("text", "bert", "projection")),
        ("vit-eos", "vit", _hf("vision", "vit", "eos")),
        ("timm-mean", "resnet-timm", {"source": "timm", "modality": "vision", "pooling": "mean"}),
        ("torchvision-cls", "resnet-torchvision", {**VISION_ENCODERS["torchvision-resnet"][1], "pooling": "cls"}),
        ("open-clip-mean", "open-clip", _open_clip("text", "mean")),
    ],
)
def test_pooling_the_model_lacks_is_refused_naming_the_model(name, folder, entry, tiny_models):
    with pytest.raises(ValueError, match=f"model '{name}': pooling '{entry['pooling']}' is not available"):
        load(tiny_models, name, folder, entry)


@pytest.mark.parametrize(
    "name, folder, entry",
    [
        ("bert-pooler-layer", "bert", _hf("text", "bert", "pooler")),
        ("clip-projection-layer", "clip", _hf("text", "clip", "projection")),
        ("open-clip-layer", "open-clip", _open_clip("vision", "projection")),
    ],
)
def test_layer_is_refused_where_the_pooling_exists_only_at_the_output(name, folder, entry, tiny_models):
    with pytest.raises(ValueError, match=f"model '{name}'.*layer"):
        load(tiny_models, name, folder, entry, layer=-2)


# --- provenance -----------------------------------------------------------------------------------

def test_provenance_records_how_the_vectors_were_made(tiny_models, text_encoders, vision_encoders):
    encoder = load(tiny_models, "bert-layer-2", *TEXT_ENCODERS["bert-mean"][:2], layer=-2)
    provenance = encoder.provenance()
    assert {key: provenance[key] for key in ("model", "source", "model_id", "pooling", "layer", "dtype", "device")} == {
        "model": "bert-layer-2",
        "source": "hf",
        "model_id": str(tiny_models / "bert"),
        "pooling": "mean",
        "layer": -2,
        "dtype": "float32",
        "device": "cpu",
    }
    assert provenance["library_versions"] == {
        package: version(package) for package in ("synesthesia", "torch", "h5py", "transformers", "tokenizers")
    }
    assert text_encoders["bert-mean"].provenance()["layer"] == "last"

    libraries = {
        "open-clip-vision-pooler": "open_clip_torch",
        "timm-resnet": "timm",
        "torchvision-resnet": "torchvision",
    }
    for name, library in libraries.items():
        provenance = vision_encoders[name].provenance()
        assert provenance["pooling"] == VISION_ENCODERS[name][1].get("pooling", "pooler")
        assert provenance["library_versions"][library] == version(library)
    assert vision_encoders["torchvision-resnet"].provenance()["revision"].endswith("model.safetensors")


# --- non-finite vectors ---------------------------------------------------------------------------

def test_check_finite_names_the_model_and_the_first_bad_item():
    vectors = torch.tensor([[1.0, 2.0], [float("nan"), 0.0], [0.0, float("inf")]])
    with pytest.raises(NonFiniteEmbeddingError, match=r"model 'gpt2-eos'.* 2 items \(first: 'b'\)"):
        check_finite(vectors, "gpt2-eos", ["a", "b", "c"])
    check_finite(vectors[:1], "gpt2-eos", ["a"])
