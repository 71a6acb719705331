"""What adapter training reads instead of images and texts, computed once: HDF5 tensor caches.

Two caches, each one HDF5 file written the way the embedding store writes (see
``synesthesia.store``): under ``<name>.partial`` with a ``done`` mask flushed after
every batch (a killed job resumes where it stopped, if started with the same spec),
provenance attrs, ``complete=True`` last, then renamed into place.

- image latents, per (dataset, generator): ``ids`` (N), ``mean`` and ``std`` (N x C x h x w,
  float32) of the VAE's posterior for each training image, unscaled; training samples
  ``mean + std * noise`` and applies the VAE's scaling, as training on images would.
- token states, per (dataset, text encoder): ``ids`` (N + 1), ``states`` (N+1 x T x D, float32)
  and ``mask`` (N+1 x T, uint8) for every caption, padded to ``max_tokens``, plus the empty
  caption under ``EMPTY_CAPTION_ID`` (the unconditional input of classifier-free guidance).
  One token cache serves every adapter and generator of that encoder.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Sequence

import h5py
import numpy as np
import torch
from tqdm import tqdm

from ..data.tables import IMAGES, TEXT, table_hash
from ..embed import check_finite, sequential_batches
from ..logs import first_line
from ..models.base import Encoder
from ..store import (
    CorruptStoreError,
    IncompleteStoreError,
    ResumableFile,
    attr_value,
    finite_rows,
    first_repeated,
    open_store_file,
    partial_path,
    write_guard,
)
from ..versions import T2I_CACHE_VERSION
from .data import image_array, read_pairs, read_split
from .generator import Generator

EMPTY_CAPTION_ID = "<empty caption>"
# Arrays written together: name -> (partner, how many leading dimensions must agree).
# A latent's std has its mean's shape; a caption's mask has one entry per token state.
_PARTNERS = {"mean": ("std", 4), "states": ("mask", 2)}
_REBUILD = "delete it and rerun the workflow to rebuild it"

log = logging.getLogger(__name__)


class _CacheWriter(ResumableFile):
    """A resumable HDF5 target for ``len(ids)`` units of fixed-shape arrays, created at the first write."""

    def __init__(self, path: str | os.PathLike, ids: Sequence[str], spec: dict):
        super().__init__(path, ids, spec, len(ids), log.info)

    def todo(self, batch_size: int) -> list[np.ndarray]:
        done = self.done_mask()
        return [batch for batch in sequential_batches(len(self.ids), batch_size) if not done[batch].all()]

    def write(self, index: np.ndarray, arrays: dict[str, np.ndarray]) -> None:
        """Write a batch of units, then mark them done (crash-safe order)."""
        self.write_units(index, arrays, chunk_rows=1)

    def finalize(self, attrs: dict) -> Path:
        self.require_all_units()
        with write_guard(self.partial):
            del self.file["done"]
            for key, value in attrs.items():
                self.file.attrs[key] = attr_value(value)
            self.file.attrs["cache_version"] = T2I_CACHE_VERSION
            self.file.attrs["complete"] = True
        return self.close_and_rename()


class TensorCache:
    """A complete cache file, read a batch of rows at a time (never loaded whole).

    Opening checks the layout (ids unique, every array one row per id, each array's partner
    of matching shape); reading checks that every float value handed to training is finite.
    A file that fails either is refused naming it, the array and the first bad id.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.exists():
            hint = " (a caching job was interrupted; rerun the workflow)" if partial_path(self.path).exists() else ""
            raise FileNotFoundError(f"{self.path}: no such cache file{hint}")
        self.file = open_store_file(self.path)
        try:
            self.attrs = dict(self.file.attrs)
            if not self.attrs.get("complete", False):
                raise IncompleteStoreError(f"{self.path} is not a complete cache file (complete=True missing); "
                                           "delete it and rerun the workflow")
            with self._reading():
                self.ids = list(self.file["ids"].asstr()[:]) if "ids" in self.file else None
                self.arrays = {name: array.shape for name, array in self.file.items()
                               if isinstance(array, h5py.Dataset) and name != "ids"}
            self._check_layout()
        except BaseException:
            self.file.close()
            raise
        self._row = {item_id: row for row, item_id in enumerate(self.ids)}

    @contextmanager
    def _reading(self):
        """Turn h5py's error on a damaged file (a truncated chunk) into one naming the file."""
        try:
            yield
        except OSError as err:
            raise CorruptStoreError(f"{self.path}: reading failed ({first_line(err)}); {_REBUILD}") from err

    def _check_layout(self) -> None:
        if self.ids is None or not self.arrays:
            raise CorruptStoreError(f"{self.path}: no 'ids' or no arrays (it holds {sorted(self.file)}); {_REBUILD}")
        repeated = first_repeated(self.ids)
        if repeated is not None:
            raise CorruptStoreError(f"{self.path}: id {repeated!r} occurs more than once; {_REBUILD}")
        for name, shape in self.arrays.items():
            if len(shape) < 2 or shape[0] != len(self.ids):
                raise CorruptStoreError(f"{self.path}: {name!r} has shape {shape}, expected one row per each of "
                                        f"the {len(self.ids)} ids; {_REBUILD}")
        for name, (partner, leading_dims) in _PARTNERS.items():
            if name in self.arrays and partner in self.arrays:
                ours, theirs = self.arrays[name], self.arrays[partner]
                if ours[:leading_dims] != theirs[:leading_dims]:
                    raise CorruptStoreError(f"{self.path}: {name!r} has shape {ours} but {partner!r} has {theirs}; "
                                            f"they must agree in their first {leading_dims} dimensions; {_REBUILD}")

    def rows(self, name: str, ids: Sequence[str]) -> torch.Tensor:
        """The ``name`` arrays of ``ids``, in that order."""
        if name not in self.arrays:
            raise KeyError(f"{self.path}: no {name!r} array (it holds {sorted(self.arrays)}); "
                           "is it a cache of the other kind (latents vs token states)?")
        missing = [item_id for item_id in ids if item_id not in self._row]
        if missing:
            raise KeyError(f"{self.path}: {len(missing)} ids are not cached (first: {missing[0]!r}); "
                           "was it made from another dataset?")
        # h5py reads distinct rows in ascending order; the inverse puts them back in the order asked for.
        unique, inverse = np.unique([self._row[item_id] for item_id in ids], return_inverse=True)
        with self._reading():
            values = self.file[name][unique]
        if values.dtype.kind == "f":
            finite = finite_rows(values)
            if not finite.all():
                first = self.ids[int(unique[np.flatnonzero(~finite)[0]])]
                raise CorruptStoreError(f"{self.path}: {name!r} of id {first!r} is not finite "
                                        f"({int((~finite).sum())} of the {len(unique)} rows read); {_REBUILD}")
        return torch.from_numpy(values[inverse])

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> "TensorCache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _progress(total: int, todo: int, desc: str):
    # mininterval keeps job logs short when tqdm writes to a file instead of a terminal.
    return tqdm(total=total, initial=total - todo, desc=desc, unit="item", mininterval=10, miniters=1)


