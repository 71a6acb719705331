import pandas as pd
import pytest

from synesthesia.report import concept_heatmap, concept_summary, concept_table, precision_by_size, retrieval_table


def _concept_records():
    rows = []
    for text, params in (("bert-s", 10), ("bert-l", 100)):
        for split, value in ((0, 0.2), (1, 0.4)):
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


def test_figures_are_written(tmp_path):
    table = concept_table(_concept_records())
    concept_heatmap(table, tmp_path / "heat.png", k=10)
    precision_by_size(table, tmp_path / "size.png", k=10)
    assert (tmp_path / "heat.png").stat().st_size > 0 and (tmp_path / "size.png").stat().st_size > 0


def test_retrieval_table_keeps_k_integer_and_median_rank_without_k():
    records = pd.DataFrame([
        {"dataset": "d", "text_model": "t", "vision_model": "v", "control": "none", "metric": "recall", "k": 5,
         "value": 0.5},
        {"dataset": "d", "text_model": "t", "vision_model": "v", "control": "none", "metric": "median_rank",
         "k": None, "value": 3.0},
    ])
    table = retrieval_table(records)
    assert str(table.k.dtype) == "Int64" and table.k.isna().sum() == 1
