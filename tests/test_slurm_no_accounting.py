"""A cluster without job accounting: sacct exists but fails, and the run must not wait forever on a
finished job. The workflow sees the failure when it starts and takes job status from squeue."""

from __future__ import annotations

import os
import subprocess

import pytest
import yaml
from conftest import DEMO, ROOT, SNAKEMAKE
from slurm_cluster import start_or_skip

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = start_or_skip(tmp_path_factory.mktemp("slurm-no-accounting"), accounting=False)
    yield cluster
    cluster.stop()


def test_a_run_without_accounting_switches_to_squeue_and_finishes(cluster, tmp_path):
    assert subprocess.run(["sacct", "-n", "-X"], capture_output=True).returncode != 0  # the fault
    workdir = tmp_path / "work"
    workdir.mkdir()
    configfile = workdir / "config.test.yaml"
    configfile.write_text(yaml.safe_dump(DEMO, sort_keys=False))
    # Without the switch the run would wait for ever: the timeout turns that into a failure.
    result = subprocess.run(
        [*SNAKEMAKE, "data/shapes/text.tsv", "-d", str(workdir), "--workflow-profile", str(ROOT / "profiles/slurm"),
         "--slurm-init-seconds-before-status-checks", "2", "--configfile", str(configfile)],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "warning: sacct fails on this cluster (" in result.stderr
    assert "so job status comes from squeue instead" in result.stderr
    assert (workdir / "data/shapes/text.tsv").stat().st_size > 0
    assert not os.path.exists(workdir / ".snakemake/locks") or not any((workdir / ".snakemake/locks").iterdir())
