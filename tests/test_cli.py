"""The `synesthesia` command: help, version, one-line errors and exit codes (0 done, 1 failed, 2 usage)."""

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(sys.executable).parent / "synesthesia"
COMMANDS = [pytest.param([str(SCRIPT)], id="script"), pytest.param([sys.executable, "-m", "synesthesia"], id="module")]
OPTIONS = {
    None: ["--version", "--help"],
    "plan": ["--configfile", "--directory", "--snakefile", "--csv", "--gpu-memory-gb"],
    "prefetch": ["--configfile", "--directory", "--snakefile"],
    "report": ["--configfile", "--directory", "--snakefile", "--output"],
}


def run(command, *args, cwd=ROOT):
    if not Path(command[0]).exists():
        pytest.skip(f"{command[0]} is not installed: pip install --no-deps -e .")
    return subprocess.run([*command, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("subcommand", list(OPTIONS))
def test_help_mentions_every_option(command, subcommand):
    result = run(command, *([subcommand] if subcommand else []), "--help")
    assert result.returncode == 0, result.stderr
    assert "example" in result.stdout
    for option in OPTIONS[subcommand]:
        assert option in result.stdout
    if subcommand is None:
        for name in ("plan", "prefetch", "report"):
            assert name in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_version(command):
    result = run(command, "--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"synesthesia {version('synesthesia')}"


@pytest.mark.parametrize("command", COMMANDS)
def test_usage_error_exits_2(command):
    assert run(command).returncode == 2  # no subcommand
    assert run(command, "plan", "--no-such-option").returncode == 2


@pytest.mark.parametrize("command", COMMANDS)
def test_missing_config_is_one_line(command, tmp_path):
    result = run(command, "plan", "--configfile", str(tmp_path / "absent.yaml"), cwd=tmp_path)
    assert result.returncode == 1
    assert "absent.yaml does not exist" in one_line(result.stderr)


def test_bad_config_through_plan_is_one_line(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("models:\n  m: {source: nowhere, id: x, modality: text}\n")
    result = run(COMMANDS[0].values[0], "plan", "--configfile", str(config), "-d", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 1
    assert one_line(result.stderr)


def test_report_without_results_is_one_line(tmp_path):
    """Before any table exists there is nothing to report; the command says so in one line."""
    result = run(COMMANDS[0].values[0], "report", "--configfile", str(ROOT / "demo/config.yaml"),
                 "-d", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert line.startswith("synesthesia report: ")
    assert line.startswith("synesthesia report: nothing to report yet: no table of")
    assert not (tmp_path / "results/report.html").exists()
