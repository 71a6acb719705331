"""timm vision backbones: the pooled features before the classifier."""

from __future__ import annotations

from typing import Callable

import torch

from ..config import is_local_path, offered_poolings
from ..images import to_rgb
from .base import Encoder, require_pooling


class TimmEncoder(Encoder):
    libraries = ("timm",)

    def default_pooling(self) -> str:
        return "pooler"

    def _load(self) -> None:
        import timm
        import timm.data

        require_pooling(self, offered_poolings(self.entry))
        identifier = self.entry["id"]
        name = f"local-dir:{identifier}" if is_local_path(identifier) else identifier
        # num_classes=0 replaces the classifier by identity: the output is the pooled (penultimate) features.
        model = timm.create_model(name, pretrained=self.entry.get("pretrained", True), num_classes=0)
        self.model = model.to(self.device, self.dtype).eval()
        config = timm.data.resolve_data_config({}, model=model)
        self.transform = timm.data.create_transform(**config)
        self.revision = model.pretrained_cfg.get("hf_hub_id") or model.pretrained_cfg.get("tag") or ""

    def _skeleton(self):
        import timm

        identifier = self.entry["id"]
        name = f"local-dir:{identifier}" if is_local_path(identifier) else identifier
        model = timm.create_model(name, pretrained=False, num_classes=0)
        return model, model.num_features

    def image_transform(self) -> Callable:
        transform = self.transform
        return lambda image: transform(to_rgb(image))

    @torch.inference_mode()
    def encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values.to(self.device, self.dtype)).float().cpu()
