"""Model registry: the config's ``source`` picks the encoder class."""

from __future__ import annotations

from importlib import import_module

from .base import Encoder

# source -> (module, class); imported lazily so a CPU scoring job never imports torch libraries it does not use.
SOURCES = {
    "hf": ("synesthesia.models.hf", "HFEncoder"),
    "open_clip": ("synesthesia.models.open_clip", "OpenCLIPEncoder"),
    "timm": ("synesthesia.models.timm", "TimmEncoder"),
    "torchvision": ("synesthesia.models.torchvision", "TorchvisionEncoder"),
}


def encoder_class(source: str) -> type[Encoder]:
    if source not in SOURCES:
        raise ValueError(f"unknown model source {source!r}; known sources: {', '.join(sorted(SOURCES))}")
    module, name = SOURCES[source]
    return getattr(import_module(module), name)


def load_encoder(name: str, entry: dict, device: str = "auto", dtype: str = "auto") -> Encoder:
    return encoder_class(entry["source"])(name, entry, device=device, dtype=dtype)


def model_footprint(name: str, entry: dict) -> tuple[int, int]:
    """(parameters, vector size) of a configured model, without loading its weights."""
    return encoder_class(entry["source"])(name, entry, device="cpu", dtype="float32", load=False).footprint()
