"""Hugging Face transformers encoders: BERT-style, CLIP towers, causal LMs, ViT/MAE/SegFormer."""

from __future__ import annotations

import hashlib
import inspect
import os
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from ..config import check_model_entry, extra_layers_asked, offered_poolings, resolve_layers, transformer_depth
from ..images import to_rgb
from .base import Encoder, fit_tokens, require_pooling
from .pooling import TOKEN_POOLINGS

# Model types whose first token is a CLS token, excluded from a mean over patches.
_CLS_TOKEN_VISION = {"vit", "vit_mae", "clip_vision_model", "clip", "dinov2", "deit", "beit"}
_UNBOUNDED_LENGTH = 100_000
# Salt of the per-image seeds of ViT-MAE's random masking (``mask_ratio`` > 0).
MASK_SEED = 0


def image_seed(pixels: torch.Tensor, salt: int = MASK_SEED) -> int:
    """A seed drawn from one image's preprocessed pixels: the same image gets the same seed in any
    batch, position, run or resumed job, so a random mask depends on nothing but the image."""
    data = pixels.detach().float().cpu().contiguous().numpy().tobytes()
    digest = hashlib.blake2b(data, digest_size=8, key=salt.to_bytes(8, "little")).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def mae_noise(pixel_values: torch.Tensor, patch_size: int, mask_ratio: float) -> torch.Tensor:
    """ViT-MAE's per-patch noise (B x patches; the lowest ``1 - mask_ratio`` share of patches is kept).

    Without masking the noise ascends, so every patch stays in its place. With masking each
    image's noise is uniform, from a generator seeded by the image itself (``image_seed``).
    """
    batch, height, width = pixel_values.shape[0], *pixel_values.shape[-2:]
    n_patches = (height // patch_size) * (width // patch_size)
    if not mask_ratio:
        return torch.arange(n_patches, dtype=torch.float32).expand(batch, -1)
    return torch.stack([
        torch.rand(n_patches, generator=torch.Generator().manual_seed(image_seed(image))) for image in pixel_values
    ])


def input_device(model) -> torch.device:
    """Where a model placed by accelerate (``device_map``) runs its input embeddings. An offloaded
    module keeps its weights on ``meta`` and has them moved in for each call, so its hook names the device."""
    try:
        embeddings = model.get_input_embeddings()
    except NotImplementedError:  # SegFormer names none; its first module runs where the model's hook says
        embeddings = model
    for module in embeddings.modules():
        device = getattr(getattr(module, "_hf_hook", None), "execution_device", None)
        if device is not None:
            return torch.device(device)
    return next(embeddings.parameters()).device


def _device_name(device) -> str:
    # accelerate names GPUs by index, CPU and disk offload by "cpu" and "disk"
    return f"cuda:{device}" if isinstance(device, int) else str(device)


def span_token_mask(offsets: torch.Tensor, spans: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """B x T mask of the real tokens overlapping each row's character span [start, end).

    Special tokens have empty offsets and never overlap; byte-level BPE tokens that
    include the leading space still overlap the word they carry.
    """
    token_start, token_end = offsets[..., 0], offsets[..., 1]
    start, end = spans[:, :1], spans[:, 1:]
    return (token_end > token_start) & (token_start < end) & (token_end > start) & attention_mask.bool()


class HFEncoder(Encoder):
    libraries = ("transformers", "tokenizers")

    def default_pooling(self) -> str:
        return "projection" if self._is_clip() else ("cls" if self.modality == "vision" else "mean")

    def _is_clip(self) -> bool:
        return self.entry.get("family") == "clip"

    def _pretrained_kwargs(self) -> dict:
        return {
            "revision": self.entry.get("revision"),
            "trust_remote_code": bool(self.entry.get("trust_remote_code", False)),
        }

    def _placement(self) -> dict:
        """accelerate's placement of a model too big for one device: over the job's GPUs, then the
        CPU, then disk, as ``device_map``, ``max_memory`` and ``offload_folder`` say."""
        if not self.entry.get("device_map"):
            return {}
        placement = {"device_map": self.entry["device_map"]}
        if "max_memory" in self.entry:
            # GPU indices arrive as strings from the JSON of the rule's params; accelerate wants ints.
            placement["max_memory"] = {int(key) if str(key).isdigit() else key: size
                                       for key, size in self.entry["max_memory"].items()}
        if "offload_folder" in self.entry:
            # A folder of this job's own (removed with the encoder): jobs of one model on other datasets
            # run at once, and accelerate reuses offloaded weights it finds in the folder.
            folder = Path(os.path.expanduser(self.entry["offload_folder"]))
            folder.mkdir(parents=True, exist_ok=True)
            self._offload = tempfile.TemporaryDirectory(prefix=f"{self.name}-", dir=folder)
            placement["offload_folder"] = self._offload.name
        return placement

    def _load(self) -> None:
        import transformers

        kwargs = self._pretrained_kwargs()
        # Before check_model_entry, which also checks pooling: every source refuses a pooling in the same words.
        require_pooling(self, offered_poolings(self.entry))
        config = transformers.AutoConfig.from_pretrained(self.entry["id"], **kwargs)
        # The plan checks the entry against config.json only where it is already on disk; a hub model first
        # downloaded by this job is checked here, before its weights load, by the same rules (an out-of-range
        # `layer` would otherwise surface as a bare IndexError at hidden_states[layer]).
        check_model_entry(self.name, self.entry, config.to_dict())
        self.model_type = config.model_type
        if "mask_ratio" in self.entry and self.model_type != "vit_mae":
            raise ValueError(
                f"model {self.name!r}: mask_ratio applies to ViT-MAE models only; {self.entry['id']} is a "
                f"{self.model_type!r} model. Remove mask_ratio"
            )
        model_class, extra = self._model_class(transformers)
        placement = self._placement()
        self.model = model_class.from_pretrained(self.entry["id"], dtype=self.dtype, **kwargs, **extra, **placement)
        if placement:
            # accelerate placed the layers (moving them would break its hooks); inputs go where they start.
            self.device = input_device(self.model)
        else:
            self.model.to(self.device)
        self.model.eval()
        self.revision = getattr(self.model.config, "_commit_hash", None) or getattr(config, "_commit_hash", None)
        if self.modality == "text":
            self._load_tokenizer(transformers, kwargs)
        else:
            self.processor = self._load_processor(transformers, kwargs)
        # A causal LM has seen the whole word only at its last subword; bidirectional encoders at every subword.
        self.word_pooling = self.entry.get("word_pooling") or (
            "last" if self.entry.get("family") in ("causal", "clip") else "mean"
        )
        if self.pooling in ("pooler", "projection") and self.layer is not None:
            raise ValueError(
                f"model {self.name!r}: pooling {self.pooling!r} exists only at the last layer; "
                "remove `layer` or pool with cls/mean/eos"
            )
        self.stored_layers = self._resolve_stored_layers(config.to_dict())

    def _resolve_stored_layers(self, model_config: dict) -> list[int]:
        """The hidden-state indices ``layers`` asks to store beside the main vector (none without it)."""
        if not extra_layers_asked(self.entry):
            return []
        if self.pooling in ("pooler", "projection"):
            raise ValueError(
                f"model {self.name!r}: pooling {self.pooling!r} exists only at the last layer, so `layers` cannot "
                "be pooled like the main vector; set pooling cls, mean or eos, or remove `layers`"
            )
        depth = transformer_depth(self.entry, model_config)
        if depth is None:
            raise ValueError(
                f"model {self.name!r}: `layers` needs the number of transformer layers, which the config of "
                f"{self.entry['id']} ({self.model_type}) does not give (no num_hidden_layers); remove `layers`"
            )
        return resolve_layers(self.name, self.entry, depth)

    def _wants_hidden_states(self) -> bool:
        return self.layer is not None or bool(self.stored_layers)

    @property
    def mask_ratio(self) -> float:
        return float(self.entry.get("mask_ratio", 0.0))

    def _load_processor(self, transformers, kwargs):
        """The checkpoint's image processor; ``image_backend`` picks its backend (``pil``: the slow
        processors of transformers 4), ``image_size`` overrides the size it resizes (and crops) to."""
        if self.entry.get("image_backend"):
            kwargs = {**kwargs, "backend": self.entry["image_backend"]}
        processor = transformers.AutoImageProcessor.from_pretrained(self.entry["id"], **kwargs)
        size = self.entry.get("image_size")
        # Position embeddings are interpolated where the size differs from the one the model was built for.
        native = getattr(self.model.config, "image_size", None)
        self._interpolate = bool(
            size and native and size != native
            and "interpolate_pos_encoding" in inspect.signature(self.model.forward).parameters
        )
        if not size:
            return processor
        overrides = self._size_overrides(processor, int(size))
        return transformers.AutoImageProcessor.from_pretrained(self.entry["id"], **kwargs, **overrides)

    def _size_overrides(self, processor, size: int) -> dict:
        def get(sizes, key):
            return sizes.get(key) if isinstance(sizes, dict) else getattr(sizes, key, None)

        square = {"height": size, "width": size}
        current = processor.size
        if get(current, "shortest_edge"):
            overrides = {"size": {"shortest_edge": size}}
        elif get(current, "height") and get(current, "width"):
            overrides = {"size": square}
        else:
            raise ValueError(
                f"model {self.name!r}: image_size cannot be set for {self.entry['id']}, whose image processor "
                f"({type(processor).__name__}) sizes images by {current}"
            )
        if getattr(processor, "do_center_crop", False) and getattr(processor, "crop_size", None) is not None:
            overrides["crop_size"] = square
        return overrides

    def provenance(self) -> dict:
        provenance = super().provenance()
        if self.modality == "vision" and self.entry.get("image_size"):
            provenance["image_size"] = int(self.entry["image_size"])
        if getattr(self, "model_type", None) == "vit_mae":
            provenance["mask_ratio"] = self.mask_ratio
        if self.entry.get("device_map"):
            used = {_device_name(device) for device in getattr(self.model, "hf_device_map", {}).values()}
            provenance["device_map"] = {"strategy": self.entry["device_map"], "devices": sorted(used)}
            provenance["gpus"] = self.gpus
        return provenance

    def _skeleton(self):
        import transformers

        kwargs = self._pretrained_kwargs()
        config = transformers.AutoConfig.from_pretrained(self.entry["id"], **kwargs)
        self.model_type = config.model_type
        model_class, _ = self._model_class(transformers)
        if model_class is transformers.AutoModel:
            network = transformers.AutoModel.from_config(config, trust_remote_code=kwargs["trust_remote_code"])
        else:
            # A CLIP tower reads its own part (text_config / vision_config) of a CLIPModel config.
            config = model_class.config_class.from_pretrained(self.entry["id"], **kwargs)
            network = model_class(config)
        if self.pooling == "projection":
            return network, config.projection_dim
        hidden = getattr(config, "hidden_size", None) or config.hidden_sizes[-1]
        return network, hidden

    def _model_class(self, transformers):
        # The with-projection CLIP towers return no pooler_output: "pooler" (the features
        # before the projection) needs the plain tower.
        if self.modality == "text":
            if self.model_type == "clip" or self.model_type == "clip_text_model":
                if self.pooling == "pooler":
                    return transformers.CLIPTextModel, {}
                return transformers.CLIPTextModelWithProjection, {}
            return transformers.AutoModel, {}
        if self.model_type == "clip" or self.model_type == "clip_vision_model":
            if self.pooling == "pooler":
                return transformers.CLIPVisionModel, {}
            return transformers.CLIPVisionModelWithProjection, {}
        if self.model_type == "vit_mae":
            # Without masking (the default) every patch is kept, so an image always gives the same
            # vector; `mask_ratio` reproduces the checkpoint's pretraining masking (0.75), seeded per image.
            return transformers.ViTMAEModel, {"mask_ratio": self.mask_ratio}
        return transformers.AutoModel, {}

    def _load_tokenizer(self, transformers, kwargs) -> None:
        tokenizer = transformers.AutoTokenizer.from_pretrained(self.entry["id"], **kwargs)
        tokenizer.padding_side = "right"
        if tokenizer.pad_token is None:
            if tokenizer.eos_token is None:
                raise ValueError(f"model {self.name!r}: tokenizer has neither a pad nor an eos token")
            tokenizer.pad_token = tokenizer.eos_token
        self.tokenizer = tokenizer
        limits = [
            self.entry.get("max_length"),
            tokenizer.model_max_length if tokenizer.model_max_length < _UNBOUNDED_LENGTH else None,
            getattr(self.model.config, "max_position_embeddings", None),
        ]
        self.max_length = min(limit for limit in limits if limit) if any(limits) else 512

    def pair_inputs(self, texts: Sequence[str], text_pairs: Sequence[str] | None) -> tuple[list, list | None]:
        """The (first, second) texts to hand the tokenizer for the encoder's native pair input: its
        tokenizer's pair template where it has one (BERT: [CLS] A [SEP] B [SEP]), else the two texts
        joined by its end token, with no second list (CLIP, causal LMs). Single texts pass unchanged."""
        if text_pairs is None:
            return list(texts), None
        if self.tokenizer.sep_token is not None:
            return list(texts), list(text_pairs)
        return [f"{a}{self.tokenizer.eos_token}{b}" for a, b in zip(texts, text_pairs)], None

    def token_lengths(self, texts: Sequence[str], text_pairs: Sequence[str] | None = None) -> np.ndarray:
        first, second = self.pair_inputs(texts, text_pairs)
        encoded = self.tokenizer(first, second, add_special_tokens=True, truncation=False)["input_ids"]
        return np.array([len(ids) for ids in encoded], dtype=np.int64)

    def pools_at_end_token(self) -> bool:
        """Whether the pooled vector is read at the end token (CLIP's pooler and projection): the
        tokenized inputs must then end with it (:meth:`check_end_tokens`), and a joined pair pools
        at the end of its first text."""
        return self._is_clip() and self.pooling in ("pooler", "projection")

    def encode_texts(self, texts: Sequence[str], text_pairs: Sequence[str] | None = None) -> torch.Tensor:
        return self.encode_texts_with_layers(texts, text_pairs)[0]

    @torch.inference_mode()
    def encode_texts_with_layers(self, texts: Sequence[str], text_pairs: Sequence[str] | None = None
                                 ) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        first, second = self.pair_inputs(texts, text_pairs)
        batch = self.tokenizer(
            first, second, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        ).to(self.device)
        if self.pools_at_end_token():
            self.check_end_tokens(batch["input_ids"], batch["attention_mask"])
        out = self.model(**batch, output_hidden_states=self._wants_hidden_states())
        # Pooler and projection pooling (CLIP) refuse `layers` at load, so these carry no extra layers.
        if self.pools_at_end_token() and text_pairs is not None:
            # CLIP pools at the first end token, which in a joined pair ends the first text only.
            last = out.last_hidden_state
            pooled = TOKEN_POOLINGS["eos"](last, batch["attention_mask"].to(last.device))
            if self.pooling == "projection":
                pooled = self.model.text_projection(pooled)
            return pooled.float().cpu(), {}
        if self.pooling == "projection":
            return out.text_embeds.float().cpu(), {}
        if self.pooling == "pooler":
            return out.pooler_output.float().cpu(), {}

        def pool(hidden: torch.Tensor) -> torch.Tensor:
            return TOKEN_POOLINGS[self.pooling](hidden, batch["attention_mask"].to(hidden.device)).float().cpu()

        return self._main_and_layers(out, pool)

    def _main_and_layers(self, out, pool: Callable[[torch.Tensor], torch.Tensor]
                         ) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """The main vector (``layer``, else the model's output) and each stored layer's, all pooled by ``pool``."""
        hidden = out.hidden_states[self.layer] if self.layer is not None else out.last_hidden_state
        return pool(hidden), {index: pool(out.hidden_states[index]) for index in self.stored_layers}

    def encode_spans(self, texts: Sequence[str], spans: Sequence[tuple[int, int]]) -> torch.Tensor:
        return self.encode_spans_with_layers(texts, spans)[0]

    @torch.inference_mode()
    def encode_spans_with_layers(self, texts: Sequence[str], spans: Sequence[tuple[int, int]]
                                 ) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        batch = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt",
            return_offsets_mapping=True,
        )
        offsets = batch.pop("offset_mapping")
        batch = batch.to(self.device)
        out = self.model(**batch, output_hidden_states=self._wants_hidden_states())
        word_mask = span_token_mask(offsets, torch.tensor(spans), batch["attention_mask"].cpu())
        missing = (~word_mask.any(dim=1)).nonzero().flatten().tolist()
        if missing:
            first = missing[0]
            raise ValueError(
                f"model {self.name!r}: no token covers characters {tuple(spans[first])} of {texts[first]!r} "
                f"(truncated at {self.max_length} tokens?); {len(missing)} such texts in this batch"
            )
        word_pooling = TOKEN_POOLINGS["eos" if self.word_pooling == "last" else "mean"]

        def pool(hidden: torch.Tensor) -> torch.Tensor:
            return word_pooling(hidden, word_mask.to(hidden.device)).float().cpu()

        return self._main_and_layers(out, pool)

    @torch.inference_mode()
    def token_states(self, texts: Sequence[str], length: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.modality != "text":
            return super().token_states(texts, length)
        batch = self.tokenizer(
            list(texts), padding="max_length", truncation=True, max_length=min(length, self.max_length),
            return_tensors="pt",
        ).to(self.device)
        out = self.model(**batch, output_hidden_states=self.layer is not None)
        hidden = out.hidden_states[self.layer] if self.layer is not None else out.last_hidden_state
        return fit_tokens(hidden.float().cpu(), length), fit_tokens(batch["attention_mask"].cpu(), length)

    def check_end_tokens(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> None:
        """Refuse a batch whose real tokens do not all end with the end token (a ValueError naming the
        model). CLIP pools at the end token; a tokenizer that stops adding it silently breaks pooling."""
        eos = self.tokenizer.eos_token_id
        rows = torch.arange(input_ids.shape[0], device=input_ids.device)
        last = input_ids[rows, attention_mask.sum(dim=1) - 1]
        if eos is None or not bool((last == eos).all()):
            raise ValueError(
                f"model {self.name!r}: the tokenizer did not end every input with its end token "
                f"(id {eos}); CLIP pooling reads that token. Check the tokenizer files of {self.entry['id']}"
            )

    def image_transform(self) -> Callable:
        processor = self.processor

        def transform(image):
            return processor(images=to_rgb(image), return_tensors="pt")["pixel_values"][0]

        return transform

    def encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.encode_images_with_layers(pixel_values)[0]

    @torch.inference_mode()
    def encode_images_with_layers(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        kwargs = {"output_hidden_states": self._wants_hidden_states()}
        if self.model_type == "vit_mae":
            # MAE shuffles patches by noise even when keeping all: ascending noise keeps their order;
            # with masking, the noise is seeded by each image's own pixels (before any dtype cast).
            noise = mae_noise(pixel_values, self.model.config.patch_size, self.mask_ratio)
            kwargs["noise"] = noise.to(self.device)
        if getattr(self, "_interpolate", False):
            kwargs["interpolate_pos_encoding"] = True
        pixel_values = pixel_values.to(self.device, self.dtype)
        out = self.model(pixel_values=pixel_values, **kwargs)
        if self.pooling == "projection":
            return out.image_embeds.float().cpu(), {}
        if self.pooling == "pooler":
            if getattr(out, "pooler_output", None) is None:
                raise ValueError(f"model {self.name!r} has no pooled output; use pooling cls or mean")
            return out.pooler_output.flatten(1).float().cpu(), {}
        return self._main_and_layers(out, self._pool_image_states)

    def _pool_image_states(self, hidden: torch.Tensor) -> torch.Tensor:
        if hidden.dim() == 4:  # convolutional maps (SegFormer, ResNet): B x C x H x W
            if self.pooling != "mean":
                raise ValueError(f"model {self.name!r} outputs feature maps; use pooling mean")
            return hidden.float().mean(dim=(2, 3)).cpu()
        if self.pooling == "cls":
            return hidden[:, 0].float().cpu()
        # ViT-MAE with masking: the kept patches only (the model drops the masked ones), CLS excluded.
        patches = hidden[:, 1:] if self.model_type in _CLS_TOKEN_VISION else hidden
        return patches.float().mean(dim=1).cpu()
