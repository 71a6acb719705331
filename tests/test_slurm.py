"""The demo workflow on a real single-node SLURM cluster through profiles/slurm, unchanged.

The cluster (tests/slurm_cluster.py) comes from Debian's packages with job accounting,
so the profile's default status command (sacct) is what runs. Each job of a SLURM run
costs two Snakemake start-ups on top of its script, so the run covers the demo DAG's
stages but text-to-image with one text and one vision model; the local demo run is
the reference its outputs must equal. The text model asks for a GPU (device auto) and is sent with
`--gpus=fake:1` to the GPU partition, where the node's fake GPU schedules it.
"""

from __future__ import annotations

import copy
import json
import os

import numpy as np
import pytest
from conftest import DEMO, ROOT, run_snakemake
from slurm_cluster import NODE_MEMORY_MB, start_or_skip

from synesthesia.store import read_embeddings

pytestmark = pytest.mark.slow

TEXT, VISION = "minilm", "tiny-clip-vision"
PROFILE = ["--workflow-profile", str(ROOT / "profiles" / "slurm")]
# The plugin waits 40 s before its first status query, made for busy clusters; the
# test's jobs take seconds.
TEST_ONLY = ["--slurm-init-seconds-before-status-checks", "2"]


def slurm_demo_config() -> dict:
    config = copy.deepcopy(DEMO)
    config["models"] = {name: config["models"][name] for name in (TEXT, VISION)}
    config["models"][TEXT]["device"] = "auto"
    experiments = config["experiments"]
    experiments["glue"].update(models=[TEXT], tasks=["sst2"])
    for name in ("sts", "association"):
        experiments[name]["models"] = [TEXT]
    for name in ("retrieval", "concepts"):
        experiments[name].update(text_models=[TEXT], vision_models=[VISION])
    # Generation's GPU rules request resources the way the embeddings do; leaving them
    # out keeps the run minutes shorter.
    del experiments["t2i"]
    config["cluster"] = {"cpu_partition": "cpu", "gpu_partition": "gpu", "gpu_model": "fake"}
    return config


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = start_or_skip(tmp_path_factory.mktemp("slurm"))
    pids = cluster.running_pids()
    yield cluster
    cluster.stop()
    alive = [pid for pid in pids if os.path.exists(f"/proc/{pid}")]
    assert not alive, f"daemons still running after stop: {alive}"


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("slurm-demo")
    # A number in --config arrives as a string; the run must take it as one.
    result = run_snakemake(workdir, slurm_demo_config(), *PROFILE, *TEST_ONLY,
                           "--config", "cluster={memory_scale: 1.0}",
                           cores=None)
    return workdir, result


def test_demo_completes_through_the_slurm_profile(cluster, slurm_run):
    workdir, result = slurm_run
    for table in ("text_understanding.csv", "retrieval_shapes.csv", "concepts_shapes-concepts.csv"):
        assert (workdir / "results/tables" / table).stat().st_size > 0
    jobs = [line.split("|") for line in cluster.sacct("--format=JobName,Partition,State,AllocTRES").splitlines()]
    assert jobs and all(state == "COMPLETED" for _, _, state, _ in jobs), jobs
    assert {partition for _, partition, _, _ in jobs} == {"cpu", "gpu"}
    gpu_jobs = [tres for _, partition, _, tres in jobs if partition == "gpu"]
    assert len(gpu_jobs) == 5  # the text model's embeddings: shapes, concepts, sst2, sts, association
    assert all("gres/gpu" in tres for tres in gpu_jobs)
    # The embed rule's 32,000 MB exceed the node: every request is capped at its 24,000 MB, so sbatch takes them.
    requests = [line.split("|") for line in cluster.sacct("--format=Comment,ReqMem").splitlines()]
    # Jobs carry their rule and wildcards in the comment, which squeue (%k) and sacct (Comment) show.
    embed_requests = {memory for comment, memory in requests if comment.startswith("rule_embed_wildcards_")}
    assert embed_requests == {f"{NODE_MEMORY_MB}M"}, requests
    log = (workdir / f"logs/embed/shapes/{TEXT}.log").read_text()
    assert "GPU from SLURM: CUDA_VISIBLE_DEVICES=0" in log


def test_slurm_outputs_equal_the_local_run(slurm_run, demo_run):
    workdir, _ = slurm_run
    for dataset, model in [("shapes", TEXT), ("shapes", VISION), ("shapes-concepts", TEXT),
                           ("shapes-concepts", VISION), ("glue-sst2", TEXT), ("sts", TEXT)]:
        on_slurm = read_embeddings(workdir / f"results/embeddings/{dataset}/{model}.h5")
        local = read_embeddings(demo_run / f"results/embeddings/{dataset}/{model}.h5")
        assert on_slurm.ids == local.ids
        np.testing.assert_allclose(on_slurm.vectors, local.vectors, rtol=0, atol=1e-6)
    for scores in [f"retrieval/shapes/{TEXT}__{VISION}.json", f"align/shapes-concepts/{TEXT}__{VISION}.json",
                   f"probe/sst2/{TEXT}.json", f"sts/{TEXT}.json", f"association/{TEXT}.json"]:
        on_slurm = json.loads((workdir / "results" / scores).read_text())
        local = json.loads((demo_run / "results" / scores).read_text())
        assert _values(on_slurm) == pytest.approx(_values(local), abs=1e-6), scores


def _values(records: list[dict]) -> list[float]:
    return [value for record in records for value in record.values() if isinstance(value, float)]
