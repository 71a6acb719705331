"""Pooling of token (or patch) states into one vector per input.

All functions take ``hidden`` (B x T x D) and, for text, the ``attention_mask``
(B x T, 1 for real tokens) so padding never leaks into a vector, whichever side
the tokenizer pads on.
"""

from __future__ import annotations

import torch


def cls_pool(hidden: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    return hidden[:, 0]


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    if attention_mask is None:
        return hidden.mean(dim=1)
    mask = attention_mask.to(hidden.dtype).unsqueeze(-1)
    summed = (hidden * mask).sum(dim=1, dtype=torch.float32)
    return (summed / mask.sum(dim=1, dtype=torch.float32).clamp(min=1.0)).to(hidden.dtype)


def last_token_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position of the last real token of each row, for left or right padding."""
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    return (attention_mask.bool() * (positions + 1)).argmax(dim=1)


def eos_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    return hidden[rows, last_token_index(attention_mask)]


TOKEN_POOLINGS = {"cls": cls_pool, "mean": mean_pool, "eos": eos_pool}
