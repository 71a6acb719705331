"""`python -m synesthesia plan`: what a config would run in a workdir, and its cost;
`python -m synesthesia prefetch`: everything it needs from the internet, into the local caches."""

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
    plan_parser.add_argument("--gpu-memory-gb", type=float, default=80,
                             help="memory of one GPU, for the GPUs each model needs (default: 80)")
    prefetch_parser = commands.add_parser(
        "prefetch", help="download every hub model, dataset and file the config needs into the local caches, "
                         "for runs on offline compute nodes (HF_HUB_OFFLINE=1)")
    prefetch_parser.add_argument("--configfile", type=Path, default=Path("config.yaml"))
    prefetch_parser.add_argument("--directory", "-d", type=Path, default=Path("."),
                                 help="the workdir, where the download rules' files go (default: here)")
    prefetch_parser.add_argument("--snakefile", "-s", type=Path, default=Path("Snakefile"),
                                 help="the workflow, whose schema validates the config")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    if args.command == "prefetch":
        return _prefetch(args, parser)

    from .config import ConfigError
    from .plan import plan, render

    for path in (args.configfile, args.snakefile):
        if not path.exists():
            parser.error(f"{path} does not exist")
    try:
        result = plan(args.snakefile.resolve(), args.configfile.resolve(), args.directory.resolve(),
                      gpu_memory_gb=args.gpu_memory_gb)
    except (ConfigError, RuntimeError) as error:  # the message alone, as `snakemake -n` prints it
        print(error, file=sys.stderr)
        return 1
    print(render(result))
    if args.csv:
        result["costs"].to_csv(args.csv, index=False)
    return 0


def _prefetch(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .config import ConfigError
    from .prefetch import run

    for path in (args.configfile, args.snakefile):
        if not path.exists():
            parser.error(f"{path} does not exist")
    logging.getLogger("synesthesia").setLevel(logging.INFO)  # the study files' per-file progress
    try:
        return run(args.configfile, args.snakefile.resolve().parent / "workflow/schemas/config.schema.yaml",
                   args.directory.resolve())
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
