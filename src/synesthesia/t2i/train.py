"""Adapter training with the standard denoising loss; every weight but the adapter's is frozen.

Each step draws a batch of training pairs, samples their latents from the cached VAE
posterior, adds noise at uniformly drawn timesteps with the checkpoint's schedule
(``add_noise``), and regresses the UNet's prediction on the target its scheduler
config names: the noise (``epsilon``), the velocity (``v_prediction``) or the clean
latents (``sample``). A fraction of captions is replaced by the empty caption, so the
adapted empty caption learns to be the unconditional input that classifier-free
guidance needs.

The adapter trains in float32 with AdamW; on a GPU the UNet runs in the generator's
dtype (bf16 by default, fp16 with loss scaling) under autocast, with gradient
checkpointing, so an SD-1.5-sized UNet at 512 px trains on a 24 GB card. One seed
fixes the batches, latent samples, noise, timesteps and dropped captions (all drawn
on the CPU, so a run repeats exactly on the same device).
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F

from ..versions import T2I_TRAIN_VERSION
from . import with_defaults
from .adapter import TokenAdapter, build_adapter
from .cache import EMPTY_CAPTION_ID, TensorCache
from .data import read_split
from .generator import Generator, load_generator

DEFAULTS = {"steps": 1000, "batch_size": 8, "learning_rate": 1e-4, "weight_decay": 0.01, "max_grad_norm": 1.0,
            "empty_caption_rate": 0.1, "gradient_checkpointing": True, "seed": 0, "log_every": 50}

log = logging.getLogger(__name__)


def training_spec(spec: dict) -> dict:
    return with_defaults("training", spec, DEFAULTS)


def autocast(generator: Generator):
    """Mixed precision on a GPU in the UNet's dtype; plain float32 elsewhere."""
    enabled = generator.device.type == "cuda" and generator.dtype != torch.float32
    return torch.autocast(generator.device.type, dtype=generator.dtype, enabled=enabled)


def denoising_target(generator: Generator, latents: torch.Tensor, noise: torch.Tensor,
                     timesteps: torch.Tensor) -> torch.Tensor:
    prediction_type = generator.noise_scheduler.config.prediction_type
    if prediction_type == "epsilon":
        return noise
    if prediction_type == "v_prediction":
        return generator.noise_scheduler.get_velocity(latents, noise, timesteps)
    if prediction_type == "sample":
        return latents
    raise ValueError(f"generator {generator.spec['id']}: unknown prediction_type {prediction_type!r}")


