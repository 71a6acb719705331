"""Per-rule conda environments without conda (no channel is reachable here).

A stand-in ``conda`` on PATH records what Snakemake asks of it and builds each environment
as a virtual environment that has the project's dependencies but not the project. The
jobs then have to find the package the way they would in a real conda environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conda_stand_in import dependencies_only_environment
from conftest import DEMO, ROOT

from synesthesia.deployment import LINK_FOLDER, PACKAGE_DIR, share_package_with_jobs
from synesthesia.store import read_embeddings


def stand_in_conda(root: Path, build: bool) -> dict:
    """PATH and the rest of the environment for a run with the stand-in conda at ``root``."""
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True)
    conda = bin_dir / "conda"
    conda.write_text(f"#!{sys.executable}\nimport sys\nfrom pathlib import Path\n"
                     f"sys.path.insert(0, {str(Path(__file__).parent)!r})\nimport conda_stand_in\n"
                     f"conda_stand_in.main(Path({str(root)!r}), sys.argv[1:])\n")
    conda.chmod(0o755)
    # Snakemake activates an environment with `source <conda>/bin/activate <prefix>`.
    (bin_dir / "activate").write_text('export PATH="$1/bin:$PATH"\n')
    if build:
        (root / "build").touch()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return env


def run_demo(workdir: Path, config: dict, env: dict, *args: str) -> subprocess.CompletedProcess:
    configfile = workdir / "config.yaml"
    workdir.mkdir(parents=True, exist_ok=True)
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    return subprocess.run([str(ROOT / ".venv/bin/snakemake"), "-s", str(ROOT / "Snakefile"), "-d", str(workdir),
                           "--configfile", str(configfile), "--cores", "2", "--use-conda", *args],
                          capture_output=True, text=True, env=env, timeout=1200)


def test_a_dependencies_only_environment_lacks_the_project_and_the_shared_link_supplies_it(tmp_path):
    python = dependencies_only_environment(tmp_path / "env")
    probe = "import h5py, torch, synesthesia; print(synesthesia.__file__)"
    alone = subprocess.run([str(python), "-c", probe], capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": ""})
    assert alone.returncode == 1 and "No module named 'synesthesia'" in alone.stderr
    environ = {"PYTHONPATH": "/elsewhere"}
    folder = share_package_with_jobs(tmp_path / "work", environ)
    assert folder == (tmp_path / "work" / LINK_FOLDER).resolve()
    assert environ["PYTHONPATH"] == f"{folder}{os.pathsep}/elsewhere"
    assert sorted(path.name for path in folder.iterdir()) == ["synesthesia"]  # the package, nothing around it
    assert share_package_with_jobs(tmp_path / "work", environ) == folder  # again: same link, PYTHONPATH once
    assert environ["PYTHONPATH"].split(os.pathsep).count(str(folder)) == 1
    shared = subprocess.run([str(python), "-c", probe], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": environ["PYTHONPATH"]})
    assert shared.returncode == 0, shared.stderr
    assert Path(shared.stdout.strip()).resolve() == PACKAGE_DIR / "__init__.py"


def test_snakemake_gets_env_files_whose_every_path_resolves_from_where_it_builds_them(tmp_path):
    env = stand_in_conda(tmp_path / "conda", build=False)
    result = run_demo(tmp_path / "work", DEMO, env, "--conda-create-envs-only")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    handed = [json.loads(line) for line in (tmp_path / "conda" / "env_files.jsonl").read_text().splitlines()]
    assert len(handed) == len(list((ROOT / "envs").glob("*.yaml")))
    for entry in handed:
        # Snakemake builds from its copy under .snakemake/conda/: nothing may point relative to it.
        assert Path(entry["file"]).parent == tmp_path / "work" / ".snakemake" / "conda"
        env_file = yaml.safe_load(entry["text"])
        pip = next(item["pip"] for item in env_file["dependencies"] if isinstance(item, dict))
        assert all("==" in requirement and not requirement.startswith("-") for requirement in pip), pip


@pytest.mark.slow
def test_demo_jobs_of_every_environment_run_under_use_conda_and_give_the_demos_results(tmp_path, demo_run):
    env = stand_in_conda(tmp_path / "conda", build=True)
    embeddings, scores = "results/embeddings/shapes/minilm.h5", "results/retrieval/shapes/minilm__tiny-vit.json"
    split = "data/shapes/t2i_split.json"  # embed.yaml, score.yaml and t2i.yaml jobs
    result = run_demo(tmp_path / "work", DEMO, env, embeddings, scores, split)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    calls = [json.loads(line) for line in (tmp_path / "conda" / "calls.jsonl").read_text().splitlines()]
    assert sum(call[:2] == ["env", "create"] for call in calls) == len(list((ROOT / "envs").glob("*.yaml")))
    # The jobs ran in environments that cannot import the project by themselves: they had it from the link.
    for python in (tmp_path / "work" / ".snakemake" / "conda").glob("*_/bin/python"):
        alone = subprocess.run([str(python), "-c", "import synesthesia"], capture_output=True, text=True,
                               env={**env, "PYTHONPATH": ""})
        assert alone.returncode == 1 and "No module named 'synesthesia'" in alone.stderr
    assert (tmp_path / "work" / LINK_FOLDER / "synesthesia").resolve() == PACKAGE_DIR
    ran, demo = read_embeddings(tmp_path / "work" / embeddings), read_embeddings(demo_run / embeddings)
    assert ran.ids == demo.ids
    assert abs(ran.vectors - demo.vectors).max() < 1e-6
    assert json.loads((tmp_path / "work" / scores).read_text()) == json.loads((demo_run / scores).read_text())
    assert (tmp_path / "work" / split).read_text() == (demo_run / split).read_text()
