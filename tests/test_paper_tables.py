"""Paper-style tables of the stages added to the report, and their sortable HTML page."""

import re

import pandas as pd
import pytest

from synesthesia.paper_tables import (
    PaperTable,
    best_rows,
    factor_paper_table,
    similarity_paper_table,
    t2i_paper_table,
    to_html,
    to_markdown,
    train_fraction_paper_table,
)


def test_lowest_is_best_where_lower_is_better():
    means = pd.DataFrame({"FID": [12.0, 9.5, 9.54], "IS": [3.0, 2.0, 1.0]}, index=["a", "b", "c"])
    best = best_rows(means, scale=1.0, lower_is_better=("FID",))
    # 9.5 and 9.54 print as 9.5: both best; IS: the highest
    assert list(best["FID"]) == [False, True, True] and list(best["IS"]) == [True, False, False]


def test_html_page_groups_rows_marks_best_keeps_chance_last_and_sorts_by_unrounded_value():
    table = PaperTable(pd.DataFrame({"x": [0.5, 0.25, 0.125]}, index=["b1", "b2", "c1"]),
                       pd.DataFrame({"x": [0.1, float("nan"), 0.0]}, index=["b1", "b2", "c1"]),
                       groups=pd.Series({"b1": "BERT-style", "b2": "BERT-style", "c1": "CLIP-style"}),
                       chance=pd.Series({"x": 0.0}), corner="model <1>")
    page = to_html(table)
    bodies = re.findall(r"<tbody>(.*?)</tbody>", page, flags=re.S)
    assert len(bodies) == 2 and "BERT-style" in bodies[0] and "c1" in bodies[1]
    assert '<td data-value="0.5"><strong>50.0 ± 10.0</strong></td>' in bodies[0]
    assert '<td data-value="0.25">25.0</td>' in bodies[0]  # no ± without a std
    assert re.search(r"<tfoot><tr><th scope=\"row\">chance</th><td>0\.0</td></tr></tfoot>", page)
    assert "model &lt;1&gt;" in page  # escaped
    assert 'data-column="1"' in page and "addEventListener" in page


def test_t2i_paper_table_keeps_units_and_marks_the_lowest_fid():
    records = pd.DataFrame([
        {"model": m, "metric": metric, "value": v, "std": s, "n_images": 4}
        for m, fid, score in (("clip", 20.0, 30.0), ("bert", 25.0, 28.0))
        for metric, v, s in (("fid", fid, float("nan")), ("clip_score", score, 1.5))])
    paper = t2i_paper_table(records, encoders=["bert", "clip"])
    markdown = to_markdown(paper)
    assert markdown.splitlines()[0] == "| text encoder | FID ↓ | CLIP score ↑ |"
    assert "| bert | 25.0 | 28.0 ± 1.5 |" in markdown and "| clip | **20.0** | **30.0 ± 1.5** |" in markdown


def _factor_table():
    rows = []
    for text in ("gpt2", "bert"):
        for vision, shift in (("vit", 0.0), ("mae", 0.2)):
            for bin_, n, value in (("low", 4, 0.4), ("high", 0, float("nan")), ("1", 6, 0.6)):
                factor = "polysemy" if bin_ == "1" else "vision_dispersion"
                rows.append({"text_model": text, "vision_model": vision, "retrieval": "csls", "factor": factor,
                             "bin": bin_, "k": 10, "mean": value + shift, "std": 0.1, "n_bin": n,
                             "chance": 0.1 + shift})
            rows.append({"text_model": text, "vision_model": vision, "retrieval": "csls", "factor": "all",
                         "bin": "all", "k": 10, "mean": 0.9, "std": 0.1, "n_bin": 10, "chance": 0.1})
    return pd.DataFrame(rows)


def test_factor_paper_table_averages_vision_models_drops_empty_bins_and_names_sizes():
    paper = factor_paper_table(_factor_table(), k=10, text_models=["bert", "gpt2"])
    assert list(paper.means.columns) == ["vision dispersion: low (n=4)", "polysemy: 1 (n=6)"]  # "high" had none
    assert list(paper.means.index) == ["bert", "gpt2"]
    assert paper.means.at["bert", "polysemy: 1 (n=6)"] == pytest.approx(0.7)  # (0.6 + 0.8) / 2
    assert paper.chance["vision dispersion: low (n=4)"] == pytest.approx(0.2)


def test_train_fraction_paper_table_columns_are_percent_shares_with_the_shuffled_chance():
    rows = [{"text_model": t, "vision_model": "vit", "control": c, "retrieval": "csls", "metric": "precision",
             "k": 10, "train_fraction": f, "mean": (0.05 if c == "shuffled" else v * f), "std": 0.01}
            for t, v in (("a", 1.0), ("b", 0.5)) for f in (0.7, 0.001) for c in ("none", "shuffled")]
    paper = train_fraction_paper_table(pd.DataFrame(rows), k=10)
    assert list(paper.means.columns) == ["0.1%", "70%"]  # ascending share
    assert paper.means.at["b", "70%"] == pytest.approx(0.35)
    assert to_markdown(paper).splitlines()[-1] == "| *chance (shuffled)* | 5.0 ± 1.0 | 5.0 ± 1.0 |"


def test_similarity_paper_table_uses_best_layer_pairs_readable_names_and_the_null():
    rows = [{"text_model": "a", "vision_model": v, "selection": s, "metric": "mutual_knn",
             "value": value, "null_mean": 0.1, "null_std": 0.02}
            for v, s, value in (("vit", "best", 0.4), ("mae", "best", 0.2), ("vit", "layer_pair", 0.9))]
    paper = similarity_paper_table(pd.DataFrame(rows))
    assert to_markdown(paper).splitlines()[0] == "| language model (best layer pair) | mutual k-NN |"
    assert paper.means.at["a", "mutual k-NN"] == pytest.approx(0.3)  # the layer_pair row is not a best one
    assert to_markdown(paper).splitlines()[-1] == "| *chance (shuffled)* | 10.0 ± 2.0 |"
