"""An hf model's `layer` checked against the checkpoint it loads: refused by name before its weights load."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from synesthesia.config import ConfigError
from synesthesia.models import load_encoder
from synesthesia.models.tiny import build_tiny_model

# Every tiny model has two layers: hidden_states holds the embeddings and both layers, indices -3..2.
TINY_DEPTH = 2


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("layer-range-models")
    return {architecture: build_tiny_model(architecture, root / architecture) for architecture in ("bert", "gpt2")}


def entry(path, modality="text", family="bert", pooling="mean", **extra) -> dict:
    return {"source": "hf", "id": str(path), "modality": modality, "family": family, "pooling": pooling, **extra}


@pytest.mark.parametrize("layer", [0, TINY_DEPTH, -(TINY_DEPTH + 1)])
def test_a_layer_in_range_reads_that_hidden_state(tiny, layer):
    encoder = load_encoder("tiny-bert", entry(tiny["bert"], layer=layer), device="cpu", dtype="float32")
    texts = ["a red circle .", "a blue square on the left ."]
    batch = encoder.tokenizer(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = encoder.model(**batch, output_hidden_states=True).hidden_states[layer]
    mask = batch["attention_mask"].unsqueeze(-1).float()
    torch.testing.assert_close(encoder.encode_texts(texts), (hidden * mask).sum(1) / mask.sum(1))


@pytest.mark.parametrize("architecture, family, pooling, layer", [
    ("bert", "bert", "mean", TINY_DEPTH + 1),
    ("bert", "bert", "cls", -(TINY_DEPTH + 2)),
    ("gpt2", "causal", "eos", 99),  # GPT-2 names its depth n_layer
])
def test_a_layer_beyond_the_loaded_checkpoint_is_refused_by_model_and_range(tiny, architecture, family, pooling,
                                                                             layer):
    path = tiny[architecture]
    with pytest.raises(ConfigError) as refused:
        load_encoder(f"tiny-{architecture}", entry(path, family=family, pooling=pooling, layer=layer), device="cpu")
    assert str(refused.value) == (f"config: models.tiny-{architecture}.layer: {layer} is out of range; {path} has "
                                  f"{TINY_DEPTH} layers, so layer is one of -3..2 (0 = the embeddings)")
    assert isinstance(refused.value, ValueError)


def test_a_clip_tower_is_checked_against_its_own_depth(tmp_path):
    path = build_tiny_model("clip", tmp_path / "clip")
    config = json.loads((path / "config.json").read_text())
    config["text_config"]["num_hidden_layers"] = 4  # layer 3 exists in the text tower, not in the vision tower
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match=rf"models.tiny-clip-vision.layer: 3 is out of range; {path} has "
                                          rf"{TINY_DEPTH} layers, so layer is one of -3..2"):
        load_encoder("tiny-clip-vision", entry(path, modality="vision", family="clip", layer=3), device="cpu")


def test_the_layer_is_refused_before_the_weights_load(tiny, tmp_path):
    # A job downloading a hub model reads its config first; without the weights on disk, only that check can speak.
    configs_only = tmp_path / "bert-config-only"
    shutil.copytree(tiny["bert"], configs_only, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    with pytest.raises(ConfigError, match=r"models.tiny-bert.layer: 7 is out of range; .* so layer is one of -3..2"):
        load_encoder("tiny-bert", entry(configs_only, layer=7), device="cpu")
