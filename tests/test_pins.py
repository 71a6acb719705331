"""Pins live twice (pyproject.toml for pip, envs/*.yaml for conda): the two must never drift."""

from __future__ import annotations

import re
import tomllib

import pytest
import yaml
from conftest import ROOT

PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*==\s*(?P<version>[^\s;,=<>!~]+)$")
ENV_FILES = sorted((ROOT / "envs").glob("*.yaml"))


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_pin(requirement: str, where: str) -> tuple[str, str]:
    match = PIN.match(requirement.strip())
    assert match, f"{where}: {requirement!r} is not pinned with =="
    return normalise(match["name"]), match["version"]


def pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)["project"]


def pyproject_groups() -> dict[str, list[str]]:
    project = pyproject()
    return {"dependencies": project["dependencies"], **project.get("optional-dependencies", {})}


def pyproject_pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for group, requirements in pyproject_groups().items():
        for requirement in requirements:
            name, version = parse_pin(requirement, f"pyproject.toml [{group}]")
            previous = pins.setdefault(name, version)
            assert previous == version, f"pyproject.toml pins {name} twice: {previous} and {version}"
    return pins


def env_pins(path) -> dict[str, str]:
    with open(path, encoding="utf-8") as handle:
        env = yaml.safe_load(handle)
    pip_lists = [entry["pip"] for entry in env["dependencies"] if isinstance(entry, dict) and "pip" in entry]
    assert len(pip_lists) == 1, f"{path.name}: expected one pip list"
    pins: dict[str, str] = {}
    for requirement in pip_lists[0]:
        # Dependencies only: a path here would resolve from Snakemake's copy of the file (synesthesia.deployment).
        assert not requirement.startswith("-"), f"{path.name}: pip option {requirement!r}"
        name, version = parse_pin(requirement, path.name)
        assert name not in pins, f"{path.name}: {name} listed twice"
        pins[name] = version
    return pins


def test_env_files_exist():
    assert ENV_FILES, "no envs/*.yaml"


def test_every_pyproject_pin_is_exact():
    pins = pyproject_pins()
    assert pins
    # A package listed in two groups, even at one version, is a second place to forget on upgrade.
    assert sum(len(group) for group in pyproject_groups().values()) == len(pins)


@pytest.mark.parametrize("env_file", ENV_FILES, ids=lambda path: path.name)
def test_env_pins_match_pyproject(env_file):
    declared = pyproject_pins()
    pins = env_pins(env_file)
    assert pins, f"{env_file.name}: no pip pins"
    unknown = sorted(set(pins) - set(declared))
    assert not unknown, f"{env_file.name}: pins packages pyproject.toml does not declare: {unknown}"
    drifted = {name: (version, declared[name]) for name, version in pins.items() if declared[name] != version}
    assert not drifted, f"{env_file.name}: (env, pyproject) versions differ: {drifted}"


@pytest.mark.parametrize("env_file", ENV_FILES, ids=lambda path: path.name)
def test_env_has_every_base_dependency(env_file):
    base = {parse_pin(requirement, "pyproject.toml")[0] for requirement in pyproject()["dependencies"]}
    missing = sorted(base - set(env_pins(env_file)))
    assert not missing, f"{env_file.name}: lacks base dependencies {missing}"


@pytest.mark.parametrize(
    "requirement, ok",
    [("numpy==2.4.6", True), ("open_clip_torch == 3.3.0", True), ("numpy>=2.4", False),
     ("numpy~=2.4.6", False), ("numpy", False), ("numpy==2.4.6,<3", False), ("numpy===2.4.6", False)],
)
def test_pin_parser(requirement, ok):
    # The checks above are only as strict as this parser.
    assert bool(PIN.match(requirement)) is ok
