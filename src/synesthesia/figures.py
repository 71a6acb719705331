"""The studies' figures, drawn from the tidy tables to one standard.

Every figure function returns a matplotlib :class:`~matplotlib.figure.Figure` built
without pyplot (no global state, no interactive backend); :func:`save_figure` writes
it. The conventions, the same in every figure:

- colours: Okabe & Ito's colour-blind-safe palette, one colour per model family
  (:func:`family_colours`); where bars or lines are models, a family's models are
  shades of its colour, lightest first (:func:`model_colours`);
- order: models as the config lists them (the ``text_models``, ``vision_models`` or
  ``models`` arguments), any others after them in the order the table has them;
- chance: a black dashed line, "chance (shuffled)" in the legend;
- intervals: error bars or bands wherever the table carries a std or ``ci_low``/``ci_high``;
- legends outside the data: in a free panel slot, else beside or below the panels.
"""

from __future__ import annotations

import functools
import textwrap
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import Normalize, to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from .paper_tables import (
    CORRELATION_TASKS,
    SIMILARITY_LABELS,
    STYLE_ORDER,
    TEXT_LABELS,
    count_label,
    ordered,
    percent_label,
)
from .report import text_understanding_summary

# Okabe & Ito (2008); their black is kept for chance lines.
ORANGE, SKY_BLUE, GREEN, YELLOW = "#E69F00", "#56B4E9", "#009E73", "#F0E442"
BLUE, VERMILLION, PURPLE, BLACK = "#0072B2", "#D55E00", "#CC79A7", "#000000"
PALETTE = (BLUE, VERMILLION, GREEN, ORANGE, PURPLE, SKY_BLUE, YELLOW)
# A figure colours one side's families only, so the vision families reuse the language
# families' colours; clip, a family on both sides, keeps vermillion on both.
FAMILY_COLOURS = {
    "bert": BLUE, "clip": VERMILLION, "gpt2": GREEN, "opt": ORANGE, "causal": PURPLE, "llama-2": SKY_BLUE,
    "vit": BLUE, "mae": GREEN, "resnet": ORANGE, "segformer": PURPLE,
}
CHANCE_LABEL = "chance (shuffled)"
CHANCE_STYLE = {"color": BLACK, "linestyle": (0, (4, 2)), "linewidth": 1.2}
HEATMAP_COLOURS = "viridis"
# First study's panels: (y label, the summary's columns drawn in it).
TEXT_PANELS = (("GLUE average score", ("glue_average", "glue_average_finetune")),
               ("STS Spearman ρ", ("sts_l", "sts_v")),
               ("association accuracy", ("colour_association", "shape_association")))
STYLE = {
    "font.size": 8, "axes.labelsize": 9, "axes.titlesize": 9, "xtick.labelsize": 8, "ytick.labelsize": 8,
    "legend.fontsize": 8, "legend.frameon": False, "figure.labelsize": 9,
    "axes.spines.top": False, "axes.spines.right": False, "errorbar.capsize": 2,
}
PNG_DPI = 200


def save_figure(figure: Figure, *paths: str | Path) -> None:
    """Write ``figure`` to each path, its format from the suffix (PNG at 200 dpi; PDF as vectors, fonts embedded)."""
    with matplotlib.rc_context({"pdf.fonttype": 42}):
        for path in map(Path, paths):
            path.parent.mkdir(parents=True, exist_ok=True)
            figure.savefig(path, dpi=PNG_DPI, bbox_inches="tight", pad_inches=0.03)


def _styled(build: Callable[..., Figure]) -> Callable[..., Figure]:
    """Build the figure under the module's style, laid out before returning: axes create their
    tick labels lazily, and those created later would not take the style."""

    @functools.wraps(build)
    def styled(*args, **kwargs) -> Figure:
        with matplotlib.rc_context(STYLE):
            figure = build(*args, **kwargs)
            figure.draw_without_rendering()
        return figure

    return styled


# --- Colours and order ------------------------------------------------------------------------


def family_colours(families: Iterable[str]) -> dict[str, str]:
    """A colour per family: the known families' fixed ones; the others, in first-seen order,
    the palette's colours no family here has yet (then the palette again)."""
    families = list(dict.fromkeys(families))
    colours = {family: FAMILY_COLOURS[family] for family in families if family in FAMILY_COLOURS}
    free = [colour for colour in PALETTE if colour not in colours.values()] or list(PALETTE)
    unknown = [family for family in families if family not in colours]
    colours.update({family: free[i % len(free)] for i, family in enumerate(unknown)})
    return {family: colours[family] for family in families}


