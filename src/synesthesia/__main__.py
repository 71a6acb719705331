"""`python -m synesthesia plan`: what a config would run in a workdir, and its cost."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m synesthesia")
    commands = parser.add_subparsers(dest="command", required=True)
    plan_parser = commands.add_parser(
        "plan", help="list which embeddings and scores exist and which would run, with GPU-hours and disk")
    plan_parser.add_argument("--configfile", type=Path, default=Path("config.yaml"))
    plan_parser.add_argument("--directory", "-d", type=Path, default=Path("."),
                             help="the workdir whose results count as existing (default: here)")
    plan_parser.add_argument("--snakefile", "-s", type=Path, default=Path("Snakefile"))
    plan_parser.add_argument("--csv", type=Path, help="also write the per-model costs to this CSV")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")

    from .plan import plan, render

    for path in (args.configfile, args.snakefile):
        if not path.exists():
            parser.error(f"{path} does not exist")
    try:
        result = plan(args.snakefile.resolve(), args.configfile.resolve(), args.directory.resolve())
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return 1
    print(render(result))
    if args.csv:
        result["costs"].to_csv(args.csv, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
