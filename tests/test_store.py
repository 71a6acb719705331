import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

from synesthesia.store import (
    IncompleteStoreError,
    PartialStore,
    StoreMismatchError,
    hdf5_locking,
    partial_path,
    read_embeddings,
    require_same_ids,
)

IDS = ["a", "b", "c", "d", "e"]


def _write_all(path, vectors, owners=None, ids=IDS, batch=2):
    store = PartialStore(path, ids, {"model": "m"}, owners=owners)
    for start in range(0, len(vectors), batch):
        index = np.arange(start, min(start + batch, len(vectors)))
        store.write(index, vectors[index])
    return store.finalize({"model": "m", "dataset": "d"})


def test_round_trip_keeps_rows_ids_and_attrs(tmp_path):
    vectors = np.arange(15, dtype=np.float32).reshape(5, 3)
    path = _write_all(tmp_path / "m.h5", vectors)
    got = read_embeddings(path)
    assert got.ids == IDS
    np.testing.assert_array_equal(got.vectors, vectors)
    assert got.attrs["complete"] and got.attrs["model"] == "m" and got.attrs["schema_version"] == 1
    assert not partial_path(path).exists()


def test_items_rows_are_owner_means(tmp_path):
    items = np.array([[1, 0], [3, 0], [0, 2], [0, 4], [5, 5], [7, 7]], dtype=np.float32)
    owners = [0, 0, 1, 1, 2, 2]
    path = _write_all(tmp_path / "m.h5", items, owners=owners, ids=["x", "y", "z"])
    got = read_embeddings(path, items=True)
    np.testing.assert_allclose(got.vectors, [[2, 0], [0, 3], [6, 6]])
    np.testing.assert_array_equal(got.owner, owners)
    np.testing.assert_array_equal(got.items, items)


def test_file_without_complete_is_refused_with_its_name(tmp_path):
    path = tmp_path / "broken.h5"
    with h5py.File(path, "w") as f:
        f["ids"] = np.array(["a"], dtype=object)
        f["embeddings"] = np.zeros((1, 2))
    with pytest.raises(IncompleteStoreError, match="broken.h5"):
        read_embeddings(path)


def test_resume_after_kill_gives_the_same_file(tmp_path):
    vectors = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    whole = read_embeddings(_write_all(tmp_path / "whole.h5", vectors))

    killed = PartialStore(tmp_path / "resumed.h5", IDS, {"model": "m"})
    killed.write(np.array([0, 1]), vectors[:2])
    killed.file.close()  # the process dies here: no finalize

    resumed = PartialStore(tmp_path / "resumed.h5", IDS, {"model": "m"})
    done = resumed.done_mask()
    assert done.tolist() == [True, True, False, False, False]
    todo = np.flatnonzero(~done)
    resumed.write(todo, vectors[todo])
    again = read_embeddings(resumed.finalize({"model": "m", "dataset": "d"}))
    np.testing.assert_array_equal(again.vectors, whole.vectors)
    assert again.ids == whole.ids and again.attrs == whole.attrs


def test_partial_file_from_another_spec_starts_over(tmp_path):
    first = PartialStore(tmp_path / "m.h5", IDS, {"model": "old"})
    first.write(np.array([0]), np.ones((1, 2)))
    first.file.close()
    second = PartialStore(tmp_path / "m.h5", IDS, {"model": "new"})
    assert not second.done_mask().any()
    second.close()


def test_different_ids_are_refused(tmp_path):
    a = read_embeddings(_write_all(tmp_path / "a.h5", np.ones((5, 2), np.float32)))
    b = read_embeddings(_write_all(tmp_path / "b.h5", np.ones((4, 2), np.float32), ids=IDS[:4]))
    with pytest.raises(StoreMismatchError, match="a.h5.*b.h5"):
        require_same_ids(a, b)


HOLD_WITH_LOCK = textwrap.dedent("""
    import sys, time, h5py
    handle = h5py.File(sys.argv[1], "a", locking=True)
    print("locked", flush=True)
    time.sleep(60)
""")


def test_store_files_open_while_another_process_holds_an_hdf5_lock(tmp_path, monkeypatch):
    """What a file system without flock looks like to HDF5: a lock it cannot take. The
    store opens without locking (files are written under a temporary name and read
    after the rename), so readers are not refused."""
    monkeypatch.delenv("HDF5_USE_FILE_LOCKING", raising=False)
    path = _write_all(tmp_path / "m.h5", np.ones((5, 2), np.float32))
    holder = subprocess.Popen([sys.executable, "-c", HOLD_WITH_LOCK, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(OSError, match="lock"):
            h5py.File(path, "r", locking=True)
        assert read_embeddings(path).vectors.shape == (5, 2)
    finally:
        holder.kill()
        holder.wait()


def test_hdf5_file_locking_variable_still_decides(monkeypatch):
    monkeypatch.setenv("HDF5_USE_FILE_LOCKING", "TRUE")
    assert hdf5_locking() is None
    monkeypatch.delenv("HDF5_USE_FILE_LOCKING")
    assert hdf5_locking() is False
