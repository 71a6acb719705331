"""The HDF5 embedding store: one file per (dataset, model).

Layout (see DESIGN.md): ``ids`` (N, utf-8), ``embeddings`` (N x D, float32),
optional ``items/embeddings`` (M x D) + ``items/owner`` (M) holding the
per-occurrence vectors whose per-owner mean is the row, and attrs with the
provenance. ``complete=True`` is written last.

Extraction writes into ``<name>.partial``: the vectors of the encoded units plus a
``done`` mask flushed after every batch. A killed job reruns, finds the partial
file, checks it was started with the same spec and continues with the units
not yet done. ``finalize`` turns it into the final layout and renames it, so a
file at the final path is always complete.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import h5py
import numpy as np

SCHEMA_VERSION = 1
_PARTIAL_SUFFIX = ".partial"
_ROW_BLOCK = 4096


class IncompleteStoreError(RuntimeError):
    """An embedding file without ``complete=True``."""


class StoreMismatchError(ValueError):
    """Two embedding files that cannot be compared (different item ids)."""


def hdf5_locking() -> bool | None:
    """The h5py ``locking`` argument every store file is opened with.

    A store file is written by one job under its ``.partial`` name and read only after
    the rename, so HDF5's file lock adds no safety here, while NFS and Lustre mounts
    without flock support refuse to open locked files ("unable to lock file,
    errno = 38"). Locking is therefore off, unless HDF5_USE_FILE_LOCKING is set, which
    then decides as HDF5 documents it.
    """
    return None if "HDF5_USE_FILE_LOCKING" in os.environ else False


def open_hdf5(path: str | os.PathLike, mode: str) -> h5py.File:
    return h5py.File(path, mode, locking=hdf5_locking())


def partial_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.with_name(path.name + _PARTIAL_SUFFIX)


def _canonical(spec: dict) -> str:
    return json.dumps(spec, sort_keys=True, default=str)


def open_partial(partial: Path, ids: list[str], spec: str, n_units: int, log) -> h5py.File:
    """The ``.partial`` file of a resumable extraction: the one on disk when it was started
    with the same ``spec`` and ids (its ``done`` mask says what is left), else a new one."""
    if partial.exists():
        try:
            f = open_hdf5(partial, "a")
            same = (f.attrs.get("spec") == spec and f["done"].shape == (n_units,)
                    and list(f["ids"].asstr()[:]) == ids)
        except (OSError, KeyError) as err:
            log(f"Unreadable partial file {partial} ({err}); starting over.")
            same, f = False, None
        if same:
            log(f"Resuming {partial}: {int(f['done'][:].sum())}/{n_units} units already done.")
            return f
        if f is not None:
            f.close()
            log(f"Partial file {partial} was started with another spec or items; starting over.")
        partial.unlink()
    f = open_hdf5(partial, "w")
    f.create_dataset("ids", data=np.array(ids, dtype=object), dtype=h5py.string_dtype("utf-8"))
    f.create_dataset("done", data=np.zeros(n_units, dtype=bool))
    f.attrs["spec"] = spec
    f.flush()
    return f


class PartialStore:
    """A resumable extraction target for ``n_units`` vectors.

    ``owners`` (optional, one index into ``ids`` per unit) marks the units as
    per-occurrence items whose mean per owner becomes the row; without it, unit
    ``i`` is row ``i``.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        ids: Sequence[str],
        spec: dict,
        owners: Sequence[int] | None = None,
        log=print,
    ):
        self.path = Path(path)
        self.partial = partial_path(self.path)
        self.ids = list(ids)
        self.owners = None if owners is None else np.asarray(owners, dtype=np.int64)
        self.n_units = len(self.ids) if self.owners is None else len(self.owners)
        if self.owners is not None and len(self.owners) and (
            self.owners.min() < 0 or self.owners.max() >= len(self.ids)
        ):
            raise ValueError(f"{self.path}: item owners must index into the {len(self.ids)} ids")
        self._spec = _canonical(spec)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = self._open(log)

    def _open(self, log) -> h5py.File:
        f = open_partial(self.partial, self.ids, self._spec, self.n_units, log)
        if self.owners is not None and "owner" not in f:
            f.create_dataset("owner", data=self.owners)
            f.flush()
        return f

    def done_mask(self) -> np.ndarray:
        return self.file["done"][:]

    def write(self, unit_index: np.ndarray, vectors: np.ndarray) -> None:
        """Write the vectors of the given units, then mark them done (crash-safe order)."""
        unit_index = np.asarray(unit_index, dtype=np.int64)
        vectors = np.asarray(vectors, dtype=np.float32)
        if "units" not in self.file:
            dim = vectors.shape[1]
            self.file.create_dataset(
                "units", shape=(self.n_units, dim), dtype=np.float32,
                chunks=(min(max(self.n_units, 1), 256), dim),
            )
        order = np.argsort(unit_index)
        sorted_index = unit_index[order]
        self.file["units"][sorted_index] = vectors[order]
        self.file.flush()
        done = self.file["done"]
        done[sorted_index] = True
        self.file.flush()

    def finalize(self, attrs: dict) -> Path:
        """Lay the file out as the store contract says and rename it into place."""
        f = self.file
        done = f["done"][:]
        if not done.all():
            raise RuntimeError(f"{self.partial}: {int((~done).sum())} units were never written")
        if self.n_units and "units" not in f:
            raise RuntimeError(f"{self.partial}: no vectors written")
        del f["done"]
        if self.owners is None:
            f.move("units", "embeddings")
        else:
            f.create_group("items")
            f.move("units", "items/embeddings")
            f.move("owner", "items/owner")
            f.create_dataset("embeddings", data=_owner_means(f["items/embeddings"], self.owners, len(self.ids)))
        del f.attrs["spec"]
        for key, value in attrs.items():
            f.attrs[key] = _attr_value(value)
        f.attrs["schema_version"] = SCHEMA_VERSION
        f.attrs["spec"] = self._spec
        f.attrs["complete"] = True
        f.close()
        os.replace(self.partial, self.path)
        return self.path

    def close(self) -> None:
        if self.file.id.valid:
            self.file.close()


