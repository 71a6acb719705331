"""How a job's Python finds this package when Snakemake builds the job's environment itself.

With ``--use-conda`` (or ``--software-deployment-method conda``) every job runs in an
environment built from ``envs/*.yaml``. Those files hold the dependencies only: Snakemake
creates each environment from a copy of its file under ``.snakemake/conda/``, so a path in
the file (``pip: -e ..``) would resolve from that copy, not from the workflow. Instead the
process that reads the Snakefile (which imports this package, so has it, wherever it was
installed from or deployed to) shows the jobs the same package: a folder holding only a
link to it goes on ``PYTHONPATH``, which local jobs and SLURM jobs (``--export=ALL``) inherit.
Only the package is linked, never the site-packages around it, so the job's environment
keeps its own pinned dependencies.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# Under the working directory's .snakemake/, beside Snakemake's own conda environments.
LINK_FOLDER = Path(".snakemake") / "synesthesia-package"


def share_package_with_jobs(workdir: Path = Path("."), environ: dict = os.environ) -> Path:
    """Link this package into ``workdir``'s LINK_FOLDER and put that folder first on ``PYTHONPATH``."""
    folder = (workdir / LINK_FOLDER).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / PACKAGE_DIR.name
    if not (link.is_symlink() and link.resolve() == PACKAGE_DIR):
        temporary = folder / f".{PACKAGE_DIR.name}.{os.getpid()}"
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(PACKAGE_DIR, target_is_directory=True)
        temporary.replace(link)  # atomic: a job reading the link meanwhile sees the old or the new one
    paths = [path for path in environ.get("PYTHONPATH", "").split(os.pathsep) if path and path != str(folder)]
    environ["PYTHONPATH"] = os.pathsep.join([str(folder), *paths])
    return folder
