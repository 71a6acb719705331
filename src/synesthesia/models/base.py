"""What every encoder offers the extractor, whatever library it comes from."""

from __future__ import annotations

from abc import ABC, abstractmethod
from importlib.metadata import PackageNotFoundError, version
from typing import Callable, Sequence

import numpy as np
import torch

from ..config import local_paths
from ..gpu import claim_gpu
from ..logs import first_line
from .weights import naming_refused_weights

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def resolve_device(device: str = "auto", gpus: int = 1) -> torch.device:
    if device != "cpu":
        # Before CUDA's first use, which fixes the devices this process can see.
        claim_gpu(count=gpus)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """bf16 on GPU by default: fp16 overflows in large LMs; fp32 on CPU."""
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return DTYPES[dtype]


def library_versions(*packages: str) -> dict[str, str]:
    found = {}
    for package in ("synesthesia", "torch", "h5py", *packages):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            continue
    return found


def _caching_hint(entry: dict) -> str:
    """How to put a model's weights into the local cache, for machines (compute nodes) without internet."""
    if entry["source"] == "torchvision":
        return (f"Fetch its weights on a machine with internet first (`python -c \"import torchvision; "
                f"torchvision.models.get_model('{entry['id']}', weights='{entry.get('weights')}')\"`; they are "
                "kept under $TORCH_HOME/hub/checkpoints), or give `weights` as a local file")
    return (f"Cache it on a machine with internet first (`python -m synesthesia prefetch --configfile <config>` "
            f"caches every model of a config, `huggingface-cli download {entry['id']}` this one; gated models "
            "such as LLaMA-2 need `huggingface-cli login` and an accepted licence), then run with HF_HUB_OFFLINE=1")


class Encoder(ABC):
    """One model of one modality, loaded in eval mode on ``device`` in ``dtype``.

    ``entry`` is the model's own config entry (see the config schema); the
    registry picks the subclass from its ``source``.
    """

    libraries: tuple[str, ...] = ()

    def __init__(self, name: str, entry: dict, device: str = "auto", dtype: str = "auto", load: bool = True):
        self.name = name
        self.entry = entry
        self.modality = entry["modality"]
        self.pooling = entry.get("pooling") or self.default_pooling()
        self.layer = entry.get("layer")
        self.gpus = int(entry.get("gpus", 1))
        self.device = resolve_device(entry.get("device") or device, self.gpus)
        self.dtype = resolve_dtype(entry.get("dtype") or dtype, self.device)
        self.revision = None
        if load:
            try:
                with naming_refused_weights(local_paths(entry).values()):
                    self._load()
            except OSError as error:
                if local_paths(entry):
                    raise
                raise OSError(f"model {name!r}: {entry['id']!r} could not be loaded from the internet or the "
                              f"local cache ({first_line(error)}). {_caching_hint(entry)}") from error

    @abstractmethod
    def _load(self) -> None:
        """Load weights, tokenizer or preprocessing; set ``self.revision`` where known."""

    @abstractmethod
    def default_pooling(self) -> str: ...

    # text encoders
    max_length: int = 0

    def token_lengths(self, texts: Sequence[str], text_pairs: Sequence[str] | None = None) -> np.ndarray:
        """Untruncated token counts, used to batch by length and count truncations."""
        raise NotImplementedError(f"{self.name} is a {self.modality} model and does not encode text")

    def encode_texts(self, texts: Sequence[str], text_pairs: Sequence[str] | None = None) -> torch.Tensor:
        """One vector per text, or per (text, text_pair) in the encoder's native pair input."""
        raise NotImplementedError(f"{self.name} is a {self.modality} model and does not encode text")

    word_pooling: str = "mean"

    def encode_spans(self, texts: Sequence[str], spans: Sequence[tuple[int, int]]) -> torch.Tensor:
        """One vector per text: the tokens of the word at character ``span`` in its context."""
        raise NotImplementedError(
            f"model {self.name!r} ({self.entry['source']}) cannot embed words in context; use an hf text model"
        )

    def token_states(self, texts: Sequence[str], length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-token hidden states (B x ``length`` x D, float32, on the CPU) and the attention mask
        (B x ``length``, 1 for real tokens), truncated or zero-padded to ``length`` tokens: the
        sequence a text-to-image adapter reads. The layer is ``layer`` where set, else the last."""
        raise NotImplementedError(
            f"model {self.name!r} ({self.entry['source']}, {self.modality}) gives no per-token text states"
        )

    # Hidden-state indices stored beside the main vector (the entry's `layers`); only hf encoders have any.
    stored_layers: Sequence[int] = ()

    def encode_texts_with_layers(self, texts: Sequence[str], text_pairs: Sequence[str] | None = None
                                 ) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """``encode_texts`` and, from the same forward pass, one vector per index in ``stored_layers``."""
        vectors = self.encode_texts(texts) if text_pairs is None else self.encode_texts(texts, text_pairs)
        return vectors, {}

    def encode_spans_with_layers(self, texts: Sequence[str], spans: Sequence[tuple[int, int]]
                                 ) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """``encode_spans`` and, from the same forward pass, one vector per index in ``stored_layers``."""
        return self.encode_spans(texts, spans), {}

    def encode_images_with_layers(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """``encode_images`` and, from the same forward pass, one vector per index in ``stored_layers``."""
        return self.encode_images(pixel_values), {}

    # vision encoders
    def image_transform(self) -> Callable:
        raise NotImplementedError(f"{self.name} is a {self.modality} model and does not encode images")

    def encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{self.name} is a {self.modality} model and does not encode images")

    def parameter_count(self) -> int:
        """Parameters of the network this encoder runs (one tower of a two-tower model)."""
        return sum(p.numel() for p in self.model.parameters())

    def footprint(self) -> tuple[int, int]:
        """(parameters, vector size) from the architecture alone: the network is built on
        the meta device, so no weights are read or downloaded (at most a config file)."""
        with torch.device("meta"):
            self.model, dim = self._skeleton()
        return self.parameter_count(), dim

    def _skeleton(self) -> tuple[torch.nn.Module, int]:
        """The network ``parameter_count`` reads, with the vector size; built without weights."""
        raise NotImplementedError(f"{type(self).__name__} cannot build {self.name!r} without its weights")

    def provenance(self) -> dict:
        """What the store records about how the vectors were made."""
        return {
            "model": self.name,
            "source": self.entry["source"],
            "model_id": self.entry["id"],
            "family": self.entry.get("family", ""),
            "n_parameters": self.parameter_count(),
            "revision": self.revision or self.entry.get("revision") or "",
            "pooling": self.pooling,
            "layer": "last" if self.layer is None else int(self.layer),
            "dtype": str(self.dtype).removeprefix("torch."),
            "device": self.device.type,
            "library_versions": library_versions(*self.libraries),
        }


def fit_tokens(tensor: torch.Tensor, length: int) -> torch.Tensor:
    """Cut or zero-pad the token axis (dim 1) to ``length``, so every batch stacks into one array."""
    if tensor.shape[1] >= length:
        return tensor[:, :length]
    padding = tensor.new_zeros((tensor.shape[0], length - tensor.shape[1], *tensor.shape[2:]))
    return torch.cat([tensor, padding], dim=1)


def require_pooling(encoder: Encoder, allowed: Sequence[str]) -> None:
    if encoder.pooling not in allowed:
        raise ValueError(
            f"model {encoder.name!r}: pooling {encoder.pooling!r} is not available for this "
            f"{encoder.modality} model; choose one of {sorted(allowed)}"
        )