def denoising_loss(generator: Generator, adapter: TokenAdapter, latents: torch.Tensor, states: torch.Tensor,
                   mask: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    """Mean squared error of the UNet's prediction, conditioned on the adapted token states."""
    device = generator.device
    latents, noise, timesteps = latents.to(device), noise.to(device), timesteps.to(device)
    noisy = generator.noise_scheduler.add_noise(latents, noise, timesteps)
    with autocast(generator):
        context = adapter(states.to(device))
        prediction = generator.unet(noisy.to(generator.dtype), timesteps,
                                    encoder_hidden_states=context.to(generator.dtype),
                                    encoder_attention_mask=mask.to(device)).sample
    return F.mse_loss(prediction.float(), denoising_target(generator, latents, noise, timesteps).float())


class _Batches:
    """Seeded epochs over the training ids, with every random draw of a step."""

    def __init__(self, ids: Sequence[str], latents: TensorCache, tokens: TensorCache, generator: Generator,
                 spec: dict):
        self.ids, self.latents, self.tokens, self.generator, self.spec = list(ids), latents, tokens, generator, spec
        self.rng = torch.Generator().manual_seed(spec["seed"])
        self.order: list[int] = []
        self.empty_states = tokens.rows("states", [EMPTY_CAPTION_ID])
        self.empty_mask = tokens.rows("mask", [EMPTY_CAPTION_ID])

    def _next_ids(self) -> list[str]:
        size = min(self.spec["batch_size"], len(self.ids))
        if len(self.order) < size:
            self.order = torch.randperm(len(self.ids), generator=self.rng).tolist()
        chosen, self.order = self.order[:size], self.order[size:]
        return [self.ids[i] for i in chosen]

    def __next__(self) -> tuple[torch.Tensor, ...]:
        ids = self._next_ids()
        mean, std = self.latents.rows("mean", ids), self.latents.rows("std", ids)
        latents = self.generator.scale_latents(mean + std * torch.randn(mean.shape, generator=self.rng))
        states, mask = self.tokens.rows("states", ids), self.tokens.rows("mask", ids)
        dropped = torch.rand(len(ids), generator=self.rng) < self.spec["empty_caption_rate"]
        states[dropped], mask[dropped] = self.empty_states, self.empty_mask
        noise = torch.randn(latents.shape, generator=self.rng)
        timesteps = torch.randint(0, self.generator.noise_scheduler.config.num_train_timesteps, (len(ids),),
                                  generator=self.rng)
        return latents, states, mask, noise, timesteps


def check_caches(generator: Generator, latents: TensorCache, tokens: TensorCache) -> None:
    """Refuse caches made for another generator, resolution or dataset, naming the files."""
    made_for = (latents.attrs.get("generator"), int(latents.attrs.get("resolution", -1)))
    wanted = (generator.spec["id"], generator.spec["resolution"])
    if made_for != wanted:
        raise ValueError(f"{latents.path} holds latents of generator {made_for[0]} at {made_for[1]} px, "
                         f"not {wanted[0]} at {wanted[1]} px")
    if latents.attrs.get("dataset") != tokens.attrs.get("dataset"):
        raise ValueError(f"{latents.path} (dataset {latents.attrs.get('dataset')!r}) and {tokens.path} "
                         f"(dataset {tokens.attrs.get('dataset')!r}) cache different datasets")


def train_adapter(generator: Generator, latents: TensorCache, tokens: TensorCache, ids: Sequence[str],
                  adapter_spec: dict, spec: dict) -> tuple[TokenAdapter, list[float]]:
    """Train a fresh adapter on the pairs ``ids``; returns it with the loss of every step."""
    spec = training_spec(spec)
    check_caches(generator, latents, tokens)
    torch.manual_seed(spec["seed"])  # the adapter's initialisation
    adapter = build_adapter(adapter_spec, tokens.file["states"].shape[-1], generator.cross_attention_dim)
    adapter.to(generator.device).train()
    if spec["gradient_checkpointing"]:
        generator.unet.enable_gradient_checkpointing()
    else:
        generator.unet.disable_gradient_checkpointing()
    optimizer = torch.optim.AdamW(adapter.parameters(), lr=spec["learning_rate"], weight_decay=spec["weight_decay"])
    # fp16 gradients underflow without loss scaling; bf16 and fp32 need none.
    scaler = torch.amp.GradScaler(generator.device.type, enabled=generator.dtype == torch.float16
                                  and generator.device.type == "cuda")
    batches = _Batches(ids, latents, tokens, generator, spec)
    losses: list[float] = []
    started = time.perf_counter()
    for step in range(1, spec["steps"] + 1):
        loss = denoising_loss(generator, adapter, *next(batches))
        if not torch.isfinite(loss):
            raise FloatingPointError(f"adapter for {tokens.attrs.get('model')}: loss is {loss.item()} at step {step}; "
                                     "with float16 this is usually an overflow: use bfloat16")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(adapter.parameters(), spec["max_grad_norm"])
        scaler.step(optimizer)
        scaler.update()
        losses.append(loss.item())
        if step % spec["log_every"] == 0 or step == spec["steps"]:
            window = losses[-spec["log_every"]:]
            log.info("step %d/%d: loss %.4f (mean of last %d), %.2f s/step", step, spec["steps"],
                     sum(window) / len(window), len(window), (time.perf_counter() - started) / step)
    return adapter.eval(), losses


def train_from_caches(generator_spec: dict, adapter_spec: dict, spec: dict, latents: str | os.PathLike,
                      tokens: str | os.PathLike, split: str | os.PathLike, out: str | os.PathLike,
                      losses_out: str | os.PathLike) -> Path:
    """The training job: an adapter file (with its provenance) and its loss curve as JSON."""
    generator = load_generator(generator_spec)
    with TensorCache(latents) as latent_cache, TensorCache(tokens) as token_cache:
        adapter, losses = train_adapter(generator, latent_cache, token_cache, read_split(split)["train"],
                                        adapter_spec, spec)
        model = str(token_cache.attrs["model"])
    metadata = {"model": model, "adapter": adapter_spec, "training": training_spec(spec),
                **generator.provenance(), "train_version": T2I_TRAIN_VERSION, "final_loss": losses[-1]}
    adapter.save(out, metadata)
    Path(losses_out).write_text(json.dumps({"model": model, "loss": losses}, indent=1))
    return Path(out)