def _shade(colour: str, amount: float) -> tuple[float, float, float]:
    """``colour`` mixed with white (``amount`` > 0) or black (< 0) by ``|amount|``."""
    rgb = np.array(to_rgb(colour))
    target = 1.0 if amount > 0 else 0.0
    return tuple(rgb + (target - rgb) * abs(amount))


def model_colours(families: Mapping[str, str]) -> dict[str, tuple[float, float, float]]:
    """A colour per model (``families``: model -> family, in model order): its family's colour,
    the family's first model lightest and its last darkest."""
    by_family = family_colours(families.values())
    colours = {}
    for family, colour in by_family.items():
        members = [model for model, of in families.items() if of == family]
        amounts = np.linspace(0.5, -0.3, len(members)) if len(members) > 1 else [0.0]
        colours.update({model: _shade(colour, amount) for model, amount in zip(members, amounts)})
    return {model: colours[model] for model in families}


def _model_families(rows: pd.DataFrame, model: str, family: str, order: Sequence[str]) -> dict[str, str]:
    """Model -> family in config order, from a table's ``model`` and ``family`` columns."""
    families = dict(zip(rows[model], rows[family]))
    return {name: families[name] for name in ordered(rows[model], order)}


def _text_colour(background) -> str:
    """Black or white, whichever contrasts more with ``background`` (WCAG relative luminance)."""
    channels = np.array(to_rgb(background))
    linear = np.where(channels <= 0.04045, channels / 12.92, ((channels + 0.055) / 1.055) ** 2.4)
    luminance = float(linear @ [0.2126, 0.7152, 0.0722])
    # Black and white contrast equally with a luminance of about 0.18.
    return BLACK if luminance > 0.179 else "white"


# --- Shared parts -------------------------------------------------------------------------------


def _panels(count: int, columns: int, width: float, height: float, **shared) -> tuple[Figure, list[Axes], list[Axes]]:
    """A grid of ``count`` panels of ``width`` x ``height`` inches: the figure, the panels, the spare slots."""
    columns = min(columns, count)
    rows = -(-count // columns)
    figure = Figure(figsize=(width * columns, height * rows), layout="constrained")
    grid = figure.subplots(rows, columns, squeeze=False, **shared)
    axes = list(grid.flat)
    for spare in axes[count:]:
        spare.set_axis_off()
    for index, ax in enumerate(axes[:count]):
        if index + columns >= count:  # nothing below it: its x ticks must be labelled even when shared
            ax.tick_params(labelbottom=True)
    return figure, axes[:count], axes[count:]


def _legend(figure: Figure, spare: Sequence[Axes], handles: Sequence, **options) -> None:
    """The legend in the first spare panel slot, else to the right of the panels, the figure widened for it."""
    if spare:
        spare[0].legend(handles=handles, loc="center", **options)
        return
    figure.legend(handles=handles, loc="outside right upper", **options)
    longest = max(len(str(text)) for text in [options.get("title", ""), *(h.get_label() for h in handles)])
    width, height = figure.get_size_inches()
    figure.set_size_inches(width + 0.6 + 0.065 * longest, height)


def _legend_height(entries: int) -> float:
    """Inches a legend of ``entries`` rows (and a title) needs."""
    return 0.45 + 0.16 * entries


def _chance_handle() -> Line2D:
    return Line2D([], [], label=CHANCE_LABEL, **CHANCE_STYLE)


def _parameter_axis(ax: Axes, counts: Iterable[float]) -> None:
    """Log x axis of parameter counts: labelled decades (1-2-5 steps over narrow ranges), unlabelled minor ticks."""
    counts = np.asarray(list(counts), dtype=float)
    ax.set_xscale("log")
    decades = np.log10(counts.max() / counts.min()) if len(counts) else 0.0
    # Every decade up to seven of them (matplotlib's default drops every other one on a narrow panel).
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0,) if decades >= 2 else (1.0, 2.0, 5.0), numticks=8))
    ax.xaxis.set_major_formatter(FuncFormatter(count_label))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _number(value: float, decimals: int) -> str:
    return "–" if pd.isna(value) else f"{value:.{decimals}f}"


