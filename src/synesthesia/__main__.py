"""The `synesthesia` command (also `python -m synesthesia`):

* `plan`: what a config would run in a workdir, and its cost;
* `prefetch`: everything it needs from the internet, into the local caches;
* `report`: Snakemake's HTML report of a run: every table and figure that exists, the pending ones listed.

Exit codes: 0 done, 1 the work failed (one line on stderr), 2 a usage error (argparse's)."""

from __future__ import annotations

import argparse
import logging
import sys
import textwrap
from pathlib import Path

# The checkout this package is installed from (editable install): its Snakefile is the default workflow.
CHECKOUT = Path(__file__).resolve().parents[2]
_DEFAULT_SNAKEFILE = CHECKOUT / "Snakefile" if (CHECKOUT / "Snakefile").exists() else Path("Snakefile")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("synesthesia")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _workflow_options(parser: argparse.ArgumentParser, directory_help: str) -> None:
    parser.add_argument("--configfile", type=Path, default=Path("config.yaml"), metavar="YAML",
                        help="the config to read (default: config.yaml)")
    parser.add_argument("--directory", "-d", type=Path, default=Path("."), metavar="DIR", help=directory_help)
    parser.add_argument("--snakefile", "-s", type=Path, default=_DEFAULT_SNAKEFILE, metavar="FILE",
                        help="the workflow, whose schema validates the config "
                             "(default: the Snakefile of the checkout synesthesia is installed from)")


def _add_command(commands, name: str, summary: str, description: str, example: str) -> argparse.ArgumentParser:
    """A subcommand: ``summary`` in the command list, ``description`` and ``example`` in its --help."""
    return commands.add_parser(name, formatter_class=argparse.RawDescriptionHelpFormatter, help=summary,
                               description=textwrap.fill(description, 88), epilog=f"example:\n  {example}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="synesthesia", formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill("Measure what text encoders and vision encoders share: plan a config's grid, "
                    "prefetch what it needs, and build the HTML report of a run. The run itself is "
                    "`snakemake --cores N --configfile CONFIG`.", 88),
        epilog="examples:\n"
               "  synesthesia plan --configfile config.yaml\n"
               "  synesthesia prefetch --configfile config.yaml\n"
               "  synesthesia report --configfile demo/config.yaml\n\n"
               "exit codes: 0 done, 1 the work failed (one line on stderr), 2 usage error")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}",
                        help="print the version of synesthesia and exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    plan_parser = _add_command(
        commands, "plan",
        "list which embeddings and scores exist and which would run, with GPU-hours and disk",
        "List which embeddings and scores of a config exist in a workdir and which would run, "
        "with the estimated GPU-hours, GPUs per model and disk.",
        "synesthesia plan --configfile config.yaml -d /scratch/run --csv costs.csv")
    _workflow_options(plan_parser, "the workdir whose results count as existing (default: here)")
    plan_parser.add_argument("--csv", type=Path, metavar="CSV", help="also write the per-model costs to this CSV")
    plan_parser.add_argument("--gpu-memory-gb", type=float, default=80, metavar="GB",
                             help="memory of one GPU, for the GPUs each model needs (default: 80)")

    prefetch_parser = _add_command(
        commands, "prefetch",
        "download every hub model, dataset and file the config needs into the local caches, "
        "for runs on offline compute nodes (HF_HUB_OFFLINE=1)",
        "Download every hub model, dataset and file the config needs into the local caches, "
        "so that the run works on compute nodes without internet (HF_HUB_OFFLINE=1).",
        "synesthesia prefetch --configfile config.yaml -d /scratch/run")
    _workflow_options(prefetch_parser, "the workdir, where the download rules' files go (default: here)")

    report_parser = _add_command(
        commands, "report",
        "build the self-contained HTML report of a run (finished or not) and print its path",
        "Build Snakemake's self-contained HTML report of a run in a workdir: every table and "
        "figure that exists, with captions, the config's grid, the software versions, and the "
        "table jobs still pending. Refuses (exit 1) while no table exists.",
        "synesthesia report --configfile demo/config.yaml --output results/report.html")
    _workflow_options(report_parser, "the workdir of the run (default: here)")
    report_parser.add_argument("--output", "-o", type=Path, default=Path("results/report.html"), metavar="HTML",
                               help="the report to write, relative to the workdir (default: results/report.html; "
                                    "a .zip name gives a zipped folder instead)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    for path in (args.configfile, args.snakefile):
        if not path.exists():
            print(f"synesthesia {args.command}: {path} does not exist", file=sys.stderr)
            return 1
    if not args.directory.is_dir():
        print(f"synesthesia {args.command}: {args.directory} is not a directory", file=sys.stderr)
        return 1
    return {"plan": _plan, "prefetch": _prefetch, "report": _report}[args.command](args)


def _plan(args: argparse.Namespace) -> int:
    from .config import ConfigError
    from .plan import plan, render

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


def _prefetch(args: argparse.Namespace) -> int:
    from .config import ConfigError
    from .prefetch import run

    logging.getLogger("synesthesia").setLevel(logging.INFO)  # the study files' per-file progress
    try:
        return run(args.configfile, args.snakefile.resolve().parent / "workflow/schemas/config.schema.yaml",
                   args.directory.resolve())
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1


def _report(args: argparse.Namespace) -> int:
    from .html_report import NothingToReport, build_report

    workdir = args.directory.resolve()
    output = args.output if args.output.is_absolute() else workdir / args.output
    try:
        plan = build_report(args.snakefile.resolve(), args.configfile.resolve(), workdir, output)
    except (NothingToReport, RuntimeError) as error:
        print(f"synesthesia report: {error}", file=sys.stderr)
        return 1
    if plan.pending:
        print(f"synesthesia report: {len(plan.pending)} table jobs pending, listed on the report's front page "
              f"(first: {plan.pending[0]})", file=sys.stderr)
    print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
