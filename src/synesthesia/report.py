"""Tidy tables and figures from the per-unit JSON results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import pandas as pd

GROUP = ["dataset", "text_model", "vision_model", "control", "metric", "k"]


def read_records(paths: Sequence[str | Path]) -> pd.DataFrame:
    rows = []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            rows.extend(json.load(handle))
    if not rows:
        raise ValueError("no result records to aggregate")
    return pd.DataFrame(rows)


def retrieval_table(records: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over splits, one row per (pair, control, metric, k)."""
    records = records.assign(k=records["k"].astype("Int64"))
    table = (
        records.groupby(GROUP, dropna=False)["value"]
        .agg(mean="mean", std="std", splits="count")
        .reset_index()
    )
    return table.sort_values(GROUP, kind="stable").reset_index(drop=True)


def retrieval_heatmap(table: pd.DataFrame, out: str | Path, k: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chosen = table[(table.metric == "recall") & (table.k == k) & (table.control == "none")]
    chance = table[(table.metric == "recall") & (table.k == k) & (table.control == "shuffled")]["mean"].mean()
    grid = chosen.pivot(index="text_model", columns="vision_model", values="mean")
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * grid.shape[1], 1.0 + 0.5 * grid.shape[0]))
    image = ax.imshow(grid.values, cmap="viridis", vmin=0, vmax=max(float(grid.values.max()), 1e-6))
    ax.set_xticks(range(grid.shape[1]), grid.columns, rotation=45, ha="right")
    ax.set_yticks(range(grid.shape[0]), grid.index)
    for (row, col), value in pd.DataFrame(grid.values).stack().items():
        ax.text(col, row, f"{value:.2f}", ha="center", va="center", color="white", fontsize=8)
    ax.set_title(f"image→caption R@{k} (shuffled-pairs chance {chance:.2f})", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.05)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
