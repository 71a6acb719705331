"""Image metrics of generated images: FID and Inception Score (torchmetrics), and CLIP score.

Every metric reads images as uint8 in [0, 255]. Float images are converted once, by
``to_uint8``, from an explicitly named value range: the study's code cast [0, 1]
floats straight to uint8 (0 or 1) and scored near-black images, so anything else is
refused rather than guessed.

FID and IS use torch-fidelity's port of the TF Inception network that FID is defined
with. Its weights download from GitHub at first use; where that is unreachable, point
``inception_weights`` at a local copy of
``weights-inception-2015-12-05-6726825d.pth`` (``INCEPTION_WEIGHTS_URL``), or of it as
safetensors. Either is read with ``weights_only=True``: a file holding more than tensors is refused. CLIP score
is 100 * max(cos(image, caption), 0) averaged over images (Hessel et al., 2021), with
any CLIP model of the registry (hub id or local folder).
"""

from __future__ import annotations

import itertools
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..models.base import Encoder, resolve_device
from ..records import write_records
from . import with_defaults

INCEPTION_WEIGHTS_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
)
INCEPTION_WIDTHS = {"2048": 2048, "logits_unbiased": 1008}
DEFAULTS = {"inception_weights": None, "clip_model": {"source": "hf", "id": "openai/clip-vit-large-patch14"},
            "inception_splits": 10, "batch_size": 32, "device": "auto"}

log = logging.getLogger(__name__)


def to_uint8(images: torch.Tensor, value_range: tuple[float, float] = (0.0, 1.0)) -> torch.Tensor:
    """Float images whose pixel values span ``value_range`` to uint8 in [0, 255].

    Values are scaled to [0, 255], rounded half up (a 0.5 grey of [0, 1] becomes 128)
    and clipped, as torchvision's ``save_image`` does. uint8 input is returned unchanged.
    """
    if images.dtype == torch.uint8:
        return images
    if not images.is_floating_point():
        raise TypeError(f"to_uint8 takes float or uint8 images, not {images.dtype}")
    if not bool(torch.isfinite(images).all()):
        raise ValueError("to_uint8: the images hold non-finite values")
    low, high = value_range
    scaled = (images.float() - low) * (255.0 / (high - low))
    return (scaled + 0.5).floor().clamp(0, 255).to(torch.uint8)


def require_uint8(images: torch.Tensor, what: str) -> None:
    if images.dtype != torch.uint8:
        raise TypeError(f"{what}: metrics read uint8 images in [0, 255], got {images.dtype}; convert with to_uint8")


def inception_weights(weights: str | os.PathLike | None) -> dict:
    """The FID Inception's state dict from a local file (safetensors or torch), or downloaded when None;
    read with ``weights_only=True`` either way, so a crafted file cannot run code."""
    from ..models.weights import load_weights

    if weights is None:
        return torch.hub.load_state_dict_from_url(INCEPTION_WEIGHTS_URL, progress=False, weights_only=True)
    if not Path(weights).is_file():
        raise FileNotFoundError(f"metrics.inception_weights: {weights} does not exist; download it from "
                                f"{INCEPTION_WEIGHTS_URL}")
    return load_weights(weights)


def inception_extractor(weights: str | os.PathLike | None, feature: str) -> torch.nn.Module:
    """torch-fidelity's FID Inception returning one output: ``"2048"`` (pool features, FID) or
    ``"logits_unbiased"`` (IS). ``weights`` is a local weights file, or None to download them."""
    from torchmetrics.image.fid import NoTrainInceptionV3

    state = inception_weights(weights)
    with tempfile.TemporaryDirectory() as folder:
        # torch-fidelity unpickles its weights file with weights_only=False (code in it would run):
        # it gets a private copy written here from the tensors read safely above.
        checked = Path(folder) / "inception.pth"
        torch.save(state, checked)
        network = NoTrainInceptionV3(name="inception-v3-compat", features_list=[feature],
                                     feature_extractor_weights_path=str(checked))
    network.num_features = INCEPTION_WIDTHS[feature]  # else FID runs a dummy image to find it
    return network


def load_clip(entry: dict, device: str = "auto") -> tuple[Encoder, Encoder]:
    """The text and image towers of a CLIP model of the registry, read after their projections."""
    from ..models import load_encoder

    entry = {"family": "clip", **entry, "pooling": "projection"}
    name = f"clip-score:{entry['id']}"
    text = load_encoder(name, {**entry, "modality": "text"}, device=device, dtype="float32")
    vision = load_encoder(name, {**entry, "modality": "vision"}, device=device, dtype="float32")
    return text, vision


@dataclass
class Scorers:
    """The networks the metrics run: FID features, IS logits, and a CLIP model's two towers."""

    fid_features: torch.nn.Module
    is_logits: torch.nn.Module
    clip_text: Encoder
    clip_vision: Encoder


def metrics_spec(spec: dict) -> dict:
    return with_defaults("metrics", spec, DEFAULTS)


