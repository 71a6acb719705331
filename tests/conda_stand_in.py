"""A stand-in for the ``conda`` command, for tests/test_conda.py (no conda channel is reachable here).

Run as ``conda`` (a wrapper in ``<root>/bin`` calls :func:`main`), it answers what Snakemake's
conda integration asks, records every call in ``<root>/calls.jsonl`` and every environment file it
is handed in ``<root>/env_files.jsonl``. With a file ``<root>/build`` it builds each environment as
:func:`dependencies_only_environment`; without, it only makes the prefix folder. Standard library only:
it runs before any environment exists.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from pathlib import Path

# The site-packages of the interpreter running the tests: the project's pinned dependencies.
SITE_PACKAGES = sysconfig.get_paths()["purelib"]


def dependencies_only_environment(prefix: Path, site_packages: str = SITE_PACKAGES) -> Path:
    """A virtual environment that imports the project's dependencies but not the project: its site
    folder lists ``site_packages`` in a .pth line, whose own .pth files (the project's editable
    install among them) Python does not read."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(prefix)], check=True)
    site = Path(sysconfig.get_paths(vars={"base": str(prefix), "platbase": str(prefix)})["purelib"])
    (site / "dependencies.pth").write_text(site_packages + "\n")
    return prefix / "bin" / "python"


def _option(args: list[str], name: str) -> Path:
    return Path(args[args.index(name) + 1].strip('"'))


def main(root: Path, args: list[str]) -> None:
    with open(root / "calls.jsonl", "a") as calls:
        calls.write(json.dumps(args) + "\n")
    if args == ["--version"]:
        print("conda 25.1.1")
    elif args[:2] == ["info", "--json"]:
        print(json.dumps({"conda_prefix": str(root), "root_prefix": str(root), "platform": "linux-64"}))
    elif args[:2] == ["config", "--get"]:
        print(json.dumps({"get": {"channel_priority": "strict"}}))
    elif args[:2] == ["env", "create"]:
        env_file, prefix = _option(args, "--file"), _option(args, "--prefix")
        with open(root / "env_files.jsonl", "a") as files:
            files.write(json.dumps({"file": str(env_file), "text": env_file.read_text()}) + "\n")
        if (root / "build").exists():
            dependencies_only_environment(prefix)
        else:
            prefix.mkdir(parents=True)
    elif args[0] == "clean":  # after each creation, as Snakemake's default cleanup asks
        pass
    else:
        sys.exit(f"stand-in conda: {args} is not emulated")
