"""Job logging: a rule's script sends logging and tqdm progress to the rule's log file.

The full traceback of a failing job goes to its log; its last error line (which names
the file, model or key at fault and what to do) also goes to the console, where
Snakemake otherwise prints only "check log file(s)".
"""

from __future__ import annotations

import logging
import os
import sys
import traceback


def first_line(error: BaseException) -> str:
    """The first line of the exception's message, or its type where it has none."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def error_line(error: BaseException) -> str:
    """The exception as one line: its type and the first line of its message."""
    return f"{type(error).__name__}: {first_line(error)}" if str(error).strip() else type(error).__name__


def log_to_file(path: str) -> None:
    """Send this process's stderr (tqdm, warnings, tracebacks) and logging to ``path``."""
    console = sys.__stderr__
    sys.stderr = open(path, "w", buffering=1, encoding="utf-8")
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, force=True,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )

    def report(kind, error, trace):
        traceback.print_exception(kind, error, trace, file=sys.stderr)
        sys.stderr.flush()
        if console is not None:
            print(f"error (full traceback in {path}): {error_line(error)}", file=console, flush=True)
        # The job has failed and said why. Skip the interpreter's teardown: after a failed write,
        # HDF5 2.0 crashes while h5py frees the file (a segfault on the console instead of exit 1).
        # Every store is flushed batch by batch, so nothing of use is lost.
        logging.shutdown()
        os._exit(1)

    sys.excepthook = report
