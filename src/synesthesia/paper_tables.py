"""Paper-style tables: the studies' layouts of the tidy tables, for reading.

Values are x100 with one decimal, ``mean ± std`` where there are splits (pandas' sample
std, ddof=1, as the tidy tables), the best value per column marked (bold in Markdown and
LaTeX, a ``*`` suffix in CSV), and a chance row from the control the tidy table carries.
The tidy tables stay the data; these are written beside them as CSV, Markdown and LaTeX.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

DASH = "–"
STYLE_ORDER = ("BERT-style", "CLIP-style")
# Expected score of an uninformed model where it follows from the metric alone: a correlation
# (STS, STS-B) or Matthews' coefficient (CoLA) is 0 in expectation.
CORRELATION_TASKS = ("cola", "stsb", "sts_l", "sts_v")
TEXT_TASK_ORDER = ("cola", "sst2", "mrpc", "stsb", "qqp", "mnli_matched", "mnli_mismatched", "qnli", "rte", "wnli")
TEXT_LABELS = {"cola": "CoLA", "sst2": "SST-2", "mrpc": "MRPC", "stsb": "STS-B", "qqp": "QQP",
               "mnli_matched": "MNLI-m", "mnli_mismatched": "MNLI-mm", "qnli": "QNLI", "rte": "RTE", "wnli": "WNLI",
               "glue_average": "GLUE avg", "glue_average_finetune": "GLUE avg (fine-tuned)", "sts_l": "STS-L",
               "sts_v": "STS-V", "colour_association": "colour assoc.", "shape_association": "shape assoc."}
LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


@dataclass
class PaperTable:
    """Rows x columns of means (fractions), optional stds, optional row groups and a chance row."""

    means: pd.DataFrame
    stds: pd.DataFrame | None = None
    groups: pd.Series | None = None  # row label -> group label, rows already in group order
    chance: pd.Series | None = None
    chance_std: pd.Series | None = None
    chance_label: str = "chance"
    corner: str = "model"


def cell(mean: float, std: float | None = None) -> str:
    """``mean ± std`` x100 to one decimal; ``–`` where there is no value; no ``±`` without a std."""
    if mean is None or pd.isna(mean):
        return DASH
    text = f"{100 * mean:.1f}"
    if std is not None and not pd.isna(std):
        text += f" ± {100 * std:.1f}"
    return text


def best_rows(means: pd.DataFrame) -> pd.DataFrame:
    """True where a value is its column's highest (ties all marked), compared at the printed precision."""
    rounded = (100 * means.astype(float)).round(1)
    return rounded.eq(rounded.max(axis=0), axis=1) & rounded.notna()


def _cells(table: PaperTable) -> tuple[pd.DataFrame, pd.DataFrame, list[str] | None]:
    stds = table.stds.reindex_like(table.means) if table.stds is not None else None
    texts = pd.DataFrame({c: [cell(table.means.at[r, c], None if stds is None else stds.at[r, c])
                              for r in table.means.index] for c in table.means.columns}, index=table.means.index)
    chance = None
    if table.chance is not None:
        chance_std = table.chance_std if table.chance_std is not None else pd.Series(dtype=float)
        chance = [cell(table.chance.get(c, float("nan")), chance_std.get(c)) for c in table.means.columns]
    return texts, best_rows(table.means), chance


def to_csv(table: PaperTable, out: str | Path) -> pd.DataFrame:
    texts, best, chance = _cells(table)
    frame = texts.where(~best, texts + "*")
    frame.index.name = table.corner
    frame = frame.reset_index()
    if table.groups is not None:
        frame.insert(0, "group", [table.groups[r] for r in texts.index])
    if chance is not None:
        row = {**({"group": ""} if table.groups is not None else {}), table.corner: table.chance_label,
               **dict(zip(texts.columns, chance))}
        frame = pd.concat([frame, pd.DataFrame([row])], ignore_index=True)
    frame.to_csv(out, index=False)
    return frame


def _sections(table: PaperTable, texts: pd.DataFrame) -> list[tuple[str | None, list]]:
    if table.groups is None:
        return [(None, list(texts.index))]
    sections: list[tuple[str | None, list]] = []
    for row in texts.index:
        group = table.groups[row]
        if not sections or sections[-1][0] != group:
            sections.append((group, []))
        sections[-1][1].append(row)
    return sections


def to_markdown(table: PaperTable, out: str | Path | None = None) -> str:
    texts, best, chance = _cells(table)
    columns = list(texts.columns)
    lines = ["| " + " | ".join([table.corner, *columns]) + " |",
             "|" + "|".join([":---", *["---:"] * len(columns)]) + "|"]
    for group, rows in _sections(table, texts):
        if group is not None:
            lines.append("| " + " | ".join([f"*{group}*", *[""] * len(columns)]) + " |")
        for row in rows:
            values = [f"**{texts.at[row, c]}**" if best.at[row, c] else texts.at[row, c] for c in columns]
            lines.append("| " + " | ".join([str(row), *values]) + " |")
    if chance is not None:
        lines.append("| " + " | ".join([f"*{table.chance_label}*", *chance]) + " |")
    text = "\n".join(lines) + "\n"
    if out is not None:
        Path(out).write_text(text, encoding="utf-8")
    return text


def latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIAL.get(char, char) for char in str(text))


def _latex_cell(text: str, bold: bool) -> str:
    text = latex_escape(text).replace(" ± ", r" $\pm$ ").replace(DASH, "--")
    return rf"\textbf{{{text}}}" if bold else text