def _known(value: float | None) -> bool:
    return value is not None and not pd.isna(value)


def _colour_scale(values: np.ndarray, *marks: float | None) -> Normalize:
    """A colour scale spanning ``values``' finite entries and the known ``marks`` (0, a chance level)."""
    ends = [*values[np.isfinite(values)], *(mark for mark in marks if _known(mark))] or [0.0]
    return Normalize(min(ends), max(max(ends), min(ends) + 1e-6))


def _colour_bar(figure: Figure, image, ax: Axes | Sequence[Axes], title: str, chance: float | None, **options) -> None:
    """``image``'s colour bar beside ``ax`` (one panel or several), titled, ``chance`` marked where known."""
    bar = figure.colorbar(image, ax=ax, **options)
    bar.set_label(title)
    bar.outline.set_visible(False)
    if _known(chance):
        # A white line under the dashes keeps the mark visible on the colour map's dark end.
        bar.ax.axhline(chance, color="white", linewidth=3)
        bar.ax.axhline(chance, **CHANCE_STYLE)
        bar.ax.annotate("chance", xy=(0, chance), xycoords=("axes fraction", "data"), xytext=(-2, 0),
                        textcoords="offset points", ha="right", va="center", fontsize=7)


@_styled
def heatmap(grid: pd.DataFrame, rows_title: str, columns_title: str, colour_title: str,
            chance: float | None = None, low: pd.DataFrame | None = None,
            high: pd.DataFrame | None = None, decimals: int = 2) -> Figure:
    """``grid``'s values as coloured cells printed to ``decimals`` (rows and columns as ordered in ``grid``);
    ``chance`` marked on the colour bar; ``low``/``high`` (same shape) printed under each value as its interval."""
    values = grid.to_numpy(dtype=float)
    norm = _colour_scale(values, 0.0, chance)
    colours = matplotlib.colormaps[HEATMAP_COLOURS]
    intervals = low is not None and high is not None
    longest_row = max((len(str(label)) for label in grid.index), default=0)
    longest_column = max((len(str(label)) for label in grid.columns), default=0)
    cell_width = (0.34 + 0.07 * decimals) * (1.7 if intervals else 1)
    cell_height = 0.5 if intervals else 0.36
    figure = Figure(figsize=(1.9 + 0.06 * longest_row + cell_width * grid.shape[1],
                             0.75 + 0.045 * longest_column + cell_height * grid.shape[0]), layout="constrained")
    ax = figure.add_subplot()
    image = ax.imshow(values, cmap=colours, norm=norm, aspect="auto")
    ax.set_xticks(range(grid.shape[1]), grid.columns, rotation=40, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(grid.shape[0]), grid.index)
    ax.tick_params(length=0)
    ax.spines[:].set_visible(False)
    ax.set_xlabel(columns_title)
    ax.set_ylabel(rows_title)
    for row, column in np.ndindex(values.shape):
        value = values[row, column]
        text = _number(value, decimals)
        if intervals and np.isfinite(value):
            text += f"\n[{_number(low.iat[row, column], decimals)}, {_number(high.iat[row, column], decimals)}]"
        colour = _text_colour(colours(norm(value))) if np.isfinite(value) else BLACK
        ax.text(column, row, text, ha="center", va="center", color=colour, fontsize=7 if intervals else 8)
    _colour_bar(figure, image, ax, colour_title, chance, fraction=0.08, pad=0.03, aspect=max(8, 4 * grid.shape[0]))
    return figure


def _pair_grid(rows: pd.DataFrame, values: str, text_models: Sequence[str],
               vision_models: Sequence[str]) -> pd.DataFrame:
    """Text models x vision models of ``values``, in config order."""
    grid = rows.pivot_table(index="text_model", columns="vision_model", values=values, sort=False, dropna=False)
    grid = grid.reindex(index=ordered(rows.text_model, text_models),
                        columns=ordered(rows.vision_model, vision_models))
    grid.index.name = grid.columns.name = None
    return grid


# --- Caption retrieval and concept alignment ------------------------------------------------------


