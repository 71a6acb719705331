"""Text-to-image generation conditioned on each text encoder, through a per-encoder token adapter.

Stages, one module each, in the order data flows: ``data`` (caption-image pairs, held-out
split), ``generator`` (the frozen Stable Diffusion-layout UNet, VAE and noise schedule),
``cache`` (VAE latents and encoder token states, computed once), ``adapter`` and ``train``
(the adapter and its denoising loss), ``generate`` (held-out images, figure grid) and
``metrics`` (FID, Inception Score, CLIP score).
"""

def with_defaults(section: str, spec: dict, defaults: dict, required: tuple[str, ...] = ()) -> dict:
    """A config section with its defaults filled in; unknown keys are refused, naming the section."""
    unknown = set(spec) - set(defaults) - set(required)
    if unknown:
        raise ValueError(f"{section}: unknown keys {sorted(unknown)}; allowed: {', '.join([*required, *defaults])}")
    return {**defaults, **spec}
