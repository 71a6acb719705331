"""A store is complete only when every row is on disk and finite; readers refuse anything else by name."""

import os
import signal
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest
import torch

from synesthesia.align import retrieval_records
from synesthesia.html_report import parameter_counts
from synesthesia.ranking import best_gold_ranks
from synesthesia.store import (
    CorruptStoreError,
    DiskFullError,
    PartialStore,
    partial_path,
    read_embeddings,
)

IDS = [f"item{i}" for i in range(6)]
VECTORS = np.arange(24, dtype=np.float32).reshape(6, 4) + 1


def _finished(path, vectors=VECTORS, ids=IDS):
    store = PartialStore(path, ids, {"model": "m"})
    store.write(np.arange(len(vectors)), vectors)
    return store.finalize({"model": "m", "dataset": "d"})


def _disk_full(*_args, **_kwargs):
    raise RuntimeError("Unable to flush dataset (file write failed: errno = 28, error message = "
                       "'No space left on device')")


def test_a_failed_write_raises_naming_the_file_and_leaves_its_units_undone(tmp_path, monkeypatch):
    path = tmp_path / "m.h5"
    store = PartialStore(path, IDS, {"model": "m"})
    store.write(np.arange(2), VECTORS[:2])
    monkeypatch.setattr(h5py.Dataset, "flush", _disk_full)
    with pytest.raises(DiskFullError, match=r"m\.h5\.partial: no space left on the device .* free space and rerun"):
        store.write(np.arange(2, 4), VECTORS[2:4])
    assert store.done_mask().tolist() == [True, True, False, False, False, False]
    monkeypatch.undo()
    store.close()
    assert not path.exists() and partial_path(path).exists()


def test_rows_marked_done_but_lost_on_disk_are_redone_on_resume(tmp_path):
    path = tmp_path / "m.h5"
    store = PartialStore(path, IDS, {"model": "m"})
    store.write(np.arange(4), VECTORS[:4])
    store.file["units"][2] = np.nan  # the write of row 2 never reached the disk
    store.close()
    messages = []
    resumed = PartialStore(path, IDS, {"model": "m"}, log=messages.append)
    assert resumed.done_mask().tolist() == [True, True, False, True, False, False]
    assert any("1 units marked done are not on disk" in m for m in messages)
    todo = np.flatnonzero(~resumed.done_mask())
    resumed.write(todo, VECTORS[todo])
    np.testing.assert_array_equal(read_embeddings(resumed.finalize({"model": "m", "dataset": "d"})).vectors, VECTORS)


def test_finalize_refuses_non_finite_rows_and_keeps_only_the_partial_file(tmp_path):
    path = tmp_path / "m.h5"
    store = PartialStore(path, IDS, {"model": "m"})
    bad = VECTORS.copy()
    bad[3, 1] = np.inf
    store.write(np.arange(6), bad)
    with pytest.raises(CorruptStoreError, match=r"m\.h5\.partial: 1 units of 'units' are not finite .*unit 3"):
        store.finalize({"model": "m", "dataset": "d"})
    store.close()
    assert not path.exists()


def test_an_empty_item_list_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"m\.h5: no items to embed"):
        PartialStore(tmp_path / "m.h5", [], {"model": "m"})


def test_a_truncated_store_is_refused_by_name(tmp_path):
    path = _finished(tmp_path / "m.h5")
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(CorruptStoreError, match=r"m\.h5: not a readable HDF5 file .*truncated or damaged"):
        read_embeddings(path)


def test_the_html_reports_parameter_counts_refuse_a_truncated_store_by_name(tmp_path):
    store = tmp_path / "results" / "embeddings" / "shapes" / "tiny-vit.h5"
    store.parent.mkdir(parents=True)
    store = PartialStore(store, IDS, {"model": "tiny-vit"})
    store.write(np.arange(len(IDS)), VECTORS)
    path = store.finalize({"model": "tiny-vit", "dataset": "shapes", "n_parameters": 22_713_216})
    assert parameter_counts(["tiny-vit", "no-store-yet"], tmp_path) == {"tiny-vit": "22.7M"}
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(CorruptStoreError, match=r"shapes/tiny-vit\.h5: not a readable HDF5 file .*truncated or "
                                                r"damaged: delete it and rerun the workflow"):
        parameter_counts(["tiny-vit"], tmp_path)


def _crafted(path, ids, embeddings):
    with h5py.File(path, "w") as f:
        f["ids"] = np.array(ids, dtype=object)
        f["embeddings"] = embeddings
        f.attrs["model"] = "crafted-model"
        f.attrs["complete"] = True
    return path


@pytest.mark.parametrize("ids, embeddings, message", [
    (IDS, VECTORS[:5], r"bad\.h5 \(model 'crafted-model'\): 5 embedding rows for 6 ids"),
    (IDS, VECTORS[:, 0], r"bad\.h5 \(model 'crafted-model'\): embeddings have shape \(6,\)"),
    (IDS[:5] + ["item0"], VECTORS, r"bad\.h5 \(model 'crafted-model'\): id 'item0' occurs more than once"),
    (IDS, np.where(np.arange(6)[:, None] == 4, np.nan, VECTORS),
     r"bad\.h5 \(model 'crafted-model'\): 1 rows are not finite \(first: id 'item4'\)"),
])
def test_stores_that_cannot_be_scored_are_refused_naming_file_model_and_item(tmp_path, ids, embeddings, message):
    with pytest.raises(CorruptStoreError, match=message):
        read_embeddings(_crafted(tmp_path / "bad.h5", ids, embeddings))


