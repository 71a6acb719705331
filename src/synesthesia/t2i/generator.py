"""The frozen parts of a Stable Diffusion-layout checkpoint: UNet, VAE and noise schedule.

A generator entry names a hub id or a local folder with the diffusers layout
(``unet/``, ``vae/``, ``scheduler/``; ``text_encoder/`` and ``tokenizer/`` for the
reference row) and how to sample from it. Only the per-encoder adapter trains; the
UNet and VAE are loaded in eval mode with gradients off.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from ..models.base import library_versions, resolve_device, resolve_dtype
from ..models.hf import HFEncoder
from ..models.weights import UnsafeWeightsError, naming_refused_weights
from . import with_defaults

log = logging.getLogger(__name__)

# Sampler name -> diffusers scheduler class, all built from the checkpoint's own noise schedule.
SAMPLERS = {
    "ddim": "DDIMScheduler",
    "ddpm": "DDPMScheduler",
    "pndm": "PNDMScheduler",
    "euler": "EulerDiscreteScheduler",
    "dpm++": "DPMSolverMultistepScheduler",
}
DEFAULTS = {"revision": None, "resolution": 512, "steps": 50, "guidance_scale": 7.5, "seed": 0,
            "sampler": "ddim", "dtype": "auto", "device": "auto"}


@dataclass
class Generator:
    """The frozen UNet (in the compute dtype) and VAE (in float32), and the checkpoint's noise schedule."""

    spec: dict
    unet: torch.nn.Module
    vae: torch.nn.Module
    noise_scheduler: object
    device: torch.device
    dtype: torch.dtype

    @property
    def cross_attention_dim(self) -> int:
        return int(self.unet.config.cross_attention_dim)

    @property
    def latent_size(self) -> int:
        """Latent side length for the configured image resolution."""
        factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
        resolution = self.spec["resolution"]
        if resolution % (factor * 2 ** (len(self.unet.config.block_out_channels) - 1)):
            raise ValueError(f"generator {self.spec['id']}: resolution {resolution} does not divide into its "
                             "VAE and UNet downsampling steps")
        return resolution // factor

    @property
    def latent_channels(self) -> int:
        return int(self.unet.config.in_channels)

    def scale_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """VAE latents to the scale the UNet was trained on (``shift_factor`` exists in newer VAEs)."""
        shift = self.vae.config.get("shift_factor") or 0.0
        return (latents - shift) * self.vae.config.scaling_factor

    def unscale_latents(self, latents: torch.Tensor) -> torch.Tensor:
        shift = self.vae.config.get("shift_factor") or 0.0
        return latents / self.vae.config.scaling_factor + shift

    def sampler(self):
        """A fresh sampling scheduler on the checkpoint's noise schedule."""
        import diffusers

        name = self.spec["sampler"]
        if name not in SAMPLERS:
            raise ValueError(f"generator {self.spec['id']}: unknown sampler {name!r}; known: {', '.join(SAMPLERS)}")
        return getattr(diffusers, SAMPLERS[name]).from_config(self.noise_scheduler.config)

    def provenance(self) -> dict:
        return {
            "generator": self.spec["id"],
            "generator_revision": self.spec.get("revision") or "",
            "resolution": self.spec["resolution"],
            "library_versions": library_versions("diffusers", "transformers"),
        }


def generator_spec(spec: dict) -> dict:
    """A generator entry with every default filled in."""
    if "id" not in spec:
        raise ValueError("generator: `id` (hub id or local folder of a Stable Diffusion-layout checkpoint) is missing")
    return with_defaults("generator", spec, DEFAULTS, required=("id",))


def load_generator(spec: dict) -> Generator:
    """Load the frozen UNet, VAE and noise schedule of ``spec['id']`` (hub id or local folder)."""
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel

    spec = generator_spec(spec)
    device = resolve_device(spec["device"])
    dtype = resolve_dtype(spec["dtype"], device)
    where = {"pretrained_model_name_or_path": spec["id"], "revision": spec["revision"]}
    try:
        # diffusers reads a local .bin with weights_only=True; its refusal is re-raised naming the file.
        with naming_refused_weights([spec["id"]]):
            unet = UNet2DConditionModel.from_pretrained(**where, subfolder="unet", torch_dtype=dtype)
            # The VAE stays in float32: it runs once per image, and half-precision VAEs are known to overflow.
            vae = AutoencoderKL.from_pretrained(**where, subfolder="vae", torch_dtype=torch.float32)
            # Training adds noise with the checkpoint's own schedule; DDPM's add_noise is the standard forward process.
            noise_scheduler = DDPMScheduler.from_pretrained(**where, subfolder="scheduler")
    except UnsafeWeightsError:
        raise
    except (OSError, ValueError) as err:
        raise OSError(f"generator {spec['id']}: cannot load its unet/, vae/ or scheduler/ ({err})") from err
    for model in (unet, vae):
        model.requires_grad_(False).eval().to(device)
    vae.enable_slicing()  # one image at a time through the VAE: its memory stays flat in the batch size
    log.info("generator %s on %s: UNet in %s, cross-attention dim %d", spec["id"], device, dtype,
             unet.config.cross_attention_dim)
    return Generator(spec, unet, vae, noise_scheduler, device, dtype)


def load_conditioning_encoder(name: str, model_entry: dict | None, spec: dict) -> HFEncoder:
    """A configured text model, or (``model_entry`` None) the generator's own text encoder,
    on the generator's device."""
    if model_entry is None:
        return load_checkpoint_text_encoder(name, spec, device=generator_spec(spec)["device"])
    from ..models import load_encoder

    return load_encoder(name, model_entry, device=generator_spec(spec)["device"])


class CheckpointTextEncoder(HFEncoder):
    """The checkpoint's own CLIP text encoder (``text_encoder/`` with ``tokenizer/`` beside it): the reference row."""

    def _pretrained_kwargs(self) -> dict:
        return {**super()._pretrained_kwargs(), "subfolder": "text_encoder"}

    def _load_tokenizer(self, transformers, kwargs) -> None:
        super()._load_tokenizer(transformers, {**kwargs, "subfolder": "tokenizer"})


def load_checkpoint_text_encoder(name: str, spec: dict, device: str = "auto", dtype: str = "auto") -> HFEncoder:
    """The generator's own text encoder as an encoder of the registry, read at its last hidden state
    as Stable Diffusion 1.x reads it (``pooler`` loads the plain tower, which the checkpoint holds)."""
    spec = generator_spec(spec)
    entry = {"source": "hf", "id": spec["id"], "revision": spec["revision"], "modality": "text",
             "family": "clip", "pooling": "pooler"}
    return CheckpointTextEncoder(name, entry, device=device, dtype=dtype)
