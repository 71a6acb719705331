"""Requests fitted to the cluster: memory capped at the node size, useless retries dropped, sacct failures
detected, and `--config` numbers accepted (Snakemake passes nested values as strings)."""

from __future__ import annotations

import re
import subprocess
from types import SimpleNamespace

import pytest
from conftest import DEMO, ROOT, SCHEMA

from synesthesia import slurm
from synesthesia.config import validate_config


def _answer(stdout="", returncode=0, stderr=""):
    return lambda *args, **kwargs: SimpleNamespace(stdout=stdout, returncode=returncode, stderr=stderr)


def test_partition_memory_is_the_largest_node_per_partition(monkeypatch):
    monkeypatch.setattr(slurm.shutil, "which", lambda name: f"/usr/bin/{name}")
    sinfo = "cpu*|4000\ncpu*|16000+\ngpu|64000\nbroken|n/a\n"
    assert slurm.partition_memory_mb(_answer(sinfo)) == {"cpu": 16000, "": 16000, "gpu": 64000}
    assert slurm.partition_memory_mb(_answer(returncode=1)) == {}


@pytest.mark.parametrize("first, cap, retries, requests, useful", [
    (32000, None, 2, [32000, 64000, 128000], 2),   # no cap: doubling as before
    (32000, 4000, 2, [4000, 4000, 4000], 0),        # the node is smaller than the first attempt: no retry
    (8000, 24000, 2, [8000, 16000, 24000], 2),      # the second retry still gains, capped
    (16000, 24000, 2, [16000, 24000, 24000], 1),    # the third attempt would repeat the second
])
def test_memory_doubles_up_to_the_node_and_retries_only_while_it_grows(first, cap, retries, requests, useful):
    assert [slurm.memory_request(first, attempt, cap) for attempt in (1, 2, 3)] == requests
    assert slurm.useful_retries(first, cap, retries) == useful


def test_status_falls_back_to_squeue_when_sacct_cannot_answer(monkeypatch):
    monkeypatch.setattr(slurm.shutil, "which", lambda name: f"/usr/bin/{name}")
    settings = SimpleNamespace(status_command="sacct")
    refused = _answer(returncode=1, stderr="sacct: error: Slurm accounting storage is disabled\n")
    warning = slurm.status_without_accounting(settings, refused)
    assert settings.status_command == "squeue"
    assert warning.startswith("warning: sacct fails on this cluster (sacct: error: Slurm accounting storage is "
                              "disabled), so job status comes from squeue instead")
    working = SimpleNamespace(status_command="sacct")
    assert slurm.status_without_accounting(working, _answer()) is None and working.status_command == "sacct"
    assert slurm.status_without_accounting(SimpleNamespace(), refused) is None  # not the slurm executor


def _sacct_fails_and_scontrol_says(config_lines):
    def run(command, **kwargs):
        if command[0] == "sacct":
            return SimpleNamespace(stdout="", returncode=1, stderr="sacct: error: accounting storage is disabled\n")
        return SimpleNamespace(stdout=config_lines, returncode=0, stderr="")
    return run


def test_a_min_job_age_too_short_for_squeue_stops_the_run_saying_what_to_set(monkeypatch):
    monkeypatch.setattr(slurm.shutil, "which", lambda name: f"/usr/bin/{name}")
    short = _sacct_fails_and_scontrol_says("JobCompType             = (null)\nMinJobAge               = 60 sec\n")
    assert slurm.min_job_age_s(short) == 60
    settings = SimpleNamespace(status_command="sacct", init_seconds_before_status_checks=None)
    with pytest.raises(slurm.StatusUnreliable, match=r"MinJobAge=60 s only, less than three times the first status "
                       r"wait \(40 s\).*--slurm-init-seconds-before-status-checks 20 "):
        slurm.status_without_accounting(settings, short)
    # A shorter first wait (the plugin's 3x rule: 3 x 20 = 60 <= 60) makes squeue reliable.
    settings.init_seconds_before_status_checks = 20
    assert slurm.status_without_accounting(settings, short).startswith("warning: sacct fails")
    assert settings.status_command == "squeue"
    long_enough = _sacct_fails_and_scontrol_says("MinJobAge               = 300 sec\n")
    settings = SimpleNamespace(status_command="sacct")
    assert slurm.status_without_accounting(settings, long_enough) and settings.status_command == "squeue"


def test_config_numbers_given_as_strings_on_the_command_line_are_numbers():
    config = {**DEMO, "cluster": {"memory_scale": "0.1", "max_mem_mb": "4000", "account": "null"}}
    config["experiments"] = {**DEMO["experiments"], "retrieval": {**DEMO["experiments"]["retrieval"],
                                                                  "ks": ["1", "5"]}}
    validated = validate_config(config, SCHEMA, root=ROOT)
    assert validated["cluster"]["memory_scale"] == 0.1 and validated["cluster"]["max_mem_mb"] == 4000
    assert validated["cluster"]["account"] is None
    assert validated["experiments"]["retrieval"]["ks"] == [1, 5]


def test_a_planned_run_asks_no_node_for_more_than_it_has(tmp_path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    configfile = tmp_path / "demo.yaml"
    configfile.write_text((ROOT / "demo" / "config.yaml").read_text())
    result = subprocess.run(
        [str(ROOT / ".venv/bin/snakemake"), "results/embeddings/shapes/minilm.h5", "-n", "--cores", "1",
         "--retries", "2", "-d", str(workdir), "-s", str(ROOT / "Snakefile"), "--configfile", str(configfile),
         "--config", "cluster={max_mem_mb: 3000, memory_scale: 2.0}"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    requests = {int(mb) for mb in re.findall(r"\bmem_mb=(\d+)", result.stdout)}
    # embed asks 32,000 MB x 2 and prepare_captions 8,000 x 2: both capped; tiny_model 2,000 x 2 too.
    assert requests == {3000}, result.stdout
