"""Paper-style tables: the studies' layouts of the tidy tables, for reading.

Values are x100 with one decimal (shares and correlations; a table of other units sets its
own scale), ``mean ± std`` where there are splits (pandas' sample std, ddof=1, as the tidy
tables), the best value per column marked (bold in Markdown, LaTeX and HTML, a ``*``
suffix in CSV; the lowest where lower is better), and a chance row from the control the
tidy table carries. The tidy tables stay the data; these are written beside them as CSV,
Markdown, LaTeX and a sortable HTML page (what the report shows).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from .glue import EVALUATION_SETS

DASH = "–"
STYLE_ORDER = ("BERT-style", "CLIP-style")
# Expected score of an uninformed model where it follows from the metric alone: a correlation
# (STS, STS-B) or Matthews' coefficient (CoLA) is 0 in expectation.
CORRELATION_TASKS = ("cola", "stsb", "sts_l", "sts_v")
TEXT_TASK_ORDER = tuple(EVALUATION_SETS)
TEXT_LABELS = {**{name: evaluation.label for name, evaluation in EVALUATION_SETS.items()},
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
    scale: float = 100.0  # printed value = scale x stored value
    lower_is_better: tuple[str, ...] = ()  # columns whose best value is the lowest


def count_label(value: float, _position=None) -> str:
    """10000 -> 10k, 22713216 -> 22.7M, 1.5e9 -> 1.5B (also a matplotlib tick formatter)."""
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def percent_label(share: float, _position=None) -> str:
    """0.001 -> 0.1%, 0.7 -> 70% (also a matplotlib tick formatter)."""
    return f"{100 * share:g}%"


def cell(mean: float, std: float | None = None, scale: float = 100.0) -> str:
    """``mean ± std`` x ``scale`` to one decimal; ``–`` where there is no value; no ``±`` without a std."""
    if mean is None or pd.isna(mean):
        return DASH
    text = f"{scale * mean:.1f}"
    if std is not None and not pd.isna(std):
        text += f" ± {scale * std:.1f}"
    return text


def best_rows(means: pd.DataFrame, scale: float = 100.0, lower_is_better: Sequence[str] = ()) -> pd.DataFrame:
    """True where a value is its column's best (highest, or lowest for ``lower_is_better`` columns; ties all
    marked), compared at the printed precision."""
    rounded = (scale * means.astype(float)).round(1)
    best = rounded.max(axis=0)
    lowest = [c for c in lower_is_better if c in rounded]
    best[lowest] = rounded[lowest].min(axis=0)
    return rounded.eq(best, axis=1) & rounded.notna()


def _cells(table: PaperTable) -> tuple[pd.DataFrame, pd.DataFrame, list[str] | None]:
    stds = table.stds.reindex_like(table.means) if table.stds is not None else None
    texts = pd.DataFrame({c: [cell(table.means.at[r, c], None if stds is None else stds.at[r, c], table.scale)
                              for r in table.means.index] for c in table.means.columns}, index=table.means.index)
    chance = None
    if table.chance is not None:
        chance_std = table.chance_std if table.chance_std is not None else pd.Series(dtype=float)
        chance = [cell(table.chance.get(c, float("nan")), chance_std.get(c), table.scale)
                  for c in table.means.columns]
    return texts, best_rows(table.means, table.scale, table.lower_is_better), chance


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


# Sorting a column keeps each row group (tbody) together and the chance row (tfoot) last; cells
# sort by their unrounded value (data-value), missing values last.
_SORT_SCRIPT = """
document.querySelectorAll("th[data-column]").forEach(function (th) {
  th.addEventListener("click", function () {
    var column = Number(th.dataset.column), descending = th.dataset.order !== "descending";
    th.closest("tr").querySelectorAll("th").forEach(function (other) { delete other.dataset.order; });
    th.dataset.order = descending ? "descending" : "ascending";
    th.closest("table").querySelectorAll("tbody").forEach(function (body) {
      var rows = Array.prototype.slice.call(body.querySelectorAll("tr.row"));
      function key(row) {
        var value = row.children[column].dataset.value;
        return value === undefined ? row.children[column].textContent : Number(value);
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (typeof x === "number" && isNaN(x)) return 1;
        if (typeof y === "number" && isNaN(y)) return -1;
        var order = x < y ? -1 : x > y ? 1 : 0;
        return descending ? -order : order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""
_STYLE = """
body { font-family: system-ui, sans-serif; font-size: 14px; margin: 1em; color: #222; }
table { border-collapse: collapse; }
th, td { padding: 0.3em 0.7em; white-space: nowrap; }
td { text-align: right; font-variant-numeric: tabular-nums; }
th[scope=row] { text-align: left; font-weight: normal; }
thead th { border-top: 2px solid #222; border-bottom: 1px solid #222; cursor: pointer; white-space: normal;
           max-width: 10em; vertical-align: bottom; }
thead th[data-order=descending]::after { content: " \\25BE"; }
thead th[data-order=ascending]::after { content: " \\25B4"; }
tbody tr.group th { text-align: left; font-style: italic; padding-top: 0.7em; }
tfoot td, tfoot th { border-top: 1px solid #222; font-style: italic; }
table { border-bottom: 2px solid #222; }
tbody tr.row:hover { background: #f2f2f2; }
"""


def to_html(table: PaperTable, out: str | Path | None = None) -> str:
    """A self-contained page: the table with sortable columns (click a header), best values bold."""
    texts, best, chance = _cells(table)
    columns = list(texts.columns)
    escape = html.escape
    head = "".join(f'<th scope="col" data-column="{i + 1}">{escape(str(c))}</th>' for i, c in enumerate(columns))
    bodies = []
    for group, rows in _sections(table, texts):
        lines = [] if group is None else [
            f'<tr class="group"><th colspan="{len(columns) + 1}">{escape(str(group))}</th></tr>']
        for row in rows:
            cells = []
            for c in columns:
                value = float(table.means.at[row, c]) if not pd.isna(table.means.at[row, c]) else float("nan")
                text = escape(texts.at[row, c])
                cells.append(f'<td data-value="{value!r}">{f"<strong>{text}</strong>" if best.at[row, c] else text}'
                             "</td>")
            lines.append(f'<tr class="row"><th scope="row">{escape(str(row))}</th>{"".join(cells)}</tr>')
        bodies.append("<tbody>" + "\n".join(lines) + "</tbody>")
    foot = ""
    if chance is not None:
        foot = (f'<tfoot><tr><th scope="row">{escape(table.chance_label)}</th>'
                + "".join(f"<td>{escape(c)}</td>" for c in chance) + "</tr></tfoot>")
    text = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(table.corner)}'
            f"</title><style>{_STYLE}</style></head><body>\n<table>\n"
            f'<thead><tr><th scope="col">{escape(table.corner)}</th>{head}</tr></thead>\n'
            + "\n".join(bodies) + f"\n{foot}</table>\n<script>{_SORT_SCRIPT}</script>\n</body></html>\n")
    if out is not None:
        Path(out).write_text(text, encoding="utf-8")
    return text


def write_paper_table(table: PaperTable, csv: str | Path, markdown: str | Path, latex: str | Path,
                      html_page: str | Path) -> None:
    """The table as CSV, Markdown, LaTeX and the report's sortable HTML page."""
    for path in (csv, markdown, latex, html_page):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    to_csv(table, csv)
    to_markdown(table, markdown)
    to_latex(table, latex)
    to_html(table, html_page)


def ordered(present: Sequence[str], order: Sequence[str] = ()) -> list[str]:
    """``order``'s names that are present, then the rest in their first-seen order."""
    present = list(dict.fromkeys(present))
    return [name for name in order if name in present] + [name for name in present if name not in order]


def pair_table(table: pd.DataFrame, selection: pd.Series, k: int, label: str, text_models: Sequence[str] = (),
               vision_models: Sequence[str] = (), control: str = "shuffled") -> PaperTable:
    """Rows text models, columns vision models, ``mean ± std`` over splits of the selected rows at ``k``;
    chance: the ``control`` rows' mean over text models, ± their std averaged over text models."""
    chosen = table[selection & (table.k == k)]
    real = chosen[chosen.control == "none"]
    rows = ordered(real.text_model, text_models)
    columns = ordered(real.vision_model, vision_models)
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


TEXT_UNDERSTANDING_PARTS = ("general", "vision_centric")


def text_understanding_paper_table(table: pd.DataFrame, summary: pd.DataFrame, models: Sequence[str] = (),
                                   part: str = "general") -> PaperTable:
    """First study: rows models grouped BERT-style then CLIP-style (then other styles), in ``models``' order.
    ``part="general"``: columns the GLUE tasks and their average (GLUE's, MNLI counted once);
    ``part="vision_centric"``: STS and association (and any other non-GLUE score).
    Chance: 0 for correlations and Matthews' coefficient, the association's one-in-candidates;
    no value for GLUE's accuracy/F1 tasks, whose chance depends on the label balance."""
    if part not in TEXT_UNDERSTANDING_PARTS:
        raise ValueError(f"part must be one of {TEXT_UNDERSTANDING_PARTS}, not {part!r}")
    glue = [t for t in TEXT_TASK_ORDER if t in summary]
    averages = [c for c in ("glue_average", "glue_average_finetune") if c in summary]
    known = [c for c in ("sts_l", "sts_v", "colour_association", "shape_association") if c in summary]
    extra = [c for c in summary.columns if c not in {"style", "family", "model", *glue, *averages, *known}]
    columns = [*glue, *averages] if part == "general" else [*known, *extra]
    styles = ordered(summary["style"], STYLE_ORDER)
    rows = []
    for style in styles:
        rows += ordered(summary.loc[summary["style"] == style, "model"], models)
    indexed = summary.set_index("model")
    means = indexed.loc[rows, columns].astype(float)
    means.index.name = None
    chance = {task: 0.0 for task in CORRELATION_TASKS if task in columns}
    if "chance" in table:
        association = table[(table.experiment == "association") & table.task.isin(columns)]
        chance.update(association.groupby("task")["chance"].mean().to_dict())
    if glue and "glue_average" in columns and all(task in chance for task in glue):
        chance["glue_average"] = sum(chance[t] for t in glue) / len(glue)
    means = means.rename(columns=TEXT_LABELS)
    chance = pd.Series({TEXT_LABELS.get(task, task): value for task, value in chance.items()}, dtype=float)
    return PaperTable(means, groups=indexed.loc[rows, "style"], chance=chance,
                      chance_label="chance", corner="model")


T2I_LABELS = {"fid": "FID ↓", "inception_score": "Inception Score ↑", "clip_score": "CLIP score ↑"}


def t2i_paper_table(table: pd.DataFrame, encoders: Sequence[str] = ()) -> PaperTable:
    """Text-to-image generation: rows text encoders (the configured order), columns FID (lowest best),
    Inception Score and CLIP score, in their own units (``std`` where the metric has one)."""
    rows = ordered(table.model, encoders)
    columns = ordered(table.metric, list(T2I_LABELS))
    means = table.pivot_table(index="model", columns="metric", values="value").reindex(index=rows, columns=columns)
    stds = (table.pivot_table(index="model", columns="metric", values="std", dropna=False)
            .reindex(index=rows, columns=columns) if "std" in table else None)
    labels = {metric: T2I_LABELS.get(metric, metric) for metric in columns}
    means = means.rename(columns=labels)
    if stds is not None:
        stds = stds.rename(columns=labels)
        stds.index.name = stds.columns.name = None
    means.index.name = means.columns.name = None
    return PaperTable(means, stds, corner="text encoder", scale=1.0, lower_is_better=(labels.get("fid", "fid"),))


def _over_vision_models(rows: pd.DataFrame, columns: str, text_models: Sequence[str]) -> tuple[pd.DataFrame, ...]:
    """Means and stds per (text model, ``columns``) averaged over the vision models."""
    grouped = rows.groupby(["text_model", columns], sort=False)
    means = grouped["mean"].mean().unstack(columns)
    stds = grouped["std"].mean().unstack(columns)
    order = ordered(rows.text_model, text_models)
    means, stds = means.reindex(order), stds.reindex(order)
    for frame in (means, stds):
        frame.index.name = frame.columns.name = None
    return means, stds


def factor_paper_table(table: pd.DataFrame, k: int, retrieval: str = "csls",
                       text_models: Sequence[str] = ()) -> PaperTable:
    """What makes concepts align: rows language models, columns each factor's bins with their mean size,
    test-set P@k averaged over the vision models; chance: the shuffled-pairing P@k of each bin.
    Bins without concepts are left out."""
    chosen = table[(table.k == k) & (table.retrieval == retrieval) & (table.factor != "all")
                   & (table.n_bin.fillna(0) > 0)]
    chosen = chosen.assign(column=[f"{factor.replace('_', ' ')}: {bin_} (n={size:.0f})" for factor, bin_, size in
                                   zip(chosen.factor, chosen["bin"],
                                       chosen.groupby(["factor", "bin"])["n_bin"].transform("mean"))])
    means, stds = _over_vision_models(chosen, "column", text_models)
    chance = chosen.groupby("column", sort=False)["chance"].mean()
    return PaperTable(means, stds, chance=chance, chance_label="chance (shuffled)",
                      corner=f"language model (P@{k}, {retrieval.upper()})")


def train_fraction_paper_table(table: pd.DataFrame, k: int, retrieval: str = "csls",
                               text_models: Sequence[str] = ()) -> PaperTable:
    """P@k by the share of concepts the map is fitted on: rows language models, columns shares,
    averaged over the vision models; chance: the shuffled-dictionary control at each share."""
    chosen = table[(table.k == k) & (table.retrieval == retrieval) & (table.metric == "precision")]
    chosen = chosen.assign(share=[percent_label(share) for share in chosen.train_fraction]).sort_values(
        "train_fraction", kind="stable")
    means, stds = _over_vision_models(chosen[chosen.control == "none"], "share", text_models)
    control = chosen[chosen.control == "shuffled"].groupby("share", sort=False)
    return PaperTable(means, stds, chance=control["mean"].mean(), chance_std=control["std"].mean(),
                      chance_label="chance (shuffled)", corner=f"language model (P@{k}, {retrieval.upper()})")


SIMILARITY_LABELS = {"mutual_knn": "mutual k-NN", "nn_in_knn": "NN in k-NN", "cycle_knn": "cycle k-NN",
                     "cka": "CKA", "cka_unbiased": "CKA (unbiased)", "cknna": "CKNNA", "svcca": "SVCCA",
                     "alignment": "alignment P@k (CSLS)"}


def similarity_paper_table(table: pd.DataFrame, text_models: Sequence[str] = ()) -> PaperTable:
    """Representation similarity: rows language models, columns metrics at each pair's best layer pair,
    averaged over the vision models; chance: the shuffled-pairing null."""
    best = table[table.selection == "best"]
    grouped = best.groupby(["text_model", "metric"], sort=False)["value"].mean().unstack("metric")
    means = grouped.reindex(ordered(best.text_model, text_models)).rename(columns=SIMILARITY_LABELS)
    means.index.name = means.columns.name = None
    null = best.groupby("metric", sort=False)
    chance = null["null_mean"].mean().rename(SIMILARITY_LABELS)
    chance_std = null["null_std"].mean().rename(SIMILARITY_LABELS)
    return PaperTable(means, chance=chance, chance_std=chance_std, chance_label="chance (shuffled)",
                      corner="language model (best layer pair)")
