"""The per-encoder adapter: maps each token's hidden state into the UNet's cross-attention space.

The same module maps every token (it never mixes tokens), so what the UNet attends
to is still the encoder's own sequence. ``linear`` is one matrix; ``mlp`` is
LayerNorm then two linear layers with a GELU between: the LayerNorm puts encoders
whose states differ in scale by orders of magnitude (causal LMs) on one footing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn

from . import with_defaults

KINDS = ("linear", "mlp")
DEFAULTS = {"kind": "mlp", "hidden_dim": None}


class TokenAdapter(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, kind: str = "mlp", hidden_dim: int | None = None):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"adapter kind {kind!r} is unknown; choose one of {', '.join(KINDS)}")
        self.config = {"in_dim": int(in_dim), "out_dim": int(out_dim), "kind": kind,
                       "hidden_dim": int(hidden_dim or out_dim)}
        self.metadata: dict = {}  # provenance, written with the weights
        if kind == "linear":
            self.net = nn.Linear(in_dim, out_dim)
        else:
            hidden = self.config["hidden_dim"]
            self.net = nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, hidden), nn.GELU(),
                                     nn.Linear(hidden, out_dim))

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        """B x T x in_dim token states to B x T x out_dim cross-attention inputs."""
        if states.shape[-1] != self.config["in_dim"]:
            raise ValueError(f"adapter expects token states of width {self.config['in_dim']}, got {states.shape[-1]}")
        return self.net(states)

    def save(self, path: str | os.PathLike, metadata: dict | None = None) -> Path:
        """One safetensors file: the weights, with the architecture and ``metadata`` (provenance) in its header."""
        from safetensors.torch import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.metadata = dict(metadata or {})
        header = {"config": json.dumps(self.config), "metadata": json.dumps(self.metadata, default=str)}
        state = {name: tensor.detach().float().cpu().contiguous() for name, tensor in self.state_dict().items()}
        save_file(state, str(path), metadata=header)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = "cpu") -> "TokenAdapter":
        """The saved adapter, its provenance in ``.metadata``."""
        from safetensors import safe_open
        from safetensors.torch import load_file

        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
        if "config" not in header:
            raise ValueError(f"{path}: not an adapter file (no adapter config in its header)")
        adapter = cls(**json.loads(header["config"]))
        adapter.load_state_dict(load_file(str(path)))
        adapter.metadata = json.loads(header.get("metadata", "{}"))
        return adapter.to(device)


def build_adapter(spec: dict, in_dim: int, out_dim: int) -> TokenAdapter:
    """An adapter from its config entry (``kind``, ``hidden_dim``)."""
    spec = with_defaults("adapter", spec, DEFAULTS)
    return TokenAdapter(in_dim, out_dim, kind=spec["kind"], hidden_dim=spec["hidden_dim"])
