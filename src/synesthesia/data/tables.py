"""Prepared datasets as two tables that every extraction job reads.

``text.tsv``: ``id``, ``text`` and, for words in context, the character span
``start``/``end`` of the word inside the text. ``images.tsv``: ``id``, ``image``
(absolute, or relative to the table). An id may repeat: each row is then one
occurrence (a sentence of a word, an image of a concept), and the store keeps the
per-occurrence vectors as items and their mean per id as the row.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable

import pandas as pd

TEXT = "text.tsv"
IMAGES = "images.tsv"
TABLES = {"text": TEXT, "vision": IMAGES}
_COLUMNS = {TEXT: ["id", "text"], IMAGES: ["id", "image"]}


def table_for(modality: str) -> str:
    return TABLES[modality]


def write_text_table(out_dir: str | Path, rows: Iterable[tuple]) -> Path:
    """Rows of (id, text) or (id, text, start, end)."""
    rows = list(rows)
    columns = ["id", "text", "start", "end"] if rows and len(rows[0]) == 4 else ["id", "text"]
    return _write(Path(out_dir) / TEXT, pd.DataFrame(rows, columns=columns))


def write_image_table(out_dir: str | Path, rows: Iterable[tuple[str, str]]) -> Path:
    return _write(Path(out_dir) / IMAGES, pd.DataFrame(list(rows), columns=["id", "image"]))


def _write(path: Path, table: pd.DataFrame) -> Path:
    if table.empty:
        raise ValueError(f"{path}: no rows to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, sep="\t", index=False)
    return path


def read_table(path: str | Path) -> pd.DataFrame:
    """A text or image table; image paths come back absolute."""
    path = Path(path)
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    missing = set(_COLUMNS[path.name]) - set(table.columns)
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)}")
    if "image" in table:
        table["image"] = [str(p if Path(p).is_absolute() else path.parent / p) for p in table["image"]]
    for column in ("start", "end"):
        if column in table:
            table[column] = table[column].astype(int)
    return table


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
    ids = [row[0] for row in rows]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{out_dir}: item ids are not unique")
    write_text_table(out_dir, [(item_id, caption) for item_id, caption, _ in rows])
    write_image_table(out_dir, [(item_id, image) for item_id, _, image in rows])
    return Path(out_dir)