def retrieval_heatmap(table: pd.DataFrame, k: int, text_models: Sequence[str] = (),
                      vision_models: Sequence[str] = ()) -> Figure:
    """Image->caption recall@k (mean over splits) of each text model (rows) and vision model (columns);
    the colour bar marks the shuffled-pairs control's mean."""
    at_k = (table.metric == "recall") & (table.k == k)
    grid = _pair_grid(table[at_k & (table.control == "none")], "mean", text_models, vision_models)
    chance = table[at_k & (table.control == "shuffled")]["mean"].mean()
    return heatmap(grid, "text model", "vision model", f"image→caption recall@{k}", chance)


def concept_heatmap(table: pd.DataFrame, k: int, retrieval: str = "csls", text_models: Sequence[str] = (),
                    vision_models: Sequence[str] = ()) -> Figure:
    """Vision->language P@k (``retrieval``, mean over splits) of each language model (rows) and vision model
    (columns); the colour bar marks the shuffled-dictionary control's mean."""
    at_k = (table.k == k) & (table.retrieval == retrieval)
    grid = _pair_grid(table[at_k & (table.control == "none")], "mean", text_models, vision_models)
    chance = table[at_k & (table.control == "shuffled")]["mean"].mean()
    return heatmap(grid, "language model", "vision model", f"P@{k} ({retrieval.upper()})", chance)


@_styled
def precision_by_size(table: pd.DataFrame, k: int, retrieval: str = "csls", text_models: Sequence[str] = (),
                      vision_models: Sequence[str] = ()) -> Figure:
    """P@k against the language model's parameter count, one line per language-model family (error bars:
    std over splits), one panel per vision model; dashed: the shuffled control's mean over language models."""
    chosen = table[(table.k == k) & (table.retrieval == retrieval) & (table.text_parameters > 0)]
    real = chosen[chosen.control == "none"]
    families = family_colours(_model_families(real, "text_model", "text_family", text_models).values())
    visions = ordered(real.vision_model, vision_models)
    figure, axes, spare = _panels(len(visions), 4, 2.2, 1.8, sharex=True, sharey=True)
    for ax, vision in zip(axes, visions):
        rows = real[real.vision_model == vision]
        for family, colour in families.items():
            curve = rows[rows.text_family == family].sort_values("text_parameters")
            if not curve.empty:
                ax.errorbar(curve.text_parameters, curve["mean"], yerr=curve["std"], color=colour,
                            marker="o", markersize=4, label=family)
        ax.axhline(chosen[(chosen.control == "shuffled") & (chosen.vision_model == vision)]["mean"].mean(),
                   **CHANCE_STYLE)
        ax.set_title(vision)
        _parameter_axis(ax, real.text_parameters)
    figure.supxlabel("language model parameters")
    figure.supylabel(f"P@{k} ({retrieval.upper()})")
    _legend(figure, spare, [*(Line2D([], [], color=c, marker="o", label=f) for f, c in families.items()),
                            _chance_handle()], title="language model family")
    return figure


# --- What makes concepts align (second study's analyses) ----------------------------------------


