import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection
from matplotlib.colors import to_hex, to_rgb
from matplotlib.patches import Patch, Rectangle

from synesthesia import figures
from synesthesia.figures import (
    BLACK,
    CHANCE_LABEL,
    FAMILY_COLOURS,
    PALETTE,
    concept_heatmap,
    factor_figure,
    family_colours,
    image_grid,
    model_colours,
    precision_by_size,
    retrieval_heatmap,
    save_figure,
    similarity_by_size,
    similarity_heatmap,
    similarity_layer_heatmaps,
    text_understanding_figure,
    train_fraction_figure,
)
from synesthesia.report import concept_table, factor_table, retrieval_table, similarity_table, train_fraction_table

# (model, family, parameters); the config lists them in this order, not alphabetically.
TEXT_MODELS = (("gpt2", "gpt2", 124e6), ("bert-s", "bert", 11e6), ("bert-l", "bert", 335e6),
               ("gpt2-xl", "gpt2", 1.5e9))
VISION_MODELS = ("vit-b", "mae-b")


def _pair_records(text_models=TEXT_MODELS, vision_models=VISION_MODELS, extra=None):
    """Two splits per (text model, vision model, control); the real value grows with the text model's size."""
    rows = []
    for t, (text, family, size) in enumerate(text_models):
        for v, vision in enumerate(vision_models):
            for split in (0, 1):
                for control in ("none", "shuffled"):
                    value = 0.1 + 0.1 * t + 0.05 * v + 0.02 * split if control == "none" else 0.01 + 0.01 * split
                    rows.append({"dataset": "d", "text_model": text, "vision_model": vision, "text_family": family,
                                 "vision_family": vision.split("-")[0], "text_parameters": size,
                                 "vision_parameters": 86e6, "control": control, "split": split, "value": value,
                                 **(extra or {})})
    return pd.DataFrame(rows)


def _concepts(**models):
    records = _pair_records(**models, extra={"dictionary": "x", "n_candidates": 40, "retrieval": "csls",
                                             "metric": "precision", "k": 10})
    return concept_table(records)


def _retrieval():
    records = _pair_records(extra={"metric": "recall", "k": 5})
    return retrieval_table(records[["dataset", "text_model", "vision_model", "control", "metric", "k", "value",
                                    "split"]])


def _factors():
    """Polysemy bins 1, 2-3, 4+ (4+ holds no test concept) and frequency bins low, high; a factor "all"."""
    rows = []
    bins = {"polysemy": (("1", 30, 0.5), ("2-3", 10, 0.3), ("4+", 0, None)),
            "frequency": (("low", 20, 0.2), ("high", 20, 0.6)), "all": (("all", 40, 0.4),)}
    for t, (text, family, size) in enumerate(TEXT_MODELS):
        for vision in VISION_MODELS:
            for split in (0, 1):
                for factor, members in bins.items():
                    for label, n_bin, value in members:
                        value = None if value is None else value + 0.05 * t
                        rows.append({"dataset": "d", "text_model": text, "vision_model": vision,
                                     "text_family": family, "text_parameters": size, "retrieval": "csls",
                                     "factor": factor, "bin": label, "k": 10, "value": value, "n_bin": n_bin,
                                     "ci_low": None if value is None else value - 0.05,
                                     "ci_high": None if value is None else value + 0.1,
                                     "null_mean": None if value is None else 0.02, "split": split})
    return factor_table(pd.DataFrame(rows))


def _train_fractions():
    parts = []
    for fraction in (0.001, 0.01, 0.1, 0.7):
        records = _pair_records(extra={"dictionary": "x", "n_candidates": 40, "retrieval": "csls",
                                       "metric": "precision", "k": 10})
        parts.append(records.assign(train_fraction=fraction, value=records.value * (1 + fraction)))
    return train_fraction_table(pd.concat(parts, ignore_index=True))


