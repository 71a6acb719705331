"""Prepared datasets as two tables that every extraction job reads.

``text.tsv``: ``id``, ``text`` and, for words in context, the character span
``start``/``end`` of the word inside the text (GLUE's sentence pairs add ``text_pair``).
``images.tsv``: ``id``, ``image`` (absolute, or relative to the table). In a concept
dataset an id may repeat: each row is then one occurrence (a sentence of a word, an
image of a concept), and the store keeps the per-occurrence vectors as items and their
mean per id as the row. Everywhere else an id is one item and must be unique.

The format, written by :func:`write_table` and read by :func:`read_records`: UTF-8,
tab-separated, a header, lines ending in ``\\n``; a field holding a tab, line break
(``\\n`` or ``\\r``) or double quote is written in double quotes, inner quotes doubled
(CSV quoting), so every text reads back exactly as written.
"""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import pandas as pd

TEXT = "text.tsv"
IMAGES = "images.tsv"
TABLES = {"text": TEXT, "vision": IMAGES}
_COLUMNS = {TEXT: ["id", "text"], IMAGES: ["id", "image"]}
_TEXT_COLUMNS = ("text", "text_pair")
# Python's csv writer leaves a lone "\r" unquoted when lines end in "\n", yet every
# reader (csv, pandas) ends a line there: the text was split into a phantom row.
_QUOTED = ("\t", "\n", "\r", '"')


def table_for(modality: str) -> str:
    return TABLES[modality]


def write_text_table(out_dir: str | Path, rows: Iterable[tuple]) -> Path:
    """Rows of (id, text) or (id, text, start, end)."""
    rows = list(rows)
    columns = ["id", "text", "start", "end"] if rows and len(rows[0]) == 4 else ["id", "text"]
    return _write(Path(out_dir) / TEXT, pd.DataFrame(rows, columns=columns))


def write_image_table(out_dir: str | Path, rows: Iterable[tuple[str, str]]) -> Path:
    return _write(Path(out_dir) / IMAGES, pd.DataFrame(list(rows), columns=["id", "image"]))


def _write(path: Path, table: pd.DataFrame, occurrences_allowed: bool = True) -> Path:
    # Checked as read_table will check it, so a bad row fails the job that made it; ids may repeat
    # unless told otherwise, as the text and image writers serve concept datasets too.
    check_table(path, table.astype(str).where(table.notna(), ""), occurrences_allowed)
    return write_table(path, table)


def write_table(path: str | Path, table: pd.DataFrame) -> Path:
    """``table`` (header and rows, no index) in the format :func:`read_records` reads back exactly."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        for row in [table.columns, *table.itertuples(index=False)]:
            handle.write("\t".join(map(_field, row)) + "\n")
    return path


def _field(value) -> str:
    text = "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in _QUOTED) else text


def read_records(path: str | Path) -> Iterator[tuple[int, list[str]]]:
    """Each record of a file in the tables' format with the line it starts on; blank lines are skipped.

    Invalid UTF-8 and broken quoting are refused naming the file and line.
    """
    path = Path(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ValueError(f"{path}:{line}: not UTF-8 ({error.reason} at byte {error.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", quotechar='"', strict=True)
    line = 1
    try:
        for record in reader:
            if record:
                yield line, record
            line = reader.line_num + 1
    except csv.Error as error:
        raise ValueError(f"{path}:{line}: {error} (a text with a tab, line break or quote must be "
                         "in double quotes)") from None


def read_tsv(path: str | Path, columns: Sequence[str]) -> pd.DataFrame:
    """A table in the tables' format, every value a string; refused unless each row has the
    header's fields, the header has ``columns``, and there is at least one row."""
    path = Path(path)
    records = read_records(path)
    _, header = next(records, (1, []))
    missing = [column for column in columns if column not in header]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}; the header is {header}")
    rows = []
    for line, record in records:
        if len(record) != len(header):
            raise ValueError(f"{path}:{line}: {len(record)} field(s) where the header has {len(header)} "
                             f"({', '.join(header)}); a tab or line break inside a text must be in double quotes")
        rows.append(record)
    if not rows:
        raise ValueError(f"{path}: no rows, only a header")
    return pd.DataFrame(rows, columns=header, dtype=str)


