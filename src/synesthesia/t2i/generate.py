"""Images of the held-out captions, conditioned on one encoder through its adapter.

Every caption's starting noise comes from its own seed, derived from the run seed and
the caption's index in the held-out list: the same caption starts from the same noise
for every encoder, whatever the batch size, so the encoders differ only in their
conditioning. Classifier-free guidance contrasts the adapted caption with the adapted
empty caption.
"""

from __future__ import annotations

import inspect
import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..images import load_image
from .adapter import TokenAdapter
from .cache import EMPTY_CAPTION_ID, TensorCache
from .data import read_pairs, read_split
from .generator import Generator, load_generator
from .metrics import to_uint8

log = logging.getLogger(__name__)


def caption_seed(run_seed: int, index: int) -> int:
    """The seed of held-out caption ``index``: a hash of (run seed, index), independent of the encoder."""
    return int(np.random.SeedSequence([run_seed, index]).generate_state(1, dtype=np.uint64)[0] >> 1)


def _check_adapter(adapter: TokenAdapter, tokens: TensorCache, generator: Generator) -> None:
    trained_on = adapter.metadata.get("model")
    if trained_on is not None and trained_on != tokens.attrs.get("model"):
        raise ValueError(f"the adapter was trained on {trained_on}'s token states, but {tokens.path} "
                         f"holds {tokens.attrs.get('model')}'s")
    if adapter.config["out_dim"] != generator.cross_attention_dim:
        raise ValueError(f"the adapter outputs {adapter.config['out_dim']} dimensions; generator "
                         f"{generator.spec['id']} cross-attends to {generator.cross_attention_dim}")


@torch.inference_mode()
def sample(generator: Generator, adapter: TokenAdapter, states: torch.Tensor, mask: torch.Tensor,
           empty_states: torch.Tensor, empty_mask: torch.Tensor, seeds: Sequence[int]) -> torch.Tensor:
    """Images (B x 3 x R x R, floats in [-1, 1]) for a batch of token states, one seed per image."""
    spec, device, dtype = generator.spec, generator.device, generator.dtype
    scheduler = generator.sampler()
    scheduler.set_timesteps(spec["steps"], device=device)
    # Per-image generators: an image's noise (and a stochastic sampler's draws) never depend on its batch.
    rngs = [torch.Generator().manual_seed(seed) for seed in seeds]
    shape = (generator.latent_channels, generator.latent_size, generator.latent_size)
    latents = torch.stack([torch.randn(shape, generator=rng) for rng in rngs]).to(device)
    latents = latents * scheduler.init_noise_sigma
    adapter = adapter.to(device)
    n = len(seeds)
    context = adapter(torch.cat([empty_states.expand(n, -1, -1), states]).to(device)).to(dtype)
    context_mask = torch.cat([empty_mask.expand(n, -1), mask]).to(device)
    # Stochastic samplers draw from the per-image generators; deterministic ones take none.
    step_kwargs = {"generator": rngs} if "generator" in inspect.signature(scheduler.step).parameters else {}
    for timestep in scheduler.timesteps:
        model_input = scheduler.scale_model_input(torch.cat([latents, latents]), timestep)
        unconditional, conditional = generator.unet(
            model_input.to(dtype), timestep, encoder_hidden_states=context, encoder_attention_mask=context_mask,
        ).sample.float().chunk(2)
        guided = unconditional + spec["guidance_scale"] * (conditional - unconditional)
        latents = scheduler.step(guided, timestep, latents, **step_kwargs).prev_sample
    return generator.vae.decode(generator.unscale_latents(latents.float())).sample.float().cpu()


def generate_images(generator: Generator, adapter: TokenAdapter, tokens: TensorCache, ids: Sequence[str],
                    out_dir: str | os.PathLike, batch_size: int) -> list[Path]:
    """One PNG per caption id (``<out_dir>/<id>.png``); ``ids`` in held-out order, which fixes the seeds."""
    _check_adapter(adapter, tokens, generator)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    adapter.eval()
    empty_states, empty_mask = tokens.rows("states", [EMPTY_CAPTION_ID]), tokens.rows("mask", [EMPTY_CAPTION_ID])
    paths = []
    for start in range(0, len(ids), batch_size):
        batch = list(ids[start:start + batch_size])
        seeds = [caption_seed(generator.spec["seed"], start + offset) for offset in range(len(batch))]
        images = sample(generator, adapter, tokens.rows("states", batch), tokens.rows("mask", batch),
                        empty_states, empty_mask, seeds)
        for item_id, image in zip(batch, to_uint8(images, value_range=(-1.0, 1.0))):
            paths.append(_save_png(image, out_dir / f"{item_id}.png"))
        log.info("generated %d/%d images", len(paths), len(ids))
    return paths


def _save_png(image: torch.Tensor, path: Path) -> Path:
    from PIL import Image

    Image.fromarray(image.permute(1, 2, 0).numpy()).save(path)
    return path


def generate_heldout(generator_spec: dict, adapter: str | os.PathLike, tokens: str | os.PathLike,
                     split: str | os.PathLike, out_dir: str | os.PathLike, batch_size: int) -> list[Path]:
    """The generation job: the held-out captions of ``split`` as PNGs in ``out_dir``."""
    generator = load_generator(generator_spec)
    with TensorCache(tokens) as token_cache:
        return generate_images(generator, TokenAdapter.load(adapter), token_cache, read_split(split)["heldout"],
                               out_dir, batch_size)


def heldout_images(image_dirs: dict[str, str | os.PathLike], dataset_dir: str | os.PathLike,
                   split: str | os.PathLike, n_captions: int = 8) -> tuple[list[str], dict[str, list[np.ndarray]]]:
    """The first ``n_captions`` held-out captions and, per encoder, the images it generated for them
    (what :func:`synesthesia.figures.image_grid` draws)."""
    captions = read_pairs(dataset_dir).set_index("id")["caption"]
    ids = read_split(split)["heldout"][:n_captions]
    images = {model: [] for model in image_dirs}
    for model, folder in image_dirs.items():
        for item_id in ids:
            path = Path(folder) / f"{item_id}.png"
            if not path.exists():
                raise FileNotFoundError(f"{path}: no image of held-out caption {item_id!r} for model {model}")
            images[model].append(np.asarray(load_image(path)))
    return [captions[item_id] for item_id in ids], images