def _similarity():
    rows = []
    for t, (text, family, size) in enumerate(TEXT_MODELS):
        for v, vision in enumerate(VISION_MODELS):
            for metric, scale in (("mutual_knn", 0.1), ("cka", 0.5)):
                value = scale * (1 + t + v)
                common = {"dataset": "d", "text_model": text, "vision_model": vision, "text_family": family,
                          "vision_family": "vit", "text_parameters": size, "vision_parameters": 86e6,
                          "metric": metric, "text_layer": "12", "vision_layer": "11", "n_concepts": 100}
                rows.append({**common, "selection": "layer_pair", "value": value / 2})
                rows.append({**common, "selection": "best", "value": value, "ci_low": value - 0.02,
                             "ci_high": value + 0.03, "null_mean": 0.01, "null_std": 0.002})
    return similarity_table(pd.DataFrame(rows))


# Layer labels as the records write them, out of order: the main vector's "last" and hidden states.
TEXT_LAYERS, VISION_LAYERS = ("3", "last", "0"), ("10", "9")


def _layer_grid(pair):
    """Model pair ``pair``'s value at every (text layer, vision layer), rows and columns as drawn: text layers
    last, 0, 3 and vision layers 9, 10; the highest cell is text 0 x vision 10 in pair 0, text 3 x vision 9 in 1."""
    if pair == 0:
        return np.array([[0.10, 0.20], [0.30, 0.60], [0.40, 0.50]])
    return np.array([[0.05, 0.15], [0.25, 0.35], [0.70, 0.45]])


def _layer_similarity():
    """gpt2 x vit-b and bert-s x vit-b at 3 x 2 layer pairs (two metrics; cka's values halved); the other
    pairs at their main vectors only."""
    rows, order = [], {"text": ["last", "0", "3"], "vision": ["9", "10"]}
    grids = {("gpt2", "vit-b"): _layer_grid(0), ("bert-s", "vit-b"): _layer_grid(1)}
    for text, family, size in TEXT_MODELS:
        for vision in VISION_MODELS:
            for metric, scale in (("mutual_knn", 1.0), ("cka", 0.5)):
                common = {"dataset": "d", "text_model": text, "vision_model": vision, "text_family": family,
                          "vision_family": vision.split("-")[0], "text_parameters": size, "vision_parameters": 86e6,
                          "metric": metric, "n_concepts": 100}
                if (text, vision) in grids:
                    grid = grids[text, vision] * scale
                    cells = {(t, v): grid[order["text"].index(t), order["vision"].index(v)]
                             for t in TEXT_LAYERS for v in VISION_LAYERS}
                else:
                    cells = {("last", "last"): 0.2 * scale}
                for (t, v), value in cells.items():
                    rows.append({**common, "selection": "layer_pair", "text_layer": t, "vision_layer": v,
                                 "value": value})
                (t, v), value = max(cells.items(), key=lambda cell: cell[1])
                rows.append({**common, "selection": "best", "text_layer": t, "vision_layer": v, "value": value,
                             "null_mean": 0.02 * scale, "null_std": 0.01})
    return similarity_table(pd.DataFrame(rows))


def _text_understanding(std=False):
    """Three BERT-style and two CLIP-style models scored on GLUE CoLA and SST-2, STS-L and STS-V and colour
    association, and one BERT-style model (simcse) on STS only."""
    tasks = (("glue", "cola", "matthews"), ("glue", "sst2", "accuracy"), ("sts", "sts_l", "spearman"),
             ("sts", "sts_v", "spearman"), ("association", "colour_association", "accuracy"))
    scores = {"bert_base": ("bert", (0.20, 0.80, 0.70, 0.30, 0.50)),
              "clip_text": ("clip", (0.10, 0.90, 0.75, 0.60, 0.60)),
              "bert_large": ("bert", (0.40, 0.70, 0.60, 0.20, 0.25)),
              "clip_large": ("clip", (0.30, 0.90, 0.80, 0.70, 0.70)),
              "simcse": ("bert", (None, None, 0.80, 0.10, None))}
    rows = []
    for model, (family, values) in scores.items():
        for (experiment, task, metric), value in zip(tasks, values):
            if value is None:
                continue
            rows.append({"style": "CLIP-style" if family == "clip" else "BERT-style", "family": family,
                         "model": model, "experiment": experiment, "task": task, "metric": metric, "value": value,
                         "chance": 0.25 if experiment == "association" else float("nan"),
                         **({"std": 0.05 if experiment != "glue" else float("nan")} if std else {})})
    return pd.DataFrame(rows)


