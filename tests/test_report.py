import pandas as pd
import pytest

from synesthesia.paper_tables import (
    cell,
    concept_paper_table,
    retrieval_paper_table,
    text_understanding_paper_table,
    to_csv,
    to_latex,
    to_markdown,
)
from synesthesia.report import (
    concept_summary,
    concept_table,
    retrieval_table,
    text_understanding_summary,
)


def _concept_records():
    rows = []
    for text, params in (("bert-s", 10), ("bert-l", 100)):
        for value in (0.2, 0.4):
            for control in ("none", "shuffled"):
                for k in (1, 10, 100):
                    rows.append({"dataset": "d", "dictionary": "x", "text_model": text, "vision_model": "vit",
                                 "text_family": "bert", "vision_family": "vit", "text_parameters": params,
                                 "vision_parameters": 5, "n_candidates": 40, "control": control, "retrieval": "csls",
                                 "metric": "precision", "k": k,
                                 "value": value * (params / 10 if control == "none" else 0.1)})
    return pd.DataFrame(rows)


def test_concept_table_averages_over_splits_with_std():
    table = concept_table(_concept_records())
    row = table[(table.text_model == "bert-s") & (table.control == "none") & (table.k == 1)].iloc[0]
    assert row["mean"] == pytest.approx(0.3) and row["std"] == pytest.approx(2**0.5 / 10)
    assert row["splits"] == 2


def test_concept_summary_is_text_models_by_vision_retrieval_and_k():
    summary = concept_summary(concept_table(_concept_records()))
    assert list(summary.columns) == ["text_model", "vit CSLS P@1", "vit CSLS P@10", "vit CSLS P@100"]
    assert summary.set_index("text_model").loc["bert-l", "vit CSLS P@10"] == 3.0


def test_retrieval_table_keeps_k_integer_and_median_rank_without_k():
    records = pd.DataFrame([
        {"dataset": "d", "text_model": "t", "vision_model": "v", "control": "none", "metric": "recall", "k": 5,
         "value": 0.5},
        {"dataset": "d", "text_model": "t", "vision_model": "v", "control": "none", "metric": "median_rank",
         "k": None, "value": 3.0},
    ])
    table = retrieval_table(records)
    assert str(table.k.dtype) == "Int64" and table.k.isna().sum() == 1


# --- Paper-style tables -----------------------------------------------------------------------

def _pair_records():
    """Two splits per pair; std is pandas' sample std (ddof=1), as the tidy table's."""
    values = {("bert_base", "vit_b"): (0.80, 0.90), ("bert_base", "mae"): (0.10, 0.30),
              ("clip_text", "vit_b"): (0.60, 0.60), ("clip_text", "mae"): (0.50, 0.70)}
    rows = []
    for (text, vision), pair in values.items():
        for value in pair:
            for control, scale in (("none", 1.0), ("shuffled", 0.1)):
                for k in (1, 10):
                    rows.append({"dataset": "d", "dictionary": "x", "text_model": text, "vision_model": vision,
                                 "text_family": "bert", "vision_family": "vit", "text_parameters": 1,
                                 "vision_parameters": 1, "n_candidates": 40, "control": control,
                                 "retrieval": "csls", "metric": "precision", "k": k,
                                 "value": value * scale / (1 if k == 10 else 2)})
    return pd.DataFrame(rows)


def test_cell_is_mean_plus_minus_std_times_100_to_one_decimal():
    assert cell(0.85, 0.0707107) == "85.0 ± 7.1"
    assert cell(0.123) == "12.3" and cell(float("nan")) == "–"


def test_concept_paper_table_values_best_and_chance(tmp_path):
    paper = concept_paper_table(concept_table(_pair_records()), k=10, vision_models=["vit_b", "mae"])
    frame = to_csv(paper, tmp_path / "c.csv")
    assert list(frame.columns) == ["language model (P@10, CSLS)", "vit_b", "mae"]
    rows = frame.set_index("language model (P@10, CSLS)")
    # 0.80, 0.90 -> 85.0 ± 7.1 (best in its column); 0.10, 0.30 -> 20.0 ± 14.1; 0.5, 0.7 -> 60.0 ± 14.1 (best)
    assert rows.loc["bert_base", "vit_b"] == "85.0 ± 7.1*" and rows.loc["clip_text", "vit_b"] == "60.0 ± 0.0"
    assert rows.loc["bert_base", "mae"] == "20.0 ± 14.1" and rows.loc["clip_text", "mae"] == "60.0 ± 14.1*"
    # chance: the shuffled control's mean over language models, (0.02 + 0.06) / 2, std averaged likewise
    assert rows.loc["chance (shuffled)", "mae"] == "4.0 ± 1.4"
    assert pd.read_csv(tmp_path / "c.csv").shape == (3, 3)

    markdown = to_markdown(paper)
    lines = markdown.splitlines()
    assert lines[1] == "|:---|---:|---:|"
    assert "| bert_base | **85.0 ± 7.1** | 20.0 ± 14.1 |" in lines and lines[-1].startswith("| *chance (shuffled)*")

    latex = to_latex(paper)
    for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert rule in latex
    assert r"bert\_base & \textbf{85.0 $\pm$ 7.1} & 20.0 $\pm$ 14.1 \\" in latex and "bert_base" not in latex


