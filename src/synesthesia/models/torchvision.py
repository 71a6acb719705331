"""torchvision backbones: the classifier's input (avgpool features)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from ..config import offered_poolings
from ..images import to_rgb
from .base import Encoder, require_pooling
from .weights import load_weights

_HEADS = ("fc", "classifier", "heads", "head")


def _imagenet_transform(size: int, crop: bool, mean, std):
    """Resize the short side to size * 8/7 and centre-crop ``size`` (torchvision's evaluation
    transform), or, without ``crop``, resize the whole image to ``size`` x ``size`` (img2vec_pytorch)."""
    from torchvision import transforms

    resize = ([transforms.Resize(size * 8 // 7), transforms.CenterCrop(size)] if crop
              else [transforms.Resize((size, size))])
    return transforms.Compose([*resize, transforms.ToTensor(), transforms.Normalize(mean=mean, std=std)])


class TorchvisionEncoder(Encoder):
    libraries = ("torchvision",)

    def default_pooling(self) -> str:
        return "pooler"

    def _load(self) -> None:
        import torchvision

        require_pooling(self, offered_poolings(self.entry))
        architecture = self.entry["id"]
        weights = self.entry.get("weights")
        # center_crop false: the whole image squashed to a square, as img2vec_pytorch (the second study) did.
        crop = self.entry.get("center_crop", True)
        if weights and Path(weights).suffix in (".safetensors", ".pt", ".pth"):
            model = torchvision.models.get_model(architecture, weights=None)
            model.load_state_dict(load_weights(weights))
            size = int(self.entry.get("image_size", 224))
            self.transform = _imagenet_transform(size, crop, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
        else:
            enum = torchvision.models.get_model_weights(architecture)[weights] if weights else None
            model = torchvision.models.get_model(architecture, weights=enum)
            if enum is None:
                raise ValueError(f"model {self.name!r}: give `weights` (an enum name such as IMAGENET1K_V2 or a file)")
            self.transform = enum.transforms()
            if not crop:
                size = int(self.entry.get("image_size", self.transform.crop_size[0]))
                self.transform = _imagenet_transform(size, False, mean=self.transform.mean, std=self.transform.std)
        self._remove_head(model)
        self.model = model.to(self.device, self.dtype).eval()
        self.revision = str(weights or "")

    def _skeleton(self):
        import torchvision

        model = torchvision.models.get_model(self.entry["id"], weights=None)
        return model, self._remove_head(model)

    def _remove_head(self, model: torch.nn.Module) -> int:
        """Replace the classifier by identity, so the output is the penultimate features; return their size."""
        head = next((name for name in _HEADS if hasattr(model, name)), None)
        if head is None:
            raise ValueError(f"model {self.name!r}: no classifier head ({', '.join(_HEADS)}) to remove in "
                             f"{self.entry['id']}")
        dim = next(layer.in_features for layer in getattr(model, head).modules() if isinstance(layer, torch.nn.Linear))
        setattr(model, head, torch.nn.Identity())
        return dim

    def image_transform(self) -> Callable:
        transform = self.transform
        return lambda image: transform(to_rgb(image))

    @torch.inference_mode()
    def encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values.to(self.device, self.dtype)).flatten(1).float().cpu()