def _legend_texts(figure):
    legends = [*figure.legends, *(ax.get_legend() for ax in figure.axes if ax.get_legend())]
    return [text.get_text() for legend in legends for text in legend.get_texts()]


def _legend_colours(figure):
    """Legend label -> its handle's colour (hex)."""
    legends = [*figure.legends, *(ax.get_legend() for ax in figure.axes if ax.get_legend())]
    return {text.get_text(): to_hex(handle.get_facecolor() if isinstance(handle, Patch) else handle.get_color())
            for legend in legends for handle, text in zip(legend.legend_handles, legend.get_texts())}


def _bars(ax):
    return [patch for container in ax.containers if hasattr(container, "patches") for patch in container.patches]


def _error_bars(ax):
    return [c for c in ax.containers if type(c).__name__ == "ErrorbarContainer"]


def _dashed_collections(ax):
    """The dashed line collections (``hlines``) of ``ax``: its chance marks."""
    return [c for c in ax.collections if isinstance(c, LineCollection) and c.get_linestyle()[0][1] is not None]


def _dashed_lines(ax):
    return [line for line in ax.get_lines() if line.get_linestyle() == "--"]


def _heatmap_axes(figure):
    """The heatmap's axes and its colour bar's."""
    image_axes = [ax for ax in figure.axes if ax.images and ax.get_xlabel() != ""]
    bar_axes = [ax for ax in figure.axes if ax not in image_axes]
    return image_axes[0], bar_axes[0]


def _cell_texts(ax):
    return {(round(t.get_position()[1]), round(t.get_position()[0])): t for t in ax.texts}


# --- Colours and order -------------------------------------------------------------------------


def test_known_families_keep_their_colour_and_new_ones_take_free_colours_in_order():
    colours = family_colours(["zeta", "bert", "alpha", "clip"])
    assert list(colours) == ["zeta", "bert", "alpha", "clip"]
    assert colours["bert"] == FAMILY_COLOURS["bert"] and colours["clip"] == FAMILY_COLOURS["clip"]
    free = [c for c in PALETTE if c not in (colours["bert"], colours["clip"])]
    assert (colours["zeta"], colours["alpha"]) == (free[0], free[1])
    assert family_colours(["zeta", "bert", "alpha", "clip"]) == colours  # deterministic
    assert BLACK not in colours.values()  # black is the chance line's


def test_model_colours_are_shades_of_the_family_colour_lightest_first():
    colours = model_colours({"bert-s": "bert", "gpt2": "gpt2", "bert-l": "bert", "bert-xl": "bert"})
    assert list(colours) == ["bert-s", "gpt2", "bert-l", "bert-xl"]
    assert colours["gpt2"] == pytest.approx(to_rgb(FAMILY_COLOURS["gpt2"]))  # alone in its family: the colour itself
    brightness = [sum(colours[m]) for m in ("bert-s", "bert-l", "bert-xl")]
    assert brightness[0] > brightness[1] > brightness[2]
    blue = np.array(to_rgb(FAMILY_COLOURS["bert"]))
    assert colours["bert-s"] == pytest.approx(tuple(blue + 0.5 * (1 - blue)))  # half-way to white
    assert colours["bert-xl"] == pytest.approx(tuple(0.7 * blue))  # 30% towards black


# --- Heatmaps -----------------------------------------------------------------------------------


