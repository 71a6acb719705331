"""The HDF5 embedding store: one file per (dataset, model).

Layout (docs/outputs.md, "Embedding store"): ``ids`` (N, utf-8), ``embeddings`` (N x D, float32),
optional ``items/embeddings`` (M x D) + ``items/owner`` (M) holding the
per-occurrence vectors whose per-owner mean is the row, optional ``layers/{i}/embeddings``
(and ``layers/{i}/items/embeddings``) holding hidden state ``i`` of the same forward pass
(float32 or float16, attrs ``layers`` and ``store_dtype``), and attrs with the
provenance. ``complete=True`` is written last.

Extraction writes into ``<name>.partial``: the vectors of the encoded units plus a
``done`` mask flushed after every batch. A killed job reruns, finds the partial
file, checks it was started with the same spec and continues with the units
not yet done. ``finalize`` turns it into the final layout and renames it, so a
file at the final path is always complete.

A row counts as written only when it is on disk and finite: float arrays are
created filled with NaN, so a row whose write was lost reads back as non-finite;
every write is flushed explicitly, so a failed write (a full disk) raises instead
of being reported and ignored by h5py; a resumed file redoes every row marked done
that is not finite; and ``finalize`` re-reads the finished file before renaming it.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import h5py
import numpy as np

from .logs import first_line

SCHEMA_VERSION = 1
_PARTIAL_SUFFIX = ".partial"
_ROW_BLOCK = 4096
# Rows are verified in blocks of at most this many bytes, so huge stores never load whole.
_VERIFY_BLOCK_BYTES = 1 << 26
# HDF5 adds chunk indexes and metadata to the raw data; the free-space check asks for this margin.
_SPACE_MARGIN = 1.02
_SPACE_SLACK = 1 << 20


class IncompleteStoreError(RuntimeError):
    """An embedding file without ``complete=True``."""


class StoreMismatchError(ValueError):
    """Two embedding files that cannot be compared (different item ids)."""


class CorruptStoreError(ValueError):
    """A store file whose contents cannot be right: unreadable, truncated, short, wrong shape, non-finite."""


class MissingLayerError(LookupError):
    """A store file asked for a hidden-state layer it does not hold."""


class StoreWriteError(OSError):
    """Writing a store file failed; the message names the file."""


class DiskFullError(StoreWriteError):
    """No space left for a store file; the message names the file and the space needed."""


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


def open_store_file(path: str | os.PathLike) -> h5py.File:
    """A finished store or cache file opened for reading; an unreadable one is refused with its name."""
    try:
        return open_hdf5(path, "r")
    except OSError as err:
        raise CorruptStoreError(
            f"{path}: not a readable HDF5 file ({first_line(err)}); it is truncated or damaged: "
            "delete it and rerun the workflow to re-extract it"
        ) from err


def partial_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.with_name(path.name + _PARTIAL_SUFFIX)


def _canonical(spec: dict) -> str:
    return json.dumps(spec, sort_keys=True, default=str)


def _megabytes(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:,.1f} MB"


def _is_disk_full(err: BaseException) -> bool:
    # h5py reports a failed write as RuntimeError/OSError carrying HDF5's text, errno included.
    return getattr(err, "errno", None) == errno.ENOSPC or "errno = 28" in str(err) or "No space left" in str(err)


def write_failure(path: Path, err: BaseException) -> StoreWriteError:
    """The one-line error a failed write of ``path`` ends its job with."""
    if _is_disk_full(err):
        free = shutil.disk_usage(path.parent).free
        return DiskFullError(
            f"{path}: no space left on the device ({_megabytes(free)} free in {path.parent}); free space and "
            "rerun the workflow: the extraction resumes from the rows already on disk"
        )
    return StoreWriteError(f"{path}: writing failed ({first_line(err)}); rerun the workflow to resume")


@contextmanager
def write_guard(path: Path):
    """Turn any h5py/OS error while writing ``path`` into a StoreWriteError naming it."""
    try:
        yield
    except StoreWriteError:
        raise
    except (OSError, RuntimeError) as err:
        raise write_failure(path, err) from err


def require_free_space(path: Path, n_bytes: int) -> None:
    """Refuse to start writing ``n_bytes`` into ``path`` when its file system cannot hold them."""
    needed = int(n_bytes * _SPACE_MARGIN) + _SPACE_SLACK
    free = shutil.disk_usage(path.parent).free
    if free < needed:
        raise DiskFullError(
            f"{path}: needs about {_megabytes(needed)} but {path.parent} has {_megabytes(free)} free; "
            "free space (or put results/ on a larger disk) and rerun the workflow"
        )


def finite_rows(dataset) -> np.ndarray:
    """Per row of an array or h5py dataset: all values finite; read in bounded blocks."""
    n = len(dataset)
    row_bytes = max(1, int(np.prod(dataset.shape[1:], dtype=np.int64)) * dataset.dtype.itemsize)
    step = max(1, _VERIFY_BLOCK_BYTES // row_bytes)
    finite = np.empty(n, dtype=bool)
    for start in range(0, n, step):
        block = np.asarray(dataset[start:start + step])
        finite[start:start + len(block)] = np.isfinite(block.reshape(len(block), -1)).all(axis=1)
    return finite


def _unit_arrays(f: h5py.File) -> list[str]:
    """The per-unit float arrays of a partial file, in groups too (``layers/{i}/units``): the rows
    whose finiteness says they were written."""
    names = []

    def visit(name: str, obj) -> None:
        if isinstance(obj, h5py.Dataset) and name != "done" and obj.dtype.kind == "f":
            names.append(name)

    f.visititems(visit)
    return names


def _verified_done(f: h5py.File, partial: Path, log) -> np.ndarray:
    """The ``done`` mask less the rows that are not finite on disk (their write was lost)."""
    done = f["done"][:]
    verified = done.copy()
    for name in _unit_arrays(f):
        verified &= finite_rows(f[name])
    lost = int((done & ~verified).sum())
    if lost:
        log(f"{partial}: {lost} units marked done are not on disk (a failed write); they are redone.")
        f["done"][:] = verified
        f.flush()
    return verified


def open_partial(partial: Path, ids: list[str], spec: str, n_units: int, log) -> h5py.File:
    """The ``.partial`` file of a resumable extraction: the one on disk when it was started
    with the same ``spec`` and ids (its verified ``done`` mask says what is left), else a new one."""
    if partial.exists():
        try:
            f = open_hdf5(partial, "a")
            same = (f.attrs.get("spec") == spec and f["done"].shape == (n_units,)
                    and list(f["ids"].asstr()[:]) == ids)
            if same:
                done = _verified_done(f, partial, log)
        except (OSError, KeyError, RuntimeError) as err:
            log(f"Unreadable partial file {partial} ({first_line(err)}); starting over.")
            same, f = False, None
        if same:
            log(f"Resuming {partial}: {int(done.sum())}/{n_units} units already done.")
            return f
        if f is not None:
            f.close()
            log(f"Partial file {partial} was started with another spec or items; starting over.")
        partial.unlink()
    with write_guard(partial):
        f = open_hdf5(partial, "w")
        f.create_dataset("ids", data=np.array(ids, dtype=object), dtype=h5py.string_dtype("utf-8"))
        f.create_dataset("done", data=np.zeros(n_units, dtype=bool))
        f.attrs["spec"] = spec
        f.flush()
    return f


class ResumableFile:
    """A ``.partial`` HDF5 file of ``n_units`` units: per-unit arrays created at the first write,
    a ``done`` mask, and a rename into place once every unit is verified.

    ``extra_bytes(row_bytes)`` is what ``finalize`` adds beyond the unit arrays (the
    store's per-owner means), counted in the free-space check.
    """

    def __init__(self, path: str | os.PathLike, ids: Sequence[str], spec: dict, n_units: int, log=print):
        self.path = Path(path)
        self.partial = partial_path(self.path)
        self.ids = list(ids)
        self.n_units = n_units
        self._spec = _canonical(spec)
        self.log = log
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open_partial(self.partial, self.ids, self._spec, n_units, log)

    def done_mask(self) -> np.ndarray:
        return self.file["done"][:]

    def extra_bytes(self, row_bytes: int) -> int:
        return 0

    def _create(self, name: str, values: np.ndarray, chunk_rows: int) -> h5py.Dataset:
        row_shape = values.shape[1:]
        row_bytes = int(np.prod(row_shape, dtype=np.int64)) * values.dtype.itemsize
        remaining = int((~self.done_mask()).sum())
        require_free_space(self.partial, remaining * row_bytes + self.extra_bytes(row_bytes))
        fill = np.nan if values.dtype.kind == "f" else 0
        return self.file.create_dataset(name, shape=(self.n_units, *row_shape), dtype=values.dtype,
                                        chunks=(min(max(self.n_units, 1), chunk_rows), *row_shape),
                                        fillvalue=fill)

    def write_units(self, unit_index: np.ndarray, arrays: dict[str, np.ndarray], chunk_rows: int) -> None:
        """Write the arrays of the given units, flush them, then mark the units done (crash-safe order)."""
        unit_index = np.asarray(unit_index, dtype=np.int64)
        order = np.argsort(unit_index)
        sorted_index = unit_index[order]
        with write_guard(self.partial):
            for name, values in arrays.items():
                dataset = self.file[name] if name in self.file else self._create(name, values, chunk_rows)
                dataset[sorted_index] = values[order]
                dataset.flush()
            done = self.file["done"]
            done[sorted_index] = True
            done.flush()
            self.file.flush()

    def require_all_units(self) -> None:
        """Refuse to finish unless every unit is marked done and every float row is finite."""
        done = self.done_mask()
        if not done.all():
            raise RuntimeError(f"{self.partial}: {int((~done).sum())} units were never written")
        names = _unit_arrays(self.file)
        if self.n_units and not names:
            raise RuntimeError(f"{self.partial}: no vectors written")
        for name in names:
            finite = finite_rows(self.file[name])
            if not finite.all():
                raise CorruptStoreError(
                    f"{self.partial}: {int((~finite).sum())} units of {name!r} are not finite on disk "
                    f"(first: unit {int(np.flatnonzero(~finite)[0])}); rerun the workflow to redo them"
                )

    def close_and_rename(self) -> Path:
        """Close the finished partial file, force it to disk, verify it reads back, and rename it into place."""
        with write_guard(self.partial):
            self.file.close()
            descriptor = os.open(self.partial, os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        self.verify_finished(self.partial)
        os.replace(self.partial, self.path)
        return self.path

    def verify_finished(self, path: Path) -> None:
        with open_store_file(path) as f:
            if not f.attrs.get("complete", False):
                raise CorruptStoreError(f"{path}: the finished file lost its attributes; rerun the workflow")

    def close(self) -> None:
        """Close the file; after a failed write the close fails too, which must not hide the first error."""
        if self.file.id.valid:
            try:
                self.file.close()
            except (OSError, RuntimeError) as err:
                self.log(f"{self.partial}: closing after an error failed too ({first_line(err)})")


class PartialStore(ResumableFile):
    """A resumable extraction target for ``n_units`` vectors.

    ``owners`` (optional, one index into ``ids`` per unit) marks the units as
    per-occurrence items whose mean per owner becomes the row; without it, unit
    ``i`` is row ``i``. ``layers`` (hidden-state indices) are further vectors of each
    unit, written with the main ones in every batch and stored as ``layers/{i}``.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        ids: Sequence[str],
        spec: dict,
        owners: Sequence[int] | None = None,
        log=print,
        layers: Sequence[int] = (),
    ):
        self.layers = sorted(int(index) for index in layers)
        if not len(ids):
            raise ValueError(f"{path}: no items to embed; the dataset's table is empty")
        self.owners = None if owners is None else np.asarray(owners, dtype=np.int64)
        n_units = len(ids) if self.owners is None else len(self.owners)
        if self.owners is not None and len(self.owners) and (
            self.owners.min() < 0 or self.owners.max() >= len(ids)
        ):
            raise ValueError(f"{path}: item owners must index into the {len(ids)} ids")
        super().__init__(path, ids, spec, n_units, log)
        if self.owners is not None and "owner" not in self.file:
            with write_guard(self.partial):
                self.file.create_dataset("owner", data=self.owners)
                self.file.flush()

    def extra_bytes(self, row_bytes: int) -> int:
        return 0 if self.owners is None else len(self.ids) * row_bytes

    def write(self, unit_index: np.ndarray, vectors: np.ndarray,
              layer_vectors: dict[int, np.ndarray] | None = None) -> None:
        """Write the vectors of the given units (and of each of ``layers``, in the float type given),
        then mark them done: a unit is done only once all its arrays are flushed (crash-safe order)."""
        layer_vectors = layer_vectors or {}
        if sorted(layer_vectors) != self.layers:
            raise ValueError(f"{self.partial}: vectors of layers {sorted(layer_vectors)} given, "
                             f"the store holds layers {self.layers}")
        arrays = {"units": np.asarray(vectors, dtype=np.float32)}
        for index in self.layers:
            values = np.asarray(layer_vectors[index])
            if values.dtype.kind != "f":
                raise TypeError(f"{self.partial}: layer {index} vectors are {values.dtype}, not floats")
            arrays[_layer_units(index)] = values
        self.write_units(unit_index, arrays, chunk_rows=256)

    def require_all_units(self) -> None:
        super().require_all_units()
        missing = [index for index in self.layers if _layer_units(index) not in self.file]
        if missing:
            raise RuntimeError(f"{self.partial}: the vectors of layers {missing} were never written")

    def finalize(self, attrs: dict) -> Path:
        """Lay the file out as the store contract says, verify it, and rename it into place."""
        self.require_all_units()
        f = self.file
        with write_guard(self.partial):
            del f["done"]
            if self.owners is None:
                f.move("units", "embeddings")
            else:
                f.create_group("items")
                f.move("units", "items/embeddings")
                f.move("owner", "items/owner")
                f.create_dataset("embeddings",
                                 data=_owner_means(f["items/embeddings"], self.owners, len(self.ids)))
            for index in self.layers:
                group = f"layers/{index}"
                if self.owners is None:
                    f.move(_layer_units(index), f"{group}/embeddings")
                else:
                    f.move(_layer_units(index), f"{group}/items/embeddings")
                    items = f[f"{group}/items/embeddings"]
                    means = _owner_means(items, self.owners, len(self.ids))
                    f.create_dataset(f"{group}/embeddings", data=means.astype(items.dtype))
            del f.attrs["spec"]
            for key, value in attrs.items():
                f.attrs[key] = attr_value(value)
            if self.layers:
                # Only a store with layers gains these attrs: one without stays as it always was.
                f.attrs["layers"] = attr_value(self.layers)
                f.attrs["store_dtype"] = str(f[f"layers/{self.layers[0]}/embeddings"].dtype)
            f.attrs["schema_version"] = SCHEMA_VERSION
            f.attrs["spec"] = self._spec
            f.attrs["complete"] = True
        return self.close_and_rename()

    def verify_finished(self, path: Path) -> None:
        read_embeddings(path, items=False, name=self.path)
        for index in self.layers:
            read_layer(path, index, items=False, name=self.path)


