"""No local weight file can run code: a crafted pickle is refused, named, and its code never runs.

Each test hands one loading path a torch file whose unpickling would call ``open(marker, "w")``;
the marker file existing afterwards would be proof that code in the file ran.
"""

import json
import re
import shutil

import pytest
import torch

from synesthesia.models import load_encoder
from synesthesia.models.tiny import build_tiny_model
from synesthesia.models.weights import UnsafeWeightsError


class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def craft(path, marker):
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"weight": torch.zeros(1), "payload": _Payload(marker)}, path)
    return path


@pytest.fixture
def marker(tmp_path):
    return tmp_path / "code-ran"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return lambda architecture: build_tiny_model(architecture, root / architecture)


def refused(load, culprit, marker):
    with pytest.raises(UnsafeWeightsError, match=re.escape(str(culprit)) + ".*refused.*io.open"):
        load()
    assert not marker.exists()


def _copy_without_weights(source, folder):
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("*.safetensors"))
    return folder


def test_the_crafted_file_does_run_code_when_unpickled_unsafely(tmp_path, marker):
    torch.load(craft(tmp_path / "weights.pt", marker), weights_only=False)
    assert marker.exists()


def test_inception_weights(tmp_path, marker):
    from synesthesia.t2i.metrics import inception_extractor

    weights = craft(tmp_path / "inception.pth", marker)
    refused(lambda: inception_extractor(weights, "2048"), weights, marker)


def test_torchvision_weights_file(tmp_path, marker):
    weights = craft(tmp_path / "resnet.pth", marker)
    entry = {"source": "torchvision", "id": "resnet18", "weights": str(weights), "modality": "vision"}
    refused(lambda: load_encoder("rn", entry, device="cpu"), weights, marker)


def test_open_clip_pretrained_file(tmp_path, marker, tiny, monkeypatch):
    from open_clip import factory

    config = json.loads((tiny("open-clip") / "open_clip_config.json").read_text())["model_cfg"]
    monkeypatch.setitem(factory._MODEL_CONFIGS, "synesthesia-tiny", config)
    weights = craft(tmp_path / "open_clip.pt", marker)
    entry = {"source": "open_clip", "id": "synesthesia-tiny", "pretrained": str(weights), "modality": "vision"}
    refused(lambda: load_encoder("oc", entry, device="cpu"), weights, marker)


@pytest.mark.parametrize("architecture, source, weights_name", [
    ("open-clip", "open_clip", "open_clip_pytorch_model.bin"),
    ("resnet-timm", "timm", "pytorch_model.bin"),
    ("bert", "hf", "pytorch_model.bin"),
])
def test_local_model_folder(tmp_path, marker, tiny, architecture, source, weights_name):
    folder = _copy_without_weights(tiny(architecture), tmp_path / architecture)
    weights = craft(folder / weights_name, marker)
    entry = {"source": source, "id": str(folder), "modality": "vision" if source == "timm" else "text",
             "family": architecture}
    refused(lambda: load_encoder(architecture, entry, device="cpu"), weights, marker)


def test_generator_folder(tmp_path, marker, tiny):
    from synesthesia.t2i.generator import load_generator

    folder = _copy_without_weights(tiny("sd"), tmp_path / "sd")
    shutil.copytree(tiny("sd") / "vae", folder / "vae", dirs_exist_ok=True)  # the UNet is read first anyway
    weights = craft(folder / "unet" / "diffusion_pytorch_model.bin", marker)
    refused(lambda: load_generator({"id": str(folder), "device": "cpu"}), weights, marker)