def load_scorers(spec: dict) -> Scorers:
    spec = metrics_spec(spec)
    clip_text, clip_vision = load_clip(spec["clip_model"], spec["device"])
    device = resolve_device(spec["device"])
    return Scorers(inception_extractor(spec["inception_weights"], "2048").to(device),
                   inception_extractor(spec["inception_weights"], "logits_unbiased").to(device),
                   clip_text, clip_vision)


def _batches(images: torch.Tensor, batch_size: int):
    for start in range(0, len(images), batch_size):
        yield images[start:start + batch_size]


def _device_of(module: torch.nn.Module) -> torch.device:
    tensor = next(itertools.chain(module.parameters(), module.buffers()), None)
    return tensor.device if tensor is not None else torch.device("cpu")


@torch.inference_mode()
def fid_and_inception_score(real: torch.Tensor, fake: torch.Tensor, fid_features: torch.nn.Module,
                            is_logits: torch.nn.Module, splits: int, batch_size: int) -> dict:
    """FID of ``fake`` against ``real`` and the Inception Score of ``fake`` (uint8 N x 3 x H x W each)."""
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.inception import InceptionScore

    require_uint8(real, "FID real images")
    require_uint8(fake, "FID/IS generated images")
    # normalize=False: the networks get the uint8 images themselves, no rescaling inside torchmetrics.
    # The metrics' running sums live where the network runs.
    device = _device_of(fid_features)
    fid = FrechetInceptionDistance(feature=fid_features, normalize=False).to(device)
    inception_score = InceptionScore(feature=is_logits, splits=splits, normalize=False).to(device)
    for batch in _batches(real, batch_size):
        fid.update(batch.to(device), real=True)
    for batch in _batches(fake, batch_size):
        fid.update(batch.to(device), real=False)
        inception_score.update(batch.to(device))
    is_mean, is_std = inception_score.compute()
    return {"fid": float(fid.compute()), "inception_score": float(is_mean), "inception_score_std": float(is_std)}


@torch.inference_mode()
def clip_scores(images: torch.Tensor, captions: Sequence[str], text: Encoder, vision: Encoder,
                batch_size: int) -> torch.Tensor:
    """100 * max(cos, 0) of each image (uint8 N x 3 x H x W) with its caption."""
    from PIL import Image

    require_uint8(images, "CLIP score images")
    if len(images) != len(captions):
        raise ValueError(f"CLIP score: {len(images)} images but {len(captions)} captions")
    transform = vision.image_transform()
    scores = []
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        pixels = torch.stack([transform(Image.fromarray(image.permute(1, 2, 0).numpy())) for image in batch])
        similarity = F.cosine_similarity(vision.encode_images(pixels),
                                         text.encode_texts(captions[start:start + batch_size]), dim=-1)
        scores.append(100 * similarity.clamp(min=0))
    return torch.cat(scores)


def score_images(real: torch.Tensor, fake: torch.Tensor, captions: Sequence[str], scorers: Scorers,
                 spec: dict) -> list[dict]:
    """Long-format records (metric, value, n_images) for generated images of ``captions``."""
    spec = metrics_spec(spec)
    values = fid_and_inception_score(real, fake, scorers.fid_features, scorers.is_logits,
                                     spec["inception_splits"], spec["batch_size"])
    clip = clip_scores(fake, captions, scorers.clip_text, scorers.clip_vision, spec["batch_size"])
    records = [
        {"metric": "fid", "value": values["fid"]},
        {"metric": "inception_score", "value": values["inception_score"], "std": values["inception_score_std"]},
        {"metric": "clip_score", "value": float(clip.mean()), "std": float(clip.std()) if len(clip) > 1 else 0.0},
    ]
    return [{**record, "n_images": len(fake)} for record in records]


def read_pngs(paths: Sequence[str | os.PathLike]) -> torch.Tensor:
    """Generated images as they were saved: uint8 N x 3 x H x W."""
    from ..images import load_image

    arrays = [np.asarray(load_image(path), dtype=np.uint8).transpose(2, 0, 1) for path in paths]
    return torch.from_numpy(np.stack(arrays))


def score_generated(generated_dir: str | os.PathLike, dataset_dir: str | os.PathLike, split: str | os.PathLike,
                    spec: dict, model: str, out: str | os.PathLike) -> list[dict]:
    """The metrics job: one encoder's held-out images against the real held-out images, as a records JSON."""
    from .data import image_array, read_pairs, read_split

    pairs = read_pairs(dataset_dir).set_index("id")
    ids = read_split(split)["heldout"]
    fake = read_pngs([Path(generated_dir) / f"{item_id}.png" for item_id in ids])
    resolution = fake.shape[-1]
    dataset = Path(dataset_dir).name
    real = torch.from_numpy(np.stack([image_array(pairs.loc[item_id, "image"], resolution, dataset)
                                      for item_id in ids]))
    records = score_images(real, fake, [pairs.loc[item_id, "caption"] for item_id in ids], load_scorers(spec), spec)
    log.info("%s: %s", model, {record["metric"]: round(record["value"], 4) for record in records})
    return write_records(out, {"model": model}, records)