def _layer_units(index: int) -> str:
    """The partial file's array of one layer's unit vectors (``units`` is the main one's)."""
    return f"layers/{index}/units"


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


def attr_value(value):
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


def read_embeddings(path: str | os.PathLike, items: bool = False, name: str | os.PathLike | None = None) -> Embeddings:
    """Read a complete store file; refuse anything else with the file's name.

    Checked: readable (not truncated), ``complete=True``, ids unique, ``embeddings``
    two-dimensional with one row per id, every row finite (the first bad id named),
    and with ``items`` the occurrence vectors likewise. ``name`` is the path errors
    name when ``path`` is the file's temporary name.
    """
    return _read_store(path, None, items, name)


def read_layer(path: str | os.PathLike, layer: int, items: bool = False,
               name: str | os.PathLike | None = None) -> Embeddings:
    """Read hidden state ``layer`` (a non-negative index, as the store's attr ``layers`` lists them) of a
    complete store file, as float32 whatever its type on disk, with the checks of :func:`read_embeddings`.
    The result's attrs say ``layer``: this index, not the main vector's."""
    return _read_store(path, int(layer), items, name)


def stored_layers(path: str | os.PathLike) -> list[int]:
    """The hidden-state indices a complete store file holds beside its main vectors (none without `layers`)."""
    with open_store_file(path) as f:
        attrs = dict(f.attrs)
    if not attrs.get("complete", False):
        raise IncompleteStoreError(f"{path} is not a complete embedding file (attribute complete=True missing); "
                                   "delete it and rerun the workflow to re-extract it")
    return [int(index) for index in json.loads(str(attrs.get("layers", "[]")))]