def _owner_means(items: h5py.Dataset, owners: np.ndarray, n_rows: int) -> np.ndarray:
    dim = items.shape[1]
    sums = np.zeros((n_rows, dim), dtype=np.float64)
    for start in range(0, len(owners), _ROW_BLOCK):
        block = items[start:start + _ROW_BLOCK].astype(np.float64)
        np.add.at(sums, owners[start:start + _ROW_BLOCK], block)
    counts = np.bincount(owners, minlength=n_rows)
    if (counts == 0).any():
        missing = int((counts == 0).sum())
        raise ValueError(f"{missing} rows have no items; every id needs at least one occurrence")
    return (sums / counts[:, None]).astype(np.float32)


def _attr_value(value):
    if value is None:
        return ""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, default=str)
    return value


@dataclass
class Embeddings:
    path: Path
    ids: list[str]
    vectors: np.ndarray
    attrs: dict
    items: np.ndarray | None = None
    owner: np.ndarray | None = None

    def identity(self) -> dict:
        """Which model made these vectors, and how: the fields every score record carries."""
        return {"model": str(self.attrs["model"]), "family": str(self.attrs.get("family", "")),
                "pooling": str(self.attrs["pooling"])}


def read_embeddings(path: str | os.PathLike, items: bool = False) -> Embeddings:
    """Read a complete store file; refuse anything else with the file's name."""
    path = Path(path)
    if not path.exists():
        hint = " (an extraction was interrupted; rerun the workflow to resume it)" if partial_path(path).exists() else ""
        raise FileNotFoundError(f"{path}: no such embedding file{hint}")
    with open_hdf5(path, "r") as f:
        attrs = dict(f.attrs)
        if not attrs.get("complete", False):
            raise IncompleteStoreError(
                f"{path} is not a complete embedding file (attribute complete=True missing); "
                "delete it and rerun the workflow to re-extract it"
            )
        result = Embeddings(path, list(f["ids"].asstr()[:]), f["embeddings"][:], attrs)
        if items and "items" in f:
            result.items = f["items/embeddings"][:]
            result.owner = f["items/owner"][:]
    return result


def require_same_ids(a: Embeddings, b: Embeddings) -> None:
    """Scoring compares rows by position: refuse files whose item ids differ."""
    if a.ids != b.ids:
        only_a = len(set(a.ids) - set(b.ids))
        only_b = len(set(b.ids) - set(a.ids))
        raise StoreMismatchError(
            f"{a.path} and {b.path} hold different items ({len(a.ids)} vs {len(b.ids)} ids, "
            f"{only_a} only in the first, {only_b} only in the second); "
            "they must be embeddings of the same dataset version"
        )
    datasets = (a.attrs.get("dataset"), b.attrs.get("dataset"))
    if datasets[0] != datasets[1]:
        raise StoreMismatchError(f"{a.path} embeds dataset {datasets[0]!r} but {b.path} embeds {datasets[1]!r}")
