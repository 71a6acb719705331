"""Weight files read without running code in them.

A torch file is a pickle, and unpickling a crafted one runs whatever function it names.
Every local weight file is therefore read as safetensors, or with ``torch.load(weights_only=True)``,
which unpickles tensors and plain containers only: here for the files this package reads
itself (torchvision ``weights``, the FID Inception), and inside transformers, diffusers,
open_clip and timm for theirs. :func:`naming_refused_weights` turns those libraries'
refusals, which do not say which file it was, into an error that names it.
"""

from __future__ import annotations

import pickle
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

import torch

PICKLED_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")


class UnsafeWeightsError(ValueError):
    """A weights file holds more than tensors: loading it could run code, so it is refused."""


def load_weights(path: str | Path) -> dict:
    """A weights file's tensors: safetensors, or a torch file unpickled with ``weights_only=True``."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise UnsafeWeightsError(_refusal([path])) from error


@contextmanager
def naming_refused_weights(paths: Iterable[str | Path]) -> Iterator[None]:
    """Re-raise a library's ``weights_only`` refusal naming the refused files among ``paths`` (files or folders)."""
    try:
        yield
    except UnsafeWeightsError:
        raise
    except Exception as error:
        if not _refused_unpickling(error):
            raise
        paths = [Path(path).expanduser() for path in paths]
        files = [file for path in paths for file in _pickled_files(path) if _unsafe_globals(file)]
        raise UnsafeWeightsError(_refusal(files or paths)) from error


def _refusal(paths: list[Path]) -> str:
    found = sorted({name for path in paths for name in _unsafe_globals(path)})
    calls = ", ".join(found) or "more than tensors"
    return (f"{', '.join(map(str, paths))}: refused: unpickling it would call {calls}, which could run code; "
            "give weights as safetensors, or as a torch.save of tensors only")


def _refused_unpickling(error: BaseException | None) -> bool:
    """Whether ``error`` or one it arose from is torch's weights_only refusal (libraries rewrap it)."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, pickle.UnpicklingError):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def _pickled_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.suffix in PICKLED_SUFFIXES) if path.is_dir() else []


def _unsafe_globals(path: Path) -> list[str]:
    """The functions and classes a torch file's pickle names beyond weights_only's allowlist (read, not run)."""
    try:
        return torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # not a zip-format torch file: its names are unknown, the refusal stands
        return []
