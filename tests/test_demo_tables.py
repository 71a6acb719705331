"""The demo's result tables equal the ones recorded in tests/data/demo_tables/.

A refactoring (a rule moved to another file, a module split) must leave every number as it was:
this test catches one that does not. A change meant to alter results (a method fixed, a demo
setting changed) records the tables again, in the same commit:

    .venv/bin/snakemake --cores 2 --configfile demo/config.yaml
    .venv/bin/python tests/test_demo_tables.py results/tables
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow

RECORDED = Path(__file__).parent / "data" / "demo_tables"
# Reruns on one machine give identical bytes; the tolerance only absorbs a last-digit difference
# in how a float is written.
RTOL, ATOL = 1e-9, 1e-12


def demo_tables(tables: Path) -> list[Path]:
    """The tidy tables of a demo run (the paper tables are rounded views of these)."""
    return sorted(tables.glob("*.csv"))


def record(tables: Path) -> None:
    RECORDED.mkdir(parents=True, exist_ok=True)
    for stale in RECORDED.glob("*.csv.gz"):
        stale.unlink()
    for table in demo_tables(tables):
        pd.read_csv(table).to_csv(RECORDED / f"{table.name}.gz", index=False)
        print(f"recorded {table.name}")


def differences(recorded: pd.DataFrame, produced: pd.DataFrame) -> list[str]:
    """What differs, per column: the first differing row with both values."""
    if list(recorded.columns) != list(produced.columns):
        return [f"columns {list(recorded.columns)} became {list(produced.columns)}"]
    if len(recorded) != len(produced):
        return [f"{len(recorded)} rows became {len(produced)}"]
    found = []
    for column in recorded.columns:
        before, after = recorded[column], produced[column]
        if pd.api.types.is_float_dtype(before) and pd.api.types.is_float_dtype(after):
            same = np.isclose(before, after, rtol=RTOL, atol=ATOL, equal_nan=True)
        else:
            same = ((before.isna() & after.isna()) | (before.astype(str) == after.astype(str))).to_numpy()
        if not same.all():
            row = int(np.flatnonzero(~same)[0])
            found.append(f"{column}: row {row} was {before.tolist()[row]!r}, is {after.tolist()[row]!r} "
                         f"({int((~same).sum())} rows differ)")
    return found


def test_differences_name_the_column_row_and_both_values():
    recorded = pd.DataFrame({"model": ["a", "b"], "value": [0.5, 0.25], "k": [1, 5], "probe": [None, "ridge"]})
    assert differences(recorded, recorded.assign(value=[0.5, 0.25 + 1e-13])) == []
    assert differences(recorded, recorded.assign(probe=["logistic", "ridge"])) == [
        "probe: row 0 was nan, is 'logistic' (1 rows differ)"]
    assert differences(recorded, recorded.assign(value=[0.5, 0.26], model=["a", "c"])) == [
        "model: row 1 was 'b', is 'c' (1 rows differ)", "value: row 1 was 0.25, is 0.26 (1 rows differ)"]
    assert differences(recorded, recorded.iloc[:1]) == ["2 rows became 1"]
    assert differences(recorded, recorded.rename(columns={"k": "top"})) == [
        "columns ['model', 'value', 'k', 'probe'] became ['model', 'value', 'top', 'probe']"]


def test_the_demo_tables_are_the_recorded_ones(demo_run):
    produced = {path.name: path for path in demo_tables(demo_run / "results/tables")}
    recorded = {path.name.removesuffix(".gz"): path for path in RECORDED.glob("*.csv.gz")}
    assert sorted(produced) == sorted(recorded), "the demo writes other tables than the recorded ones"
    report = {name: differences(pd.read_csv(recorded[name]), pd.read_csv(produced[name])) for name in recorded}
    report = {name: found for name, found in report.items() if found}
    assert not report, "demo results changed (if meant, record them again: see this module's docstring):\n" + "\n".join(
        f"{name}: {line}" for name, found in report.items() for line in found)


if __name__ == "__main__":
    record(Path(sys.argv[1]))
