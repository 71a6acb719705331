"""Job logging: a rule's script sends logging and tqdm progress to the rule's log file."""

from __future__ import annotations

import logging
import sys


def log_to_file(path: str) -> None:
    """Send this process's stderr (tqdm, warnings, tracebacks) and logging to ``path``."""
    sys.stderr = open(path, "w", buffering=1, encoding="utf-8")
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, force=True,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