def to_latex(table: PaperTable, out: str | Path | None = None) -> str:
    """A booktabs tabular (needs ``\\usepackage{booktabs}``)."""
    texts, best, chance = _cells(table)
    columns = list(texts.columns)
    width = len(columns) + 1
    lines = [rf"\begin{{tabular}}{{l{'r' * len(columns)}}}", r"\toprule",
             " & ".join(latex_escape(c) for c in [table.corner, *columns]) + r" \\", r"\midrule"]
    for index, (group, rows) in enumerate(_sections(table, texts)):
        if group is not None:
            if index:
                lines.append(r"\midrule")
            lines.append(rf"\multicolumn{{{width}}}{{l}}{{\textit{{{latex_escape(group)}}}}} \\")
        for row in rows:
            values = [_latex_cell(texts.at[row, c], bool(best.at[row, c])) for c in columns]
            lines.append(" & ".join([latex_escape(row), *values]) + r" \\")
    if chance is not None:
        lines += [r"\midrule", " & ".join([rf"\textit{{{latex_escape(table.chance_label)}}}",
                                           *[_latex_cell(c, False) for c in chance]]) + r" \\"]
    lines += [r"\bottomrule", r"\end{tabular}"]
    text = "\n".join(lines) + "\n"
    if out is not None:
        Path(out).write_text(text, encoding="utf-8")
    return text


def write_paper_table(table: PaperTable, csv: str | Path, markdown: str | Path, latex: str | Path) -> None:
    for path in (csv, markdown, latex):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    to_csv(table, csv)
    to_markdown(table, markdown)
    to_latex(table, latex)


def _ordered(present: Sequence[str], order: Sequence[str] = ()) -> list[str]:
    """``order``'s names that are present, then the rest in their first-seen order."""
    present = list(dict.fromkeys(present))
    return [name for name in order if name in present] + [name for name in present if name not in order]


def pair_table(table: pd.DataFrame, selection: pd.Series, k: int, label: str, text_models: Sequence[str] = (),
               vision_models: Sequence[str] = (), control: str = "shuffled") -> PaperTable:
    """Rows text models, columns vision models, ``mean ± std`` over splits of the selected rows at ``k``;
    chance: the ``control`` rows' mean over text models, ± their std averaged over text models."""
    chosen = table[selection & (table.k == k)]
    real = chosen[chosen.control == "none"]
    rows = _ordered(real.text_model, text_models)
    columns = _ordered(real.vision_model, vision_models)
    means = real.pivot_table(index="text_model", columns="vision_model", values="mean").reindex(rows)[columns]
    stds = real.pivot_table(index="text_model", columns="vision_model", values="std", dropna=False)
    stds = stds.reindex(index=rows, columns=columns)
    controls = chosen[chosen.control == control].groupby("vision_model")
    means.index.name = stds.index.name = None
    means.columns.name = stds.columns.name = None
    return PaperTable(means, stds, chance=controls["mean"].mean(), chance_std=controls["std"].mean(),
                      chance_label=f"chance ({control})", corner=label)


def concept_paper_table(table: pd.DataFrame, k: int, retrieval: str = "csls", text_models: Sequence[str] = (),
                        vision_models: Sequence[str] = ()) -> PaperTable:
    """Second study: vision->language P@k (``retrieval``), language models x vision models."""
    return pair_table(table, (table.retrieval == retrieval) & (table.metric == "precision"), k,
                      f"language model (P@{k}, {retrieval.upper()})", text_models, vision_models)


def retrieval_paper_table(table: pd.DataFrame, k: int, text_models: Sequence[str] = (),
                          vision_models: Sequence[str] = ()) -> PaperTable:
    """Caption retrieval: image->caption R@k, text models x vision models."""
    return pair_table(table, table.metric == "recall", k, f"text model (R@{k})", text_models, vision_models)


def text_understanding_paper_table(table: pd.DataFrame, summary: pd.DataFrame,
                                   models: Sequence[str] = ()) -> PaperTable:
    """First study: rows models grouped BERT-style then CLIP-style (then other styles), in ``models``' order;
    columns the GLUE tasks, their average (GLUE's, MNLI counted once), STS and association.
    Chance: 0 for correlations and Matthews' coefficient, the association's one-in-candidates;
    no value for GLUE's accuracy/F1 tasks, whose chance depends on the label balance."""
    glue = [t for t in TEXT_TASK_ORDER if t in summary]
    others = [c for c in ("sts_l", "sts_v", "colour_association", "shape_association") if c in summary]
    averages = [c for c in ("glue_average", "glue_average_finetune") if c in summary]
    extra = [c for c in summary.columns
             if c not in {"style", "family", "model", *glue, *others, *averages}]
    styles = _ordered(summary["style"], STYLE_ORDER)
    rows = []
    for style in styles:
        rows += _ordered(summary.loc[summary["style"] == style, "model"], models)
    indexed = summary.set_index("model")
    columns = [*glue, *averages, *others, *extra]
    means = indexed.loc[rows, columns].astype(float)
    means.index.name = None
    chance = {task: 0.0 for task in CORRELATION_TASKS if task in columns}
    if "chance" in table:
        association = table[(table.experiment == "association") & table.task.isin(columns)]
        chance.update(association.groupby("task")["chance"].mean().to_dict())
    if glue and all(task in chance for task in glue):
        chance["glue_average"] = sum(chance[t] for t in glue) / len(glue)
    means = means.rename(columns=TEXT_LABELS)
    chance = pd.Series({TEXT_LABELS.get(task, task): value for task, value in chance.items()}, dtype=float)
    return PaperTable(means, groups=indexed.loc[rows, "style"], chance=chance,
                      chance_label="chance", corner="model")