@_styled
def factor_figure(table: pd.DataFrame, k: int, retrieval: str = "csls", text_models: Sequence[str] = ()) -> Figure:
    """P@k per bin of each factor (one panel each), one bar per language model (mean over vision models,
    error bars the mean half-sample interval); dashed over each bin: its shuffled-pairing chance level.
    Bins without concepts or without a value are left out."""
    chosen = table[(table.k == k) & (table.retrieval == retrieval) & (table.factor != "all")]
    colours = model_colours(_model_families(chosen, "text_model", "text_family", text_models))
    cells, bins = {}, {}
    for factor in dict.fromkeys(chosen.factor):
        cells[factor] = chosen[chosen.factor == factor].groupby(["bin", "text_model"], sort=False)[
            ["mean", "n_bin", "ci_low", "ci_high", "chance"]].mean()
        per_bin = cells[factor].groupby(level="bin", sort=False).mean()
        bins[factor] = per_bin[per_bin["mean"].notna() & (per_bin["n_bin"] > 0)]
    widest = max((len(kept) for kept in bins.values()), default=1)
    figure, axes, spare = _panels(len(cells), 2, 0.9 + max(0.7, 0.12 * len(colours)) * widest,
                                  max(2.4, _legend_height(len(colours) + 1) / -(-len(cells) // 2)))
    width = 0.8 / len(colours)
    for ax, (factor, means) in zip(axes, cells.items()):
        kept = bins[factor]
        for i, model in enumerate(colours):
            offset = (i - (len(colours) - 1) / 2) * width
            bars = means[means.index.get_level_values("text_model") == model].droplevel("text_model")
            bars = bars.reindex(kept.index).dropna(subset=["mean"])
            positions = np.array([kept.index.get_loc(b) + offset for b in bars.index])
            ax.bar(positions, bars["mean"], width, color=colours[model], edgecolor=BLACK, linewidth=0.3,
                   label=model)
            spans = bars[["ci_low", "ci_high"]].notna().all(axis=1).to_numpy()
            if spans.any():
                shown = bars[spans]
                ax.errorbar(positions[spans], shown["mean"],
                            yerr=[(shown["mean"] - shown.ci_low).clip(lower=0),
                                  (shown.ci_high - shown["mean"]).clip(lower=0)],
                            fmt="none", ecolor=BLACK, elinewidth=0.7)
        centres = np.arange(len(kept))
        ax.hlines(kept["chance"], centres - 0.45, centres + 0.45, **CHANCE_STYLE)
        ax.set_xticks(range(len(kept)), [f"{b}\n(n={n:.0f})" for b, n in kept["n_bin"].items()])
        ax.set_xlabel(factor.replace("_", " "))
    figure.supylabel(f"P@{k} ({retrieval.upper()})")
    _legend(figure, spare, [*(Patch(facecolor=c, edgecolor=BLACK, linewidth=0.3, label=m)
                              for m, c in colours.items()), _chance_handle()], title="language model")
    return figure


@_styled
def train_fraction_figure(table: pd.DataFrame, k: int, retrieval: str = "csls",
                          text_models: Sequence[str] = ()) -> Figure:
    """P@k against the share of concepts the map is fitted on, one line per language model (mean over
    vision models; band: ± the std over splits, averaged over vision models); dashed: the shuffled control."""
    chosen = table[(table.k == k) & (table.retrieval == retrieval)]
    real = chosen[chosen.control == "none"]
    colours = model_colours(_model_families(real, "text_model", "text_family", text_models))
    figure = Figure(figsize=(4.0, max(2.8, _legend_height(len(colours) + 1))), layout="constrained")
    ax = figure.add_subplot()
    for model, colour in colours.items():
        curve = real[real.text_model == model].groupby("train_fraction")[["mean", "std"]].mean()
        spread = curve["std"].fillna(0)
        ax.fill_between(curve.index, curve["mean"] - spread, curve["mean"] + spread, color=colour, alpha=0.2,
                        linewidth=0)
        ax.plot(curve.index, curve["mean"], color=colour, marker="o", markersize=4, label=model)
    chance = chosen[chosen.control == "shuffled"].groupby("train_fraction")["mean"].mean()
    ax.plot(chance.index, chance.values, **CHANCE_STYLE, label=CHANCE_LABEL)
    ax.set_xscale("log")
    ax.set_xticks(sorted(chosen.train_fraction.unique()))
    ax.xaxis.set_major_formatter(FuncFormatter(percent_label))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("training share of concepts")
    ax.set_ylabel(f"P@{k} ({retrieval.upper()})")
    _legend(figure, [], ax.get_legend_handles_labels()[0], title="language model")
    return figure


def _similarity_metric(best: pd.DataFrame, metric: str) -> str:
    """``metric``, or the first of the ``best`` rows' metrics when they have none of it (and some other)."""
    return metric if best.empty or metric in set(best.metric) else best.metric.iloc[0]


def similarity_heatmap(table: pd.DataFrame, metric: str = "mutual_knn", text_models: Sequence[str] = (),
                       vision_models: Sequence[str] = ()) -> Figure:
    """One similarity metric at its best layer pair for each language model (rows) and vision model (columns),
    with its half-sample interval under it where the table has one; the colour bar marks the shuffled-pairing
    null's mean. ``metric`` falls back to the table's first when it has none of it."""
    best = table[table.selection == "best"]
    metric = _similarity_metric(best, metric)
    rows = best[best.metric == metric]
    grid = _pair_grid(rows, "value", text_models, vision_models)
    intervals = {}
    if {"ci_low", "ci_high"} <= set(rows) and rows[["ci_low", "ci_high"]].notna().any(axis=None):
        intervals = {bound: _pair_grid(rows, f"ci_{bound}", text_models, vision_models) for bound in ("low", "high")}
    return heatmap(grid, "language model", "vision model",
                   f"{SIMILARITY_LABELS.get(metric, metric)} (best layer pair)", rows["null_mean"].mean(),
                   decimals=3, **intervals)


@_styled
def similarity_by_size(table: pd.DataFrame, text_models: Sequence[str] = ()) -> Figure:
    """Each metric at its best layer pair (one panel each) against the language model's parameter count, one line
    per family (mean over vision models; band: the half-sample interval, averaged likewise); dashed: the
    shuffled-pairing null's mean."""
    best = table[(table.selection == "best") & (table.text_parameters > 0)]
    families = family_colours(_model_families(best, "text_model", "text_family", text_models).values())
    metrics = list(dict.fromkeys(best.metric))
    figure, axes, spare = _panels(len(metrics), 3, 2.5, 2.1, sharex=True)
    columns = [c for c in ("value", "ci_low", "ci_high") if c in best]
    for ax, metric in zip(axes, metrics):
        rows = best[best.metric == metric]
        for family, colour in families.items():
            curve = rows[rows.text_family == family].groupby("text_parameters")[columns].mean()
            if curve.empty:
                continue
            if {"ci_low", "ci_high"} <= set(curve):
                ax.fill_between(curve.index, curve.ci_low, curve.ci_high, color=colour, alpha=0.2, linewidth=0)
            ax.plot(curve.index, curve["value"], color=colour, marker="o", markersize=4, label=family)
        ax.axhline(rows["null_mean"].mean(), **CHANCE_STYLE)
        ax.set_title(SIMILARITY_LABELS.get(metric, metric))
        _parameter_axis(ax, best.text_parameters)
    figure.supxlabel("language model parameters")
    figure.supylabel("similarity (best layer pair)")
    _legend(figure, spare, [*(Line2D([], [], color=c, marker="o", label=f) for f, c in families.items()),
                            _chance_handle()], title="language model family")
    return figure


def _layer_order(labels: Iterable) -> list[str]:
    """Layer labels in numeric order ("-1" before "0" before "3"); labels that are no number (the main vector's
    "last") first, in first-seen order."""
    def key(label: str) -> tuple[int, float]:
        try:
            return 1, float(label)
        except ValueError:
            return 0, 0.0

    return sorted(dict.fromkeys(map(str, labels)), key=key)  # sorted is stable: non-numbers keep their order


def _layer_ticks(axis, labels: Sequence[str]) -> None:
    """Every layer label on ``axis`` (an x or y axis), or every n-th so no more than a dozen show."""
    step = -(-len(labels) // 12)
    axis.set_ticks(range(0, len(labels), step), labels[::step])


@_styled
def similarity_layer_heatmaps(table: pd.DataFrame, metric: str = "mutual_knn", text_models: Sequence[str] = (),
                              vision_models: Sequence[str] = ()) -> Figure:
    """Where in each model the alignment lives: for each model pair scored at more than one layer pair (panels in
    config order), ``metric`` at every language-model layer (rows, upwards) x vision-model layer (columns), layers
    in numeric order, on one colour scale over all panels; each panel's best pair outlined, the colour bar marks
    the shuffled-pairing null's mean. ``metric`` falls back to the table's first when it has none of it. With no
    such pair (each store holds its main vector only), one panel that says so."""
    metric = _similarity_metric(table[table.selection == "best"], metric)
    label = SIMILARITY_LABELS.get(metric, metric)
    chosen = table[table.metric == metric].assign(text_layer=lambda t: t.text_layer.astype(str),
                                                  vision_layer=lambda t: t.vision_layer.astype(str))
    pairs = chosen[chosen.selection == "layer_pair"]
    counts = pairs.groupby(["text_model", "vision_model"]).size()
    shown = [(text, vision) for text in ordered(pairs.text_model, text_models)
             for vision in ordered(pairs.vision_model, vision_models) if counts.get((text, vision), 0) > 1]
    if not shown:
        figure = Figure(figsize=(4.2, 1.2), layout="constrained")
        ax = figure.add_subplot()
        ax.set_axis_off()
        ax.text(0.5, 0.5, textwrap.fill(
            f"No model pair has {label} at more than one layer pair: each store holds its main vector only. "
            "Store a model's hidden layers with `layers: all` (or a list of indices) on its hf model entry.", 64),
            ha="center", va="center", transform=ax.transAxes)
        return figure
    chosen = chosen[pd.MultiIndex.from_frame(chosen[["text_model", "vision_model"]]).isin(shown)]
    grids = {}
    for text, vision in shown:
        rows = pairs[(pairs.text_model == text) & (pairs.vision_model == vision)]
        grid = rows.pivot_table(index="text_layer", columns="vision_layer", values="value", dropna=False)
        grids[text, vision] = grid.reindex(index=_layer_order(rows.text_layer), columns=_layer_order(rows.vision_layer))
    values = np.concatenate([grid.to_numpy(dtype=float).ravel() for grid in grids.values()])
    chance = chosen["null_mean"].mean() if "null_mean" in chosen else None
    norm = _colour_scale(values, chance)
    colours = matplotlib.colormaps[HEATMAP_COLOURS]
    best = chosen[chosen.selection == "best"]
    marked, titles = {}, {}
    for (text, vision), grid in grids.items():
        # The pair the scoring chose, else (no best record for it) the grid's highest cell.
        mark = best[(best.text_model == text) & (best.vision_model == vision)
                    & best.text_layer.isin(grid.index) & best.vision_layer.isin(grid.columns)]
        if mark.empty:
            cells = np.nan_to_num(grid.to_numpy(dtype=float), nan=-np.inf)
            row, column = np.unravel_index(np.argmax(cells), cells.shape)
        else:
            row, column = grid.index.get_loc(mark.text_layer.iloc[0]), grid.columns.get_loc(mark.vision_layer.iloc[0])
        marked[text, vision] = row, column
        titles[text, vision] = (f"{text} × {vision}\nbest {_number(grid.iat[row, column], 3)} at layers "
                                f"({grid.index[row]}, {grid.columns[column]})")
    widest = max(grid.shape[1] for grid in grids.values())
    tallest = max(grid.shape[0] for grid in grids.values())
    longest = max(len(line) for title in titles.values() for line in title.split("\n"))
    figure, axes, _ = _panels(len(grids), 3, max(1.1 + min(3.0, 0.16 * widest), 0.6 + 0.07 * longest),
                              1.2 + min(3.0, 0.16 * tallest))
    for ax, (pair, grid) in zip(axes, grids.items()):
        cells = grid.to_numpy(dtype=float)
        image = ax.imshow(cells, cmap=colours, norm=norm, aspect="auto", origin="lower", interpolation="nearest")
        row, column = marked[pair]
        ax.add_patch(Rectangle((column - 0.5, row - 0.5), 1, 1, fill=False, linewidth=1.5,
                               edgecolor=_text_colour(colours(norm(cells[row, column])))))
        ax.set_title(titles[pair], fontsize=8)
        _layer_ticks(ax.xaxis, list(grid.columns))
        _layer_ticks(ax.yaxis, list(grid.index))
        ax.tick_params(length=0)
        ax.spines[:].set_visible(False)
    figure.supxlabel("vision model layer")
    figure.supylabel("language model layer")
    # A bar as tall as the panels and about 0.1 inches wide: ``fraction`` (of the panels' width) leaves room
    # for that width, the aspect sets it.
    width, height = figure.get_size_inches()
    _colour_bar(figure, image, axes, label, chance, fraction=0.25 / width, pad=0.04, aspect=height / 0.15)
    return figure


# --- Text understanding (first study) -------------------------------------------------------------


def _style_positions(blocks: Sequence[Sequence[str]]) -> np.ndarray:
    """Bar centres of a task's group, centred on 0: one unit per model, a half-unit gap between styles."""
    positions, start = [], 0.0
    for block in blocks:
        positions += [start + i for i in range(len(block))]
        start += len(block) + 0.5
    return np.array(positions) - positions[-1] / 2


@_styled
def text_understanding_figure(table: pd.DataFrame, models: Sequence[str] = ()) -> Figure:
    """One panel per kind of score (GLUE probes' average, STS Spearman ρ, association accuracy), its tasks on the
    x axis, one bar per model scored on them: BERT-style models first, then CLIP-style, each in config order.
    Dashed over each task: its chance level (0 for correlations, one in the candidates for association);
    error bars where the table has a std."""
    summary = text_understanding_summary(table).set_index("model")
    styles = ordered(summary["style"], STYLE_ORDER)
    blocks = {style: ordered(summary.index[summary["style"] == style], models) for style in styles}
    colours = model_colours(summary.loc[[m for block in blocks.values() for m in block], "family"].to_dict())
    panels = []
    for label, tasks in TEXT_PANELS:
        tasks = [task for task in tasks if task in summary and summary[task].notna().any()]
        shown = [[m for m in block if summary.loc[m, tasks].notna().any()] for block in blocks.values()]
        if tasks:
            panels.append((label, tasks, [block for block in shown if block]))
    chance = {task: 0.0 for task in CORRELATION_TASKS}
    if "chance" in table:
        chance.update(table[table.experiment == "association"].groupby("task")["chance"].mean().to_dict())
    spread = pd.DataFrame()
    if "std" in table:
        scored = table[table.experiment.isin(["sts", "association"]) & table.metric.isin(["spearman", "accuracy"])]
        spread = scored.pivot_table(index="model", columns="task", values="std")
    spans = [len(tasks) * (len(_style_positions(shown)) + len(shown) / 2 + 1.5) for _, tasks, shown in panels]
    rows = max(len(block) for block in blocks.values()) + 1
    figure = Figure(figsize=(0.7 * len(panels) + 0.075 * sum(spans), 2.4 + _legend_height(rows)),
                    layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False, gridspec_kw={"width_ratios": spans})[0]
    for ax, (label, tasks, shown) in zip(axes, panels):
        positions = _style_positions(shown)
        order = [model for block in shown for model in block]
        group = positions[-1] - positions[0] + 2.5
        ax.use_sticky_edges = False  # a margin under 0, so a chance line at 0 stays clear of the axis
        ax.axhline(0, color="0.6", linewidth=0.6)
        for index, task in enumerate(tasks):
            centre = index * group
            values = summary.loc[order, task].astype(float)
            ax.bar(centre + positions, values, 0.85, color=[colours[m] for m in order], edgecolor=BLACK,
                   linewidth=0.3)
            if task in spread:
                errors = spread[task].reindex(order)
                drawn = errors.notna().to_numpy() & values.notna().to_numpy()
                if drawn.any():
                    ax.errorbar(centre + positions[drawn], values[drawn], yerr=errors[drawn], fmt="none",
                                ecolor=BLACK, elinewidth=0.7)
            if task in chance:
                ax.hlines(chance[task], centre + positions[0] - 0.5, centre + positions[-1] + 0.5, **CHANCE_STYLE)
        ax.set_xticks([index * group for index in range(len(tasks))],
                      [textwrap.fill(TEXT_LABELS.get(t, t), 12) for t in tasks])
        ax.tick_params(axis="x", length=0)
        ax.set_ylabel(label)
    # The legend's columns are the styles, each headed by its name; the chance entry has a column of its own.
    columns = [[Patch(visible=False, label=style),
                *(Patch(facecolor=colours[m], edgecolor=BLACK, linewidth=0.3, label=m) for m in block)]
               for style, block in blocks.items()]
    if any(task in chance for _, tasks, _ in panels for task in tasks):
        columns.append([_chance_handle()])
    handles = [handle for column in columns
               for handle in column + [Patch(visible=False, label="")] * (rows - len(column))]
    legend = figure.legend(handles=handles, loc="outside lower center", ncols=len(columns))
    for text in legend.get_texts():
        if text.get_text() in blocks:
            text.set_fontweight("bold")
    return figure


# --- Text-to-image generation ---------------------------------------------------------------------


@_styled
def image_grid(captions: Sequence[str], images: Mapping[str, Sequence[np.ndarray]]) -> Figure:
    """Held-out captions (rows, the caption at the left) as each text encoder's adapter drew them
    (columns, the encoder on top); ``images``: encoder -> one RGB array per caption, in caption order."""
    size = 1.45
    figure = Figure(figsize=(1.9 + size * len(images), 0.4 + size * len(captions)), layout="constrained")
    axes = figure.subplots(len(captions), len(images), squeeze=False)
    for column, (encoder, pictures) in enumerate(images.items()):
        axes[0, column].set_title(textwrap.fill(encoder, 20), fontsize=8)
        for row, picture in enumerate(pictures):
            ax = axes[row, column]
            ax.imshow(picture)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.spines[:].set_visible(False)
    for row, caption in enumerate(captions):
        axes[row, 0].set_ylabel(textwrap.fill(textwrap.shorten(caption, 110, placeholder=" …"), 26), rotation=0,
                                ha="right", va="center", fontsize=7)
    return figure