def read_table(path: str | Path, occurrences_allowed: bool = False, blank_texts_allowed: bool = False
               ) -> pd.DataFrame:
    """A text or image table, checked (see :func:`check_table`); image paths come back absolute.

    ``occurrences_allowed``: a concept dataset's table, whose ids repeat (one row per
    occurrence). ``blank_texts_allowed``: GLUE's examples, kept as published.
    """
    path = Path(path)
    table = read_tsv(path, _COLUMNS[path.name])
    check_table(path, table, occurrences_allowed, blank_texts_allowed)
    if "image" in table:
        table["image"] = [str(p if Path(p).is_absolute() else path.parent / p) for p in table["image"]]
    for column in ("start", "end"):
        if column in table:
            table[column] = table[column].astype(int)
    return table


def check_table(path: Path, table: pd.DataFrame, occurrences_allowed: bool = False,
                blank_texts_allowed: bool = False) -> None:
    """Refuse, naming ``path`` and an id, what would be embedded silently wrong: no rows, a blank
    id, text or image, a repeated id where each id is one item, a word span outside its text."""
    if table.empty:
        raise ValueError(f"{path}: no rows")
    columns = ["id", "image"] + ([] if blank_texts_allowed else [c for c in _TEXT_COLUMNS if c in table])
    for column in columns:
        if column in table:
            blank = table[column].str.strip() == ""
            if blank.any():
                first = (f"row {blank.to_numpy().argmax() + 1}" if column == "id"
                         else f"id {table['id'][blank].iloc[0]!r}")
                raise ValueError(f"{path}: {blank.sum()} row(s) with an empty {column}, the first {first}")
    repeated = table["id"][table["id"].duplicated()]
    if not occurrences_allowed and len(repeated):
        raise ValueError(f"{path}: id {repeated.iloc[0]!r} is on {(table['id'] == repeated.iloc[0]).sum()} rows "
                         f"({repeated.nunique()} ids repeat); each id here is one item, so ids must be unique")
    if "start" in table:
        _check_spans(path, table)


def _check_spans(path: Path, table: pd.DataFrame) -> None:
    start, end = (pd.to_numeric(table[c], errors="coerce") for c in ("start", "end"))
    bad = ~((0 <= start) & (start < end) & (end <= table["text"].str.len()))
    if bad.any():
        row = table[bad].iloc[0]
        raise ValueError(f"{path}: id {row['id']!r}: word span {row['start']}..{row['end']} is not inside its "
                         f"text {row['text']!r}")


def occurrences(table: pd.DataFrame) -> tuple[list[str], list[int] | None]:
    """Unique ids in order of first appearance, and each row's owner when rows are occurrences."""
    ids = list(dict.fromkeys(table["id"]))
    if len(ids) == len(table) and "start" not in table:
        return ids, None
    index = {item_id: i for i, item_id in enumerate(ids)}
    return ids, [index[item_id] for item_id in table["id"]]


def table_hash(path: str | Path) -> str:
    """Identifies a dataset version: the table's bytes (ids, texts, spans, image names)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def write_pairs(out_dir: str | Path, rows: list[tuple[str, str, str]]) -> Path:
    """Write (id, caption, image) rows as the text and image tables; returns the folder."""
    out_dir = Path(out_dir)
    _write(out_dir / TEXT, pd.DataFrame([row[:2] for row in rows], columns=["id", "text"]), occurrences_allowed=False)
    _write(out_dir / IMAGES, pd.DataFrame([(row[0], row[2]) for row in rows], columns=["id", "image"]),
           occurrences_allowed=False)
    return out_dir
