"""open_clip text and image towers: a model name with a pretrained tag or file, or a local folder."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Sequence

import numpy as np
import torch

from ..config import is_local_path
from .base import Encoder, require_pooling

_PRECISION = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}


@contextmanager
def _without(module: torch.nn.Module, attribute: str):
    """Temporarily drop a projection so the tower returns the features before it."""
    saved = getattr(module, attribute)
    setattr(module, attribute, None)
    try:
        yield
    finally:
        setattr(module, attribute, saved)


class OpenCLIPEncoder(Encoder):
    libraries = ("open_clip_torch",)

    def default_pooling(self) -> str:
        return "projection"

    def _model_name(self) -> str:
        identifier = self.entry["id"]
        return f"local-dir:{identifier}" if is_local_path(identifier) else identifier

    def _load(self) -> None:
        import open_clip

        require_pooling(self, ["projection", "pooler"])
        if self.layer is not None:
            raise ValueError(f"model {self.name!r}: open_clip towers are read at their output; remove `layer`")
        name = self._model_name()
        pretrained = self.entry.get("pretrained")
        model, _, preprocess = open_clip.create_model_and_transforms(
            name, pretrained=pretrained, device=self.device, precision=_PRECISION[self.dtype]
        )
        self.model = model.eval()
        self.preprocess = preprocess
        self.revision = pretrained or ""
        if self.modality == "text":
            self.tokenizer = open_clip.get_tokenizer(name)
            self.max_length = int(self.tokenizer.context_length)

    def _projection_owner(self) -> tuple[torch.nn.Module, str]:
        if self.modality == "text":
            owner = getattr(self.model, "text", self.model)
            return owner, "text_projection"
        return self.model.visual, "proj"

    def _encode(self, forward, inputs):
        if self.pooling == "projection":
            return forward(inputs).float().cpu()
        owner, attribute = self._projection_owner()
        if not hasattr(owner, attribute):
            raise ValueError(
                f"model {self.name!r}: this architecture has no separable projection; use pooling projection"
            )
        with _without(owner, attribute):
            return forward(inputs).float().cpu()

    def parameter_count(self) -> int:
        visual = sum(p.numel() for p in self.model.visual.parameters())
        if self.modality == "vision":
            return visual
        return sum(p.numel() for p in self.model.parameters()) - visual

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        tokens = self.tokenizer(list(texts))
        return (tokens != 0).sum(dim=1).numpy().astype(np.int64)

    @torch.inference_mode()
    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        tokens = self.tokenizer(list(texts)).to(self.device)
        return self._encode(self.model.encode_text, tokens)

    def image_transform(self) -> Callable:
        preprocess = self.preprocess
        return lambda image: preprocess(image.convert("RGB"))

    @torch.inference_mode()
    def encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self._encode(self.model.encode_image, pixel_values.to(self.device, self.dtype))
