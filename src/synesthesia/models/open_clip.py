"""open_clip text and image towers: a model name with a pretrained tag or file, or a local folder."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Sequence

import numpy as np
import torch

from ..config import is_local_path, offered_poolings
from ..images import to_rgb
from .base import Encoder, fit_tokens, require_pooling

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

        require_pooling(self, offered_poolings(self.entry))
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

    def _skeleton(self):
        import open_clip

        model = open_clip.create_model(self._model_name(), load_weights=False, pretrained_text=False, device="meta")
        tower = model.visual if self.modality == "vision" else model
        # Before the projection: the transformer's width (absent for some towers, e.g. hf text towers).
        width = getattr(getattr(tower, "transformer", None), "width", None)
        return model, width if self.pooling != "projection" and width else model.visual.output_dim

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

    def _tokens(self, texts: Sequence[str], text_pairs: Sequence[str] | None) -> torch.Tensor:
        if text_pairs is None:
            return self.tokenizer(list(texts))
        # CLIP has no pair template: the two texts are joined by its end token.
        return self.tokenizer([f"{a} <end_of_text> {b}" for a, b in zip(texts, text_pairs)])

    def token_lengths(self, texts: Sequence[str], text_pairs: Sequence[str] | None = None) -> np.ndarray:
        return (self._tokens(texts, text_pairs) != 0).sum(dim=1).numpy().astype(np.int64)

    @torch.inference_mode()
    def encode_texts(self, texts: Sequence[str], text_pairs: Sequence[str] | None = None) -> torch.Tensor:
        tokens = self._tokens(texts, text_pairs).to(self.device)
        if text_pairs is None:
            return self._encode(self.model.encode_text, tokens)
        return self._encode(self._encode_at_last_token, tokens)

    def _token_outputs(self, tokens: torch.Tensor, purpose: str) -> torch.Tensor:
        """The final (layer-normed) state of every token, as open_clip's encode_text computes them before pooling."""
        model = self.model
        if not hasattr(model, "token_embedding"):
            raise ValueError(f"model {self.name!r}: {purpose} need an open_clip model with a CLIP text tower")
        cast_dtype = model.transformer.get_cast_dtype()
        x = model.token_embedding(tokens).to(cast_dtype) + model.positional_embedding.to(cast_dtype)
        return model.ln_final(model.transformer(x, attn_mask=model.attn_mask))

    @torch.inference_mode()
    def token_states(self, texts: Sequence[str], length: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.modality != "text":
            return super().token_states(texts, length)
        # The tower always runs at its full context length; open_clip pads with token id 0.
        tokens = self.tokenizer(list(texts)).to(self.device)
        hidden = self._token_outputs(tokens, "per-token states")
        return fit_tokens(hidden.float().cpu(), length), fit_tokens((tokens != 0).long().cpu(), length)

    def _encode_at_last_token(self, tokens: torch.Tensor) -> torch.Tensor:
        """open_clip's encode_text, pooled at the last real token instead of the first end token
        (which, in a joined pair, ends the first text only)."""
        model = self.model
        x = self._token_outputs(tokens, "sentence pairs")
        x = x[torch.arange(x.shape[0], device=x.device), (tokens != 0).sum(dim=1) - 1]
        projection = model.text_projection
        if projection is None:
            return x
        return projection(x) if isinstance(projection, torch.nn.Linear) else x @ projection

    def image_transform(self) -> Callable:
        preprocess = self.preprocess
        return lambda image: preprocess(to_rgb(image))

    @torch.inference_mode()
    def encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self._encode(self.model.encode_image, pixel_values.to(self.device, self.dtype))