def test_retrieval_paper_table_is_text_by_vision_at_k():
    records = pd.DataFrame([
        {"dataset": "d", "text_model": t, "vision_model": "v", "control": c, "metric": "recall", "k": 5,
         "value": value, "split": s}
        for t, values in (("a", (0.2, 0.4)), ("b", (0.5, 0.5))) for s, value in enumerate(values)
        for c in ("none", "shuffled")
    ])
    paper = retrieval_paper_table(retrieval_table(records), k=5, text_models=["b", "a"])
    assert list(paper.means.index) == ["b", "a"]  # config order, not alphabetical
    assert "| a | 30.0 ± 14.1 |" in to_markdown(paper) and "| b | **50.0 ± 0.0** |" in to_markdown(paper)


def _text_understanding():
    rows = []
    scores = {"bert_base": ("bert", {"cola": 0.20, "sst2": 0.80, "sts_l": 0.70, "colour_association": 0.50}),
              "clip_text": ("clip", {"cola": 0.10, "sst2": 0.90, "sts_l": 0.75, "colour_association": 0.60}),
              "bert_large": ("bert", {"cola": 0.40, "sst2": 0.70, "sts_l": 0.60, "colour_association": 0.25})}
    experiments = {"cola": ("glue", "matthews"), "sst2": ("glue", "accuracy"), "sts_l": ("sts", "spearman"),
                   "colour_association": ("association", "accuracy")}
    for model, (family, tasks) in scores.items():
        for task, value in tasks.items():
            experiment, metric = experiments[task]
            rows.append({"style": "CLIP-style" if family == "clip" else "BERT-style", "family": family,
                         "model": model, "experiment": experiment, "task": task, "metric": metric,
                         "value": value, "chance": 0.25 if experiment == "association" else float("nan")})
    return pd.DataFrame(rows)


def test_text_understanding_paper_tables_group_styles_average_glue_only_and_mark_best(tmp_path):
    table = _text_understanding()
    summary = text_understanding_summary(table)
    general = text_understanding_paper_table(table, summary, models=["bert_large", "clip_text", "bert_base"])
    assert list(general.means.index) == ["bert_large", "bert_base", "clip_text"]  # BERT-style first, config order
    assert list(general.means.columns) == ["CoLA", "SST-2", "GLUE avg"]
    # GLUE average: mean of cola and sst2 only (bert_base: (20 + 80) / 2), not STS or association
    assert general.means.at["bert_base", "GLUE avg"] == pytest.approx(0.5)
    markdown = to_markdown(general)
    assert markdown.splitlines()[:5] == [
        "| model | CoLA | SST-2 | GLUE avg |",
        "|:---|---:|---:|---:|",
        "| *BERT-style* |  |  |  |",
        "| bert_large | **40.0** | 70.0 | **55.0** |",
        "| bert_base | 20.0 | 80.0 | 50.0 |",
    ]
    # chance: 0 for Matthews, none for accuracy tasks (so none for the average)
    assert markdown.splitlines()[-1] == "| *chance* | 0.0 | – | – |"
    assert "| clip_text | 10.0 | **90.0** | 50.0 |" in markdown
    frame = to_csv(general, tmp_path / "t.csv")
    assert list(frame.group) == ["BERT-style", "BERT-style", "CLIP-style", ""]
    assert frame.loc[frame.model == "clip_text", "SST-2"].item() == "90.0*"
    latex = to_latex(general)
    assert r"\multicolumn{4}{l}{\textit{CLIP-style}} \\" in latex and r"bert\_large" in latex

    vision_centric = text_understanding_paper_table(table, summary, models=["bert_large", "clip_text", "bert_base"],
                                                    part="vision_centric")
    markdown = to_markdown(vision_centric)
    assert markdown.splitlines()[0] == "| model | STS-L | colour assoc. |"
    # chance: 0 for a correlation, 1/candidates for association
    assert markdown.splitlines()[-1] == "| *chance* | 0.0 | 25.0 |"
    assert "| clip_text | **75.0** | **60.0** |" in markdown
    with pytest.raises(ValueError, match="part must be one of"):
        text_understanding_paper_table(table, summary, part="glue")