def _read_store(path: str | os.PathLike, layer: int | None, items: bool, name: str | os.PathLike | None
                ) -> Embeddings:
    """The main vectors (``layer`` None) or those of one stored layer, checked as ``read_embeddings`` says."""
    path = Path(path)
    name = Path(name) if name else path
    if not path.exists():
        interrupted = partial_path(path).exists()
        hint = " (an extraction was interrupted; rerun the workflow to resume it)" if interrupted else ""
        raise FileNotFoundError(f"{path}: no such embedding file{hint}")
    with open_store_file(path) as f:
        attrs = dict(f.attrs)
        if not attrs.get("complete", False):
            raise IncompleteStoreError(
                f"{name} is not a complete embedding file (attribute complete=True missing); "
                "delete it and rerun the workflow to re-extract it"
            )
        group = "" if layer is None else f"layers/{layer}/"
        if layer is not None and f"{group}embeddings" not in f:
            held = str(attrs.get("layers", "[]"))
            raise MissingLayerError(
                f"{name} (model {str(attrs.get('model', '?'))!r}) holds no layer {layer} (its layers: {held}); "
                "list the layer in the model entry's `layers` and rerun the workflow to re-extract it"
            )
        try:
            for key in ("ids", f"{group}embeddings"):
                if key not in f:
                    raise CorruptStoreError(f"{name}: no {key!r} dataset; delete it and rerun the workflow")
            vectors = f[f"{group}embeddings"][:].astype(np.float32, copy=False)
            if layer is not None:
                attrs["layer"] = layer
            result = Embeddings(name, list(f["ids"].asstr()[:]), vectors, attrs)
            if items and f"{group}items" in f:
                result.items = f[f"{group}items/embeddings"][:].astype(np.float32, copy=False)
                result.owner = f["items/owner"][:]
        except OSError as err:
            raise CorruptStoreError(f"{name}: reading failed ({first_line(err)}); the file is damaged: "
                                    "delete it and rerun the workflow to re-extract it") from err
    check_embeddings(result)
    return result