def test_concept_heatmap_axes_colour_bar_order_chance_and_text_contrast():
    table = _concepts()
    figure = concept_heatmap(table, k=10, text_models=["bert-s", "gpt2", "bert-l", "gpt2-xl"],
                             vision_models=["mae-b", "vit-b"])
    ax, bar = _heatmap_axes(figure)
    assert (ax.get_ylabel(), ax.get_xlabel()) == ("language model", "vision model")
    assert bar.get_ylabel() == "P@10 (CSLS)"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["bert-s", "gpt2", "bert-l", "gpt2-xl"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["mae-b", "vit-b"]
    cells = _cell_texts(ax)
    # bert-s x mae-b: mean over splits of 0.1 + 0.1*1 + 0.05*1 + (0, 0.02)
    assert cells[(0, 0)].get_text() == "0.26"
    # the lowest value sits on viridis' dark end (white text), the highest on its yellow end (black text)
    assert cells[(1, 1)].get_color() == "white"
    assert cells[(3, 0)].get_color() == BLACK
    # chance: the shuffled control's mean (0.015), a dashed line with a label on the colour bar
    dashed = [line for line in bar.get_lines() if line.get_linestyle() == "--"]
    assert len(dashed) == 1 and dashed[0].get_ydata()[0] == pytest.approx(0.015)
    assert [t.get_text() for t in bar.texts] == ["chance"]


def test_retrieval_heatmap_labels_recall_and_text_models():
    figure = retrieval_heatmap(_retrieval(), k=5, text_models=["gpt2-xl"])
    ax, bar = _heatmap_axes(figure)
    assert (ax.get_ylabel(), ax.get_xlabel(), bar.get_ylabel()) == ("text model", "vision model",
                                                                    "image→caption recall@5")
    # the tidy table is sorted by name: models missing from the order follow in that order
    assert [t.get_text() for t in ax.get_yticklabels()] == ["gpt2-xl", "bert-l", "bert-s", "gpt2"]


def test_similarity_heatmap_names_the_metric_and_prints_intervals():
    figure = similarity_heatmap(_similarity(), metric="cka", text_models=["bert-s"])
    ax, bar = _heatmap_axes(figure)
    assert bar.get_ylabel() == "CKA (best layer pair)"
    assert ax.get_ylabel() == "language model"
    # bert-s (second in the table, first in the order) x vit-b: 0.5 * 2 = 1.0, interval [0.98, 1.03]
    assert _cell_texts(ax)[(0, 0)].get_text() == "1.000\n[0.980, 1.030]"


def _layer_panels(figure):
    return [ax for ax in figure.axes if ax.images and ax.get_title()]


def _outlined_cell(ax):
    """(row, column) of the panel's outlined cell."""
    (outline,) = [patch for patch in ax.patches if isinstance(patch, Rectangle)]
    x, y = outline.get_xy()
    assert (outline.get_width(), outline.get_height()) == (1, 1) and not outline.get_fill()
    return round(y + 0.5), round(x + 0.5)


def test_similarity_layer_heatmaps_draw_each_multi_layer_pair_in_layer_order_with_the_best_cell_outlined():
    figure = similarity_layer_heatmaps(_layer_similarity(), text_models=["bert-s", "gpt2"],
                                       vision_models=["mae-b", "vit-b"])
    panels = _layer_panels(figure)
    # single-layer pairs are left out; the two others in config order (bert-s before gpt2)
    assert [ax.get_title().split("\n")[0] for ax in panels] == ["bert-s × vit-b", "gpt2 × vit-b"]
    for ax, pair in zip(panels, (1, 0)):
        (image,) = ax.images
        np.testing.assert_allclose(np.asarray(image.get_array()), _layer_grid(pair))
        # layers in numeric order, the non-numeric main vector first; "9" before "10"
        assert [t.get_text() for t in ax.get_yticklabels()] == ["last", "0", "3"]
        assert [t.get_text() for t in ax.get_xticklabels()] == ["9", "10"]
        assert _outlined_cell(ax) == np.unravel_index(np.argmax(_layer_grid(pair)), (3, 2))
    assert panels[0].get_title() == "bert-s × vit-b\nbest 0.700 at layers (3, 9)"
    assert panels[1].get_title() == "gpt2 × vit-b\nbest 0.600 at layers (0, 10)"
    # one colour scale over both panels: from the null's mean 0.02 to the highest cell, 0.70
    norms = {(image.norm.vmin, image.norm.vmax) for ax in panels for image in ax.images}
    assert len(norms) == 1 and np.allclose(norms.pop(), (0.02, 0.70))
    (bar,) = [ax for ax in figure.axes if ax not in panels]
    assert bar.get_ylabel() == "mutual k-NN"
    assert _dashed_lines(bar)[0].get_ydata()[0] == pytest.approx(0.02)
    assert figure.get_supxlabel() == "vision model layer" and figure.get_supylabel() == "language model layer"


def test_similarity_layer_heatmaps_other_metric_and_fallback_to_the_first():
    cka = _layer_panels(similarity_layer_heatmaps(_layer_similarity(), metric="cka"))
    np.testing.assert_allclose(np.asarray(cka[0].images[0].get_array()), 0.5 * _layer_grid(0))
    figure = similarity_layer_heatmaps(_layer_similarity(), metric="svcca")
    panels = _layer_panels(figure)
    # no svcca: the table's first metric, mutual k-NN, in the table's order (gpt2 first)
    assert [ax.get_title().split("\n")[0] for ax in panels] == ["gpt2 × vit-b", "bert-s × vit-b"]
    np.testing.assert_allclose(np.asarray(panels[0].images[0].get_array()), _layer_grid(0))


def test_similarity_layer_heatmaps_outline_the_highest_cell_without_best_records():
    table = _layer_similarity()
    panels = _layer_panels(similarity_layer_heatmaps(table[table.selection == "layer_pair"]))
    assert [_outlined_cell(ax) for ax in panels] == [(1, 1), (2, 0)]


def test_similarity_layer_heatmaps_say_how_to_get_layers_when_every_pair_has_one():
    table = _layer_similarity()
    single = table[~table.text_model.isin(["gpt2", "bert-s"])]
    figure = similarity_layer_heatmaps(single)
    (ax,) = figure.axes
    assert not ax.axison and not ax.images
    (message,) = ax.texts
    text = message.get_text().replace("\n", " ")
    assert "No model pair has mutual k-NN at more than one layer pair" in text and "`layers: all`" in text


# --- Size curves ----------------------------------------------------------------------------------


def test_precision_by_size_panels_legend_error_bars_and_parameter_ticks():
    figure = precision_by_size(_concepts(), k=10, text_models=["bert-s", "bert-l", "gpt2", "gpt2-xl"],
                               vision_models=["mae-b", "vit-b"])
    panels = [ax for ax in figure.axes if ax.axison]
    assert [ax.get_title() for ax in panels] == ["mae-b", "vit-b"]
    assert figure.get_supxlabel() == "language model parameters" and figure.get_supylabel() == "P@10 (CSLS)"
    # families in config order (bert first, as bert-s leads the order), then chance
    assert _legend_texts(figure) == ["bert", "gpt2", CHANCE_LABEL]
    colours = _legend_colours(figure)
    assert colours["bert"] == to_hex(FAMILY_COLOURS["bert"]) and colours["gpt2"] == to_hex(FAMILY_COLOURS["gpt2"])
    assert len(_error_bars(panels[0])) == 2  # one per family
    chance = [line for line in panels[0].get_lines() if line.get_linestyle() == "--"]
    assert len(chance) == 1 and chance[0].get_ydata()[0] == pytest.approx(0.015)
    assert panels[0].get_xscale() == "log"
    labels = [t.get_text() for t in panels[0].get_xticklabels() if t.get_text()]
    assert "100M" in labels and "1B" in labels and all(label[-1] in "kMB" for label in labels)


def test_same_family_same_colour_in_every_figure():
    size = _legend_colours(precision_by_size(_concepts(), k=10))
    similarity = _legend_colours(similarity_by_size(_similarity()))
    assert size["bert"] == similarity["bert"] == to_hex(FAMILY_COLOURS["bert"])
    assert size["gpt2"] == similarity["gpt2"]
    bars = _legend_colours(factor_figure(_factors(), k=10))
    # a single-model family's bar is the family colour itself
    lone = _legend_colours(factor_figure(_factors()[lambda t: t.text_model.isin(["gpt2", "bert-s"])], k=10))
    assert lone["gpt2"] == to_hex(FAMILY_COLOURS["gpt2"]) and lone["bert-s"] == to_hex(FAMILY_COLOURS["bert"])
    assert bars["gpt2"] != bars["gpt2-xl"]  # two gpt2 models: two shades


def test_similarity_by_size_one_panel_per_metric_with_interval_bands_and_null():
    figure = similarity_by_size(_similarity(), text_models=["gpt2-xl", "bert-s"])
    panels = [ax for ax in figure.axes if ax.axison]
    assert [ax.get_title() for ax in panels] == ["mutual k-NN", "CKA"]
    assert figure.get_supylabel() == "similarity (best layer pair)"
    assert _legend_texts(figure) == ["gpt2", "bert", CHANCE_LABEL]
    assert len(panels[0].collections) == 2  # one interval band per family
    # bert at 11M: value 0.1 * (1 + 1 + v) averaged over v = 0, 1 -> 0.25; its band 0.23 .. 0.28
    bert = next(line for line in panels[0].get_lines() if to_hex(line.get_color()) == to_hex(FAMILY_COLOURS["bert"]))
    assert bert.get_xdata()[0] == 11e6 and bert.get_ydata()[0] == pytest.approx(0.25)
    null = [line for line in panels[1].get_lines() if line.get_linestyle() == "--"]
    assert null[0].get_ydata()[0] == pytest.approx(0.01)


# --- What makes concepts align ----------------------------------------------------------------------


def test_factor_figure_drops_empty_bins_draws_intervals_and_chance():
    order = ["bert-s", "bert-l", "gpt2", "gpt2-xl"]
    figure = factor_figure(_factors(), k=10, text_models=order)
    panels = [ax for ax in figure.axes if ax.axison]
    assert [ax.get_xlabel() for ax in panels] == ["polysemy", "frequency"]
    assert figure.get_supylabel() == "P@10 (CSLS)"
    polysemy = panels[0]
    # the 4+ bin holds no concept: no bar, no tick
    assert [t.get_text() for t in polysemy.get_xticklabels()] == ["1\n(n=30)", "2-3\n(n=10)"]
    assert len(_bars(polysemy)) == 2 * len(order)
    assert len(_error_bars(polysemy)) == len(order)
    error = _error_bars(polysemy)[0]  # bert-s, bin "1": 0.5 + 0.05 = 0.55, interval 0.50 .. 0.65
    segment = error.lines[2][0].get_segments()[0]
    assert segment[0][1] == pytest.approx(0.50) and segment[1][1] == pytest.approx(0.65)
    chance = _dashed_collections(polysemy)
    assert len(chance) == 1 and len(chance[0].get_segments()) == 2
    assert _legend_texts(figure) == [*order, CHANCE_LABEL]
    # bars in config order within a bin: bert-s's bar left of gpt2's
    first_bin = sorted(_bars(polysemy)[::2], key=lambda p: p.get_x())
    assert first_bin[0].get_height() == pytest.approx(0.55)


def test_factor_figure_leaves_out_bins_of_unknown_size():
    table = _factors()
    table.loc[table["bin"] == "low", "n_bin"] = float("nan")
    frequency = [ax for ax in factor_figure(table, k=10).axes if ax.get_xlabel() == "frequency"][0]
    assert [t.get_text() for t in frequency.get_xticklabels()] == ["high\n(n=20)"]
    assert len(_bars(frequency)) == len(TEXT_MODELS)


def test_train_fraction_figure_percent_ticks_log_axis_bands_and_chance():
    figure = train_fraction_figure(_train_fractions(), k=10, text_models=["bert-l", "bert-s"])
    ax = figure.axes[0]
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.1%", "1%", "10%", "70%"]
    assert ax.get_xlabel() == "training share of concepts" and ax.get_ylabel() == "P@10 (CSLS)"
    assert _legend_texts(figure) == ["bert-l", "bert-s", "gpt2", "gpt2-xl", CHANCE_LABEL]
    assert len(ax.collections) == 4  # one std band per model
    chance = next(line for line in ax.get_lines() if line.get_label() == CHANCE_LABEL)
    assert chance.get_linestyle() == "--" and chance.get_color() == BLACK
    assert chance.get_ydata()[-1] == pytest.approx(0.015 * 1.7)


# --- Text understanding ---------------------------------------------------------------------------


def test_text_understanding_one_panel_per_metric_kind_styles_grouped_and_chance():
    figure = text_understanding_figure(_text_understanding(),
                                       models=["clip_large", "bert_large", "clip_text", "simcse", "bert_base"])
    panels = figure.axes
    assert [ax.get_ylabel() for ax in panels] == ["GLUE average score", "STS Spearman ρ", "association accuracy"]
    assert [[t.get_text() for t in ax.get_xticklabels()] for ax in panels] == [
        ["GLUE avg"], ["STS-L", "STS-V"], ["colour\nassoc."]]  # wrapped: two labels share a narrow panel
    # legend columns: BERT-style first, then CLIP-style, each in config order; then chance
    texts = [t for t in _legend_texts(figure) if t]
    assert texts == ["BERT-style", "bert_large", "simcse", "bert_base", "CLIP-style", "clip_large", "clip_text",
                     CHANCE_LABEL]
    # bars left to right follow the legend, simcse (STS only) left out of GLUE and association;
    # GLUE average of bert_large: (0.40 + 0.70) / 2
    glue = sorted(_bars(panels[0]), key=lambda p: p.get_x())
    assert [bar.get_height() for bar in glue] == pytest.approx([0.55, 0.5, 0.6, 0.5])
    assert len(_bars(panels[1])) == 2 * 5 and len(_bars(panels[2])) == 4
    # a gap between the styles: BERT-style bars one unit apart, then a wider step
    assert np.diff([p.get_x() for p in glue]) == pytest.approx([1, 1.5, 1])
    # the family's colour, shaded per model: bert blues, clip vermillions
    colours = _legend_colours(figure)
    assert colours["bert_large"] != colours["bert_base"]
    assert to_hex(glue[0].get_facecolor()) == colours["bert_large"] and to_hex(glue[2].get_facecolor()) == \
        colours["clip_large"]
    # chance: none for GLUE's average, 0 for each STS task, the association's one in four
    assert not _dashed_collections(panels[0])
    assert [c.get_segments()[0][0][1] for c in _dashed_collections(panels[1])] == [0.0, 0.0]
    assert _dashed_collections(panels[2])[0].get_segments()[0][0][1] == pytest.approx(0.25)
    assert not _error_bars(panels[1])


def test_text_understanding_error_bars_where_the_table_has_a_std():
    figure = text_understanding_figure(_text_understanding(std=True))
    glue, sts, association = figure.axes
    assert not _error_bars(glue) and len(_error_bars(sts)) == 2 and len(_error_bars(association)) == 1


# --- Generated images, saving, imports -------------------------------------------------------------------


def test_image_grid_titles_encoders_and_labels_captions_without_ticks():
    pictures = [np.zeros((8, 8, 3), dtype=np.uint8), np.full((8, 8, 3), 255, dtype=np.uint8)]
    figure = image_grid(["a dog on a sofa", "two cats"], {"tiny-bert": pictures, "clip-vit-b32-text": pictures})
    axes = np.array(figure.axes).reshape(2, 2)
    assert [ax.get_title() for ax in axes[0]] == ["tiny-bert", "clip-vit-b32-text"]
    assert [ax.get_ylabel() for ax in axes[:, 0]] == ["a dog on a sofa", "two cats"]
    assert all(not ax.get_xticks().size and not ax.get_yticks().size for ax in axes.flat)


def test_save_figure_writes_png_and_vector_pdf(tmp_path):
    figure = concept_heatmap(_concepts(), k=10)
    png, pdf = tmp_path / "deep" / "heat.png", tmp_path / "other" / "heat.pdf"
    save_figure(figure, png, pdf)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and pdf.read_bytes()[:4] == b"%PDF"
    from PIL import Image

    with Image.open(png) as image:
        width, height = image.size
        assert round(image.info["dpi"][0]) == figures.PNG_DPI
    # at 200 dpi the saved size is the figure's inches times 200, less the trimmed margins
    inches = figure.get_size_inches()
    assert 0.6 * inches[0] * 200 < width <= inches[0] * 200 + 20 and height <= inches[1] * 200 + 20


def test_report_imports_without_matplotlib():
    code = "import synesthesia.report, sys; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