def test_non_finite_occurrence_vectors_are_refused_naming_their_id(tmp_path):
    path = tmp_path / "m.h5"
    store = PartialStore(path, ["x", "y"], {"model": "m"}, owners=[0, 1, 1])
    store.write(np.arange(3), np.ones((3, 2), dtype=np.float32))
    store.finalize({"model": "m", "dataset": "d"})
    with h5py.File(path, "a") as f:
        f["items/embeddings"][2] = np.nan
    refusal = r"1 occurrence vectors are not finite \(first: an occurrence of id 'y'\)"
    with pytest.raises(CorruptStoreError, match=refusal):
        read_embeddings(path, items=True)


def test_ranking_refuses_nan_scores_instead_of_ranking_them_first():
    scores = np.array([[0.9, 0.1], [np.nan, 0.2]])
    with pytest.raises(FloatingPointError, match="query 1"):
        best_gold_ranks(lambda a, b: torch.as_tensor(scores[a:b]), 2, [np.array([0]), np.array([1])], 2)


def test_a_k_as_large_as_the_candidates_is_refused_not_scored_one():
    rng = np.random.default_rng(0)
    text, vision = rng.normal(size=(20, 4)), rng.normal(size=(20, 4))
    with pytest.raises(ValueError, match=r"experiments\.retrieval\.ks: \[6, 1000\] must be below the 6 test pairs"):
        retrieval_records(text, vision, [1, 6, 1000], splits=1, train_fraction=0.7, alpha=1.0, seed=0)


_EXTRACT = textwrap.dedent("""
    import sys
    from pathlib import Path
    import numpy as np
    from synesthesia.logs import log_to_file
    from synesthesia.store import PartialStore

    out, ballast_after = Path(sys.argv[1]), int(sys.argv[2])
    log_to_file(sys.argv[3])  # as every rule's script: a failure ends as one line on the console, exit 1
    ids = [f"item{i}" for i in range(2000)]
    vectors = np.random.default_rng(0).normal(size=(2000, 96)).astype(np.float32)
    store = PartialStore(out, ids, {"model": "m"}, log=lambda message: print(message, flush=True))
    try:
        for batch, start in enumerate(range(0, 2000, 100)):
            if batch == ballast_after:  # another job fills the disk mid-run
                try:
                    (out.parent / "ballast").write_bytes(b"x" * (4 << 20))
                except OSError:
                    pass
            index = np.arange(start, start + 100)
            if not store.done_mask()[index].all():
                store.write(index, vectors[index])
        store.finalize({"model": "m", "dataset": "d"})
    finally:
        store.close()
""")


def _mount_tmpfs(where, megabytes):
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(where)],
                             capture_output=True, text=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.strip()}")


def _extract(out, ballast_after=-1):
    log = out.parent.parent / f"{out.name}.{ballast_after}.log"  # beside the small disk, not on it
    return subprocess.run([sys.executable, "-c", _EXTRACT, str(out), str(ballast_after), str(log)],
                          capture_output=True, text=True, timeout=120)


def _last_line(text):
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


def _assert_refused_by_name(result, error_start):
    """The job ended as a refusal (exit 1, its error line on the console), not a crash: a SIGSEGV
    (-11) in HDF5's teardown after the failed write fails here."""
    killed = f" (killed by {signal.Signals(-result.returncode).name})" if result.returncode < 0 else ""
    assert result.returncode == 1, f"exit {result.returncode}{killed}, expected the refusal's 1:\n{result.stderr}"
    line = _last_line(result.stderr)
    assert line.startswith("error (full traceback in ") and f"Error: {error_start}" in line, result.stderr


def test_a_full_disk_ends_the_job_by_name_and_the_rerun_gives_the_uninterrupted_file(tmp_path):
    reference = _extract(tmp_path / "reference.h5")
    assert reference.returncode == 0, reference.stderr
    disk = tmp_path / "small-disk"
    _mount_tmpfs(disk, 3)
    try:
        out = disk / "m.h5"
        # Too small from the start: refused before the first vector, with the space needed.
        (disk / "filler").write_bytes(b"x" * (2 << 20))
        early = _extract(out)
        _assert_refused_by_name(early, f"{partial_path(out)}: needs about")
        assert "MB free" in _last_line(early.stderr)
        assert sorted(p.name for p in disk.iterdir()) == ["filler", "m.h5.partial"]
        os.remove(disk / "filler")

        # Filled mid-run: the failed write ends the job naming the file; nothing is marked complete.
        full = _extract(out, ballast_after=3)
        _assert_refused_by_name(full, f"{partial_path(out)}: no space left on the device")
        assert sorted(p.name for p in disk.iterdir()) == ["ballast", "m.h5.partial"]

        os.remove(disk / "ballast")
        rerun = _extract(out)
        assert rerun.returncode == 0, rerun.stderr
        again, whole = read_embeddings(out), read_embeddings(tmp_path / "reference.h5")
        np.testing.assert_array_equal(again.vectors, whole.vectors)
        assert again.ids == whole.ids
    finally:
        subprocess.run(["umount", str(disk)], check=False)
