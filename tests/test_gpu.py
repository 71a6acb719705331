"""Local GPU scheduling: each job under `--resources gpu=N` sees a device of its own."""

import os
import subprocess
import sys
import textwrap

import pytest

from synesthesia import gpu


def test_without_slots_nothing_is_claimed(clean_env, tmp_path):
    assert gpu.claim_gpu(tmp_path) is None
    assert "CUDA_VISIBLE_DEVICES" not in os.environ


def test_slurm_allocation_is_left_alone(clean_env, tmp_path):
    clean_env.setenv("SLURM_JOB_ID", "42")
    clean_env.setenv("CUDA_VISIBLE_DEVICES", "3")
    clean_env.setenv(gpu.SLOTS_ENV, "2")
    assert gpu.claim_gpu(tmp_path) == "3"
    assert not list(tmp_path.iterdir())


def test_export_reads_snakemake_resource(clean_env):
    class Resource:
        value = 3

    gpu.export_gpu_slots(Resource())
    assert os.environ[gpu.SLOTS_ENV] == "3"
    gpu.export_gpu_slots(None)
    assert gpu.SLOTS_ENV not in os.environ


def test_slots_map_to_listed_devices(clean_env, tmp_path):
    clean_env.setenv(gpu.SLOTS_ENV, "2")
    clean_env.setenv("CUDA_VISIBLE_DEVICES", "5,7")
    assert gpu.claim_gpu(tmp_path) == "5"
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "5"
    # A second claim in the same process keeps its slot.
    assert gpu.claim_gpu(tmp_path) == "5"


def test_more_slots_than_listed_devices_is_refused(clean_env, tmp_path):
    clean_env.setenv(gpu.SLOTS_ENV, "3")
    clean_env.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    with pytest.raises(RuntimeError, match="gpu=3.*2 devices"):
        gpu.claim_gpu(tmp_path)


CLAIM_AND_WAIT = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from synesthesia.models.base import resolve_device
    resolve_device("cuda")
    out, sibling = Path(sys.argv[1]), Path(sys.argv[2])
    out.write_text(os.environ["CUDA_VISIBLE_DEVICES"])
    deadline = time.time() + 60
    while not sibling.exists() and time.time() < deadline:  # both hold their slot at once
        time.sleep(0.1)
""")


def test_concurrent_processes_get_different_devices(clean_env, tmp_path):
    clean_env.setenv(gpu.SLOTS_ENV, "2")
    clean_env.chdir(tmp_path)
    a, b = tmp_path / "a", tmp_path / "b"
    jobs = [subprocess.Popen([sys.executable, "-c", CLAIM_AND_WAIT, str(x), str(y)]) for x, y in ((a, b), (b, a))]
    assert [job.wait(timeout=90) for job in jobs] == [0, 0]
    assert sorted([a.read_text(), b.read_text()]) == ["0", "1"]


def test_freed_slot_is_reused(clean_env, tmp_path):
    clean_env.setenv(gpu.SLOTS_ENV, "2")
    clean_env.chdir(tmp_path)
    for name in ("first", "second"):
        (tmp_path / "done").write_text("")
        subprocess.run([sys.executable, "-c", CLAIM_AND_WAIT, str(tmp_path / name), str(tmp_path / "done")],
                       check=True, timeout=90)
    assert (tmp_path / "first").read_text() == (tmp_path / "second").read_text() == "0"


SNAKEFILE = textwrap.dedent("""
    from synesthesia.gpu import export_gpu_slots
    export_gpu_slots(workflow.global_resources.get("gpu"))

    rule all:
        input: "a.txt", "b.txt"

    rule gpu_job:
        output: "{name}.txt"
        params: sibling=lambda wildcards: "b.txt" if wildcards.name == "a" else "a.txt"
        resources: gpu=1
        shell: "PYTHON CLAIM {output} {params.sibling}"
""")


def test_snakemake_jobs_under_two_gpu_slots_see_different_devices(clean_env, tmp_path):
    snakefile = tmp_path / "Snakefile"
    (tmp_path / "claim.py").write_text(CLAIM_AND_WAIT)
    snakefile.write_text(SNAKEFILE.replace("PYTHON", sys.executable).replace("CLAIM", str(tmp_path / "claim.py")))
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", "--resources", "gpu=2", "-s", str(snakefile),
         "-d", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted([(tmp_path / "a.txt").read_text(), (tmp_path / "b.txt").read_text()]) == ["0", "1"]