def first_repeated(ids: Sequence[str]) -> str | None:
    """The first id that occurs a second time, or None when every id is unique."""
    seen: set[str] = set()
    return next((item for item in ids if item in seen or seen.add(item)), None)


def check_embeddings(stored: Embeddings) -> None:
    """Refuse vectors no score may be computed from, naming the file, the model and the first bad item."""
    where = f"{stored.path} (model {str(stored.attrs.get('model', '?'))!r})"
    fix = "delete it and rerun the workflow to re-extract it"
    vectors, ids = stored.vectors, stored.ids
    if vectors.ndim != 2 or vectors.shape[1] < 1:
        raise CorruptStoreError(f"{where}: embeddings have shape {vectors.shape}, expected (ids, dimension); {fix}")
    if len(vectors) != len(ids):
        raise CorruptStoreError(f"{where}: {len(vectors)} embedding rows for {len(ids)} ids; {fix}")
    duplicate = first_repeated(ids)
    if duplicate is not None:
        raise CorruptStoreError(f"{where}: id {duplicate!r} occurs more than once; {fix}")
    finite = finite_rows(vectors)
    if not finite.all():
        raise CorruptStoreError(f"{where}: {int((~finite).sum())} rows are not finite (first: id "
                                f"{ids[int(np.flatnonzero(~finite)[0])]!r}); {fix}")
    if stored.items is not None:
        items, owner = stored.items, stored.owner
        if items.ndim != 2 or items.shape[1] != vectors.shape[1] or owner.shape != (len(items),):
            raise CorruptStoreError(f"{where}: items have shape {items.shape} with {owner.shape} owners, "
                                    f"expected (occurrences, {vectors.shape[1]}) with one owner each; {fix}")
        if len(owner) and (owner.min() < 0 or owner.max() >= len(ids)):
            raise CorruptStoreError(f"{where}: item owners must index the {len(ids)} ids; {fix}")
        finite = finite_rows(items)
        if not finite.all():
            first = int(np.flatnonzero(~finite)[0])
            raise CorruptStoreError(f"{where}: {int((~finite).sum())} occurrence vectors are not finite "
                                    f"(first: an occurrence of id {ids[int(owner[first])]!r}); {fix}")


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