def cache_latents(generator: Generator, dataset_dir: str | os.PathLike, split: str | os.PathLike,
                  out: str | os.PathLike, dataset: str, batch_size: int) -> Path:
    """VAE posterior mean and std of each training image, at the generator's resolution."""
    pairs = read_pairs(dataset_dir).set_index("id")
    ids = read_split(split)["train"]
    resolution = generator.spec["resolution"]
    spec = {**generator.provenance(), "dataset": dataset, "dataset_hash": table_hash(Path(dataset_dir) / IMAGES),
            "cache_version": T2I_CACHE_VERSION}
    writer = _CacheWriter(out, ids, spec)
    try:
        batches = writer.todo(batch_size)
        with _progress(len(ids), sum(map(len, batches)), f"latents {dataset}") as bar, torch.inference_mode():
            for batch in batches:
                pixels = np.stack([image_array(pairs.loc[ids[i], "image"], resolution, dataset) for i in batch])
                pixels = torch.from_numpy(pixels).to(generator.device, torch.float32) / 127.5 - 1.0
                posterior = generator.vae.encode(pixels).latent_dist
                check_finite(posterior.mean.flatten(1).cpu(), generator.spec["id"], [ids[i] for i in batch])
                writer.write(batch, {"mean": posterior.mean.float().cpu().numpy(),
                                     "std": posterior.std.float().cpu().numpy()})
                bar.update(len(batch))
        vae = generator.vae.config
        return writer.finalize({**generator.provenance(), "dataset": dataset, "dataset_hash": spec["dataset_hash"],
                                "scaling_factor": vae.scaling_factor, "shift_factor": vae.get("shift_factor") or 0.0})
    finally:
        writer.close()


def cache_token_states(encoder: Encoder, dataset_dir: str | os.PathLike, out: str | os.PathLike, dataset: str,
                       max_tokens: int, batch_size: int) -> Path:
    """Per-token states and masks of every caption of the dataset and of the empty caption."""
    pairs = read_pairs(dataset_dir)
    if EMPTY_CAPTION_ID in set(pairs["id"]):
        raise ValueError(f"{dataset_dir}: the id {EMPTY_CAPTION_ID!r} is reserved for the empty caption")
    ids = [*pairs["id"], EMPTY_CAPTION_ID]
    texts = [*pairs["caption"], ""]
    dataset_hash = table_hash(Path(dataset_dir) / TEXT)
    spec = {"model": encoder.entry, "dataset": dataset, "dataset_hash": dataset_hash, "max_tokens": max_tokens,
            "cache_version": T2I_CACHE_VERSION}
    lengths = encoder.token_lengths(texts)
    truncated = int((lengths > min(max_tokens, encoder.max_length)).sum())
    if truncated:
        log.warning("%s: %d of %d captions exceed %d tokens and are truncated", encoder.name, truncated, len(texts),
                    min(max_tokens, encoder.max_length))
    writer = _CacheWriter(out, ids, spec)
    try:
        batches = writer.todo(batch_size)
        with _progress(len(ids), sum(map(len, batches)), f"tokens {encoder.name}") as bar:
            for batch in batches:
                states, mask = encoder.token_states([texts[i] for i in batch], max_tokens)
                check_finite(states.flatten(1), encoder.name, [ids[i] for i in batch])
                writer.write(batch, {"states": states.numpy(), "mask": mask.to(torch.uint8).numpy()})
                bar.update(len(batch))
        return writer.finalize({**encoder.provenance(), "dataset": dataset, "dataset_hash": dataset_hash,
                                "max_tokens": max_tokens, "truncated": truncated})
    finally:
        writer.close()
