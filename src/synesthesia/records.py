"""Score records: what every scoring job writes and every table reads.

A scoring job writes one JSON file: a list of long-format records (one value each, with
the split, control, metric, k ... it belongs to), each prefixed with the identity of what
was scored (models, dataset, method). Tables read any number of them into one frame.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    import pandas as pd


def write_records(out: str | Path, identity: dict, records: Sequence[dict]) -> list[dict]:
    """Write one scoring job's long-format records, each prefixed with what was scored."""
    records = [{**identity, **record} for record in records]
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(records, handle, indent=1, default=float)
    return records


def read_records(paths: Sequence[str | Path]) -> pd.DataFrame:
    """All records of ``paths`` as one frame, one row per record."""
    import pandas as pd

    rows = []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            rows.extend(json.load(handle))
    if not rows:
        raise ValueError("no result records to aggregate")
    return pd.DataFrame(rows)
