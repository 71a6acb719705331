"""Shared fixtures: the tiny models are built once per test session."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]
DEMO = yaml.safe_load((ROOT / "demo" / "config.yaml").read_text())


def run_snakemake(workdir: Path, config: dict, *args: str, cores: str | None = "2") -> subprocess.CompletedProcess:
    """Snakemake on the repository's Snakefile in ``workdir``, with ``config`` as its only config file."""
    configfile = workdir / "config.test.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    result = subprocess.run(
        [*SNAKEMAKE, *(["--cores", cores] if cores else []), "-d", str(workdir), *args,
         "--configfile", str(configfile)],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> Path:
    """A workdir in which the whole demo DAG ran locally (minutes; shared by the slow tests)."""
    workdir = tmp_path_factory.mktemp("demo")
    run_snakemake(workdir, DEMO)
    return workdir


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> Path:
    """A folder with every tiny architecture of synesthesia.models.tiny, built offline."""
    from synesthesia.models.tiny import BUILDERS, build_tiny_model

    root = tmp_path_factory.mktemp("tiny-models")
    for architecture in BUILDERS:
        build_tiny_model(architecture, root / architecture)
    return root


@pytest.fixture(scope="session")
def shapes_dir(tmp_path_factory) -> Path:
    """A prepared shapes dataset: text.tsv (captions) and images.tsv with the same ids."""
    from synesthesia.data.shapes import make_shapes

    return make_shapes(tmp_path_factory.mktemp("shapes"), n=24, image_size=48, seed=0)


@pytest.fixture
def clean_env(monkeypatch):
    """No GPU slots, SLURM job or visible devices inherited from the environment."""
    from synesthesia import gpu

    for name in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID", gpu.SLOTS_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(gpu, "_held_slots", [])
    return monkeypatch
