"""The demo DAG end to end in a temporary workdir, then incremental re-planning."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pandas as pd
import pytest
from conftest import DEMO, run_snakemake

from synesthesia.store import read_embeddings

pytestmark = pytest.mark.slow

# Per (language model, vision model) pair, and per concept dataset: every rule of the concepts grid.
CONCEPT_PAIR_RULES = ("concept_alignment", "concept_factors", "concept_train_fractions", "concept_similarity")
CONCEPT_TABLE_RULES = ("concepts_table", "concept_factors_table", "concept_train_fractions_table",
                       "concept_similarity_table")


def planned_jobs(config: dict, workdir: Path) -> set[tuple[str, str]]:
    """(rule, wildcards) of every job a dry run would execute."""
    output = run_snakemake(workdir, config, "-n").stdout
    jobs, rule = set(), None
    for line in output.splitlines():
        match = re.match(r"^(?:local)?rule (\w+):$", line)
        if match:
            rule = match.group(1)
            jobs.add((rule, ""))
            continue
        match = re.match(r"^\s+wildcards: (.*)$", line)
        if match and rule:
            jobs.discard((rule, ""))
            jobs.add((rule, match.group(1)))
            rule = None
    return jobs


def test_demo_produces_embeddings_scores_table_and_figure(demo_run):
    retrieval = DEMO["experiments"]["retrieval"]
    table = pd.read_csv(demo_run / "results/tables/retrieval_shapes.csv")
    pairs = set(zip(table.text_model, table.vision_model))
    assert pairs == {(t, v) for t in retrieval["text_models"] for v in retrieval["vision_models"]}
    recall = table[(table.metric == "recall") & (table.k == 10)]
    assert recall["splits"].eq(retrieval["splits"]).all()
    chance = recall[recall.control == "shuffled"]["mean"].mean()
    assert abs(chance - 10 / 36) < 0.1  # 120 pairs, 30% test: 36 candidates
    assert (demo_run / "results/figures/retrieval_shapes.png").stat().st_size > 0
    for model in retrieval["text_models"] + retrieval["vision_models"]:
        stored = read_embeddings(demo_run / f"results/embeddings/shapes/{model}.h5")
        assert len(stored.ids) == DEMO["datasets"]["shapes"]["size"]
        assert stored.attrs["model"] == model
        assert (demo_run / f"logs/embed/shapes/{model}.log").exists()
        assert (demo_run / f"results/benchmarks/embed/shapes/{model}.tsv").exists()


def test_demo_aligns_concepts_with_every_pair_and_controls_near_chance(demo_run):
    concepts = DEMO["experiments"]["concepts"]
    table = pd.read_csv(demo_run / "results/tables/concepts_shapes-concepts.csv")
    assert set(zip(table.text_model, table.vision_model)) == {
        (t, v) for t in concepts["text_models"] for v in concepts["vision_models"]
    }
    assert set(table.control) == {"none", "shuffled", "random_map"} and set(table.retrieval) == {"nn", "csls"}
    # 12 test concepts, 1.4 aliases per concept among 88 candidate words (the 56 aliases and 32 other
    # corpus words): chance P@10 is about 10 * 1.4 / 88
    assert set(table.n_candidates) == {88}
    chance = table[(table.control != "none") & (table.k == 10)]["mean"].mean()
    assert abs(chance - 10 * 1.4 / 88) < 0.1
    summary = pd.read_csv(demo_run / "results/tables/concepts_shapes-concepts_summary.csv")
    assert list(summary.text_model) == sorted(concepts["text_models"])
    assert (demo_run / "results/figures/concepts_shapes-concepts_by_size.png").stat().st_size > 0
    words = read_embeddings(demo_run / "results/embeddings/shapes-concepts/minilm.h5", items=True)
    assert len(words.ids) == 88 and len(words.items) == 88 * 5 and words.attrs["word_pooling"] == "mean"
    images = read_embeddings(demo_run / "results/embeddings/shapes-concepts/tiny-vit.h5", items=True)
    assert len(images.ids) == 40 and len(images.items) == 40 * 4


def test_second_run_has_nothing_to_do(demo_run):
    assert planned_jobs(DEMO, demo_run) == set()


def test_reformatting_the_config_reruns_nothing(demo_run):
    reordered = copy.deepcopy(DEMO)
    reordered["models"] = {name: dict(reversed(list(entry.items()))) for name, entry in DEMO["models"].items()}
    assert planned_jobs(reordered, demo_run) == set()


def test_adding_a_text_model_plans_only_its_jobs_and_the_aggregation(demo_run):
    config = copy.deepcopy(DEMO)
    config["models"]["minilm-cls"] = {**DEMO["models"]["minilm"], "pooling": "cls"}
    config["experiments"]["retrieval"]["text_models"].append("minilm-cls")
    vision = DEMO["experiments"]["retrieval"]["vision_models"]
    expected = {("embed", "dataset=shapes, model=minilm-cls"), ("retrieval_table", "dataset=shapes"), ("all", "")}
    expected |= {("retrieval", f"dataset=shapes, text_model=minilm-cls, vision_model={v}") for v in vision}
    assert planned_jobs(config, demo_run) == expected


def test_editing_one_model_reruns_only_that_model(demo_run):
    config = copy.deepcopy(DEMO)
    config["models"]["tiny-bert"]["pooling"] = "mean"
    experiments = DEMO["experiments"]
    tasks = experiments["glue"]["tasks"]
    datasets = ["shapes", "shapes-concepts", "sts", "association", *(f"glue-{t}" for t in tasks)]
    expected = {("embed", f"dataset={d}, model=tiny-bert") for d in datasets}
    expected |= {("retrieval", f"dataset=shapes, text_model=tiny-bert, vision_model={v}")
                 for v in experiments["retrieval"]["vision_models"]}
    expected |= {(rule, f"dataset=shapes-concepts, text_model=tiny-bert, vision_model={v}")
                 for rule in CONCEPT_PAIR_RULES for v in experiments["concepts"]["vision_models"]}
    expected |= {("probe", f"task={t}, model=tiny-bert") for t in tasks}
    expected |= {("sts", "model=tiny-bert"), ("association", "model=tiny-bert")}
    expected |= {("retrieval_table", "dataset=shapes"), ("text_understanding_table", ""), ("all", "")}
    expected |= {(rule, "dataset=shapes-concepts") for rule in CONCEPT_TABLE_RULES}
    assert planned_jobs(config, demo_run) == expected


def test_demo_probes_glue_and_scores_sts_and_association_per_model(demo_run):
    summary = pd.read_csv(demo_run / "results/tables/text_understanding_summary.csv")
    assert set(summary.model) == set(DEMO["experiments"]["glue"]["models"])
    assert set(summary["style"]) == {"BERT-style", "CLIP-style"}
    # the demo's GLUE-shaped data carry their labels in the words: the real MiniLM must beat chance clearly
    minilm = summary.set_index("model").loc["minilm"]
    assert minilm["sst2"] > 0.8 and minilm["mnli_matched"] > 0.6 and minilm["glue_average"] > 0.6
    table = pd.read_csv(demo_run / "results/tables/text_understanding.csv")
    assert set(table.task) >= {"sst2", "mnli_matched", "mnli_mismatched", "sts_l", "sts_v", "colour_association"}


def test_removing_a_model_only_reaggregates(demo_run):
    config = copy.deepcopy(DEMO)
    config["experiments"]["retrieval"]["vision_models"].remove("tiny-vit")
    config["experiments"]["concepts"]["vision_models"].remove("tiny-vit")
    assert planned_jobs(config, demo_run) == {("retrieval_table", "dataset=shapes"), ("all", "")} | {
        (rule, "dataset=shapes-concepts") for rule in CONCEPT_TABLE_RULES}


def test_adding_a_vision_model_to_the_concepts_grid_aligns_it_with_every_language_model(demo_run):
    config = copy.deepcopy(DEMO)
    config["models"]["tiny-vit-mean"] = {**DEMO["models"]["tiny-vit"], "pooling": "mean"}
    config["experiments"]["concepts"]["vision_models"].append("tiny-vit-mean")
    expected = {("embed", "dataset=shapes-concepts, model=tiny-vit-mean"), ("all", "")}
    expected |= {(rule, "dataset=shapes-concepts") for rule in CONCEPT_TABLE_RULES}
    expected |= {(rule, f"dataset=shapes-concepts, text_model={t}, vision_model=tiny-vit-mean")
                 for rule in CONCEPT_PAIR_RULES for t in DEMO["experiments"]["concepts"]["text_models"]}
    assert planned_jobs(config, demo_run) == expected


def test_asking_the_similarity_stage_to_align_reruns_only_its_jobs_and_adds_the_alignment_heatmap(demo_run):
    config = copy.deepcopy(DEMO)
    config["experiments"]["concepts"]["similarity"]["alignment"] = {"k": 5}
    concepts = DEMO["experiments"]["concepts"]
    expected = {("all", ""), ("concept_similarity_table", "dataset=shapes-concepts")}
    expected |= {("concept_similarity", f"dataset=shapes-concepts, text_model={t}, vision_model={v}")
                 for t in concepts["text_models"] for v in concepts["vision_models"]}
    assert planned_jobs(config, demo_run) == expected
    plan = run_snakemake(demo_run, config, "-n").stdout
    assert "results/figures/concept_similarity_shapes-concepts_alignment_layers.png" in plan
    assert "alignment_layers" not in run_snakemake(demo_run, DEMO, "-n", "--forceall").stdout


def test_finetuning_is_off_by_default_and_planned_per_task_and_model_when_enabled(tmp_path):
    assert not any(rule == "finetune" for rule, _ in planned_jobs(DEMO, tmp_path))
    config = copy.deepcopy(DEMO)
    config["experiments"]["glue"]["finetune"] = {"enabled": True}
    planned = {(rule, wildcards) for rule, wildcards in planned_jobs(config, tmp_path) if rule == "finetune"}
    glue = DEMO["experiments"]["glue"]
    hf_models = [m for m in glue["models"] if DEMO["models"][m]["source"] == "hf"]
    assert planned == {("finetune", f"task={t}, model={m}") for t in glue["tasks"] for m in hf_models}


def test_demo_generates_images_per_text_encoder_and_scores_them(demo_run):
    t2i = DEMO["experiments"]["t2i"]
    encoders = [*t2i["models"], "generator-text-encoder"]
    table = pd.read_csv(demo_run / "results/tables/t2i_shapes.csv")
    assert list(dict.fromkeys(table.model)) == encoders
    assert set(table.metric) == {"fid", "inception_score", "clip_score"}
    assert table["n_images"].eq(t2i["heldout"]).all()
    for encoder in encoders:
        assert len(list((demo_run / f"results/t2i/shapes/images/{encoder}").glob("*.png"))) == t2i["heldout"]
    assert (demo_run / "results/figures/t2i_shapes.png").stat().st_size > 0


def test_adding_a_t2i_encoder_plans_only_its_generation_chain(demo_run):
    config = copy.deepcopy(DEMO)
    config["experiments"]["t2i"]["models"].append("tiny-bert")
    expected = {(rule, "dataset=shapes, encoder=tiny-bert")
                for rule in ("t2i_tokens", "t2i_train", "t2i_generate", "t2i_metrics")}
    expected |= {("t2i_table", "dataset=shapes"), ("all", "")}
    assert planned_jobs(config, demo_run) == expected


def test_demo_breaks_concept_alignment_down_and_compares_the_spaces(demo_run):
    concepts = DEMO["experiments"]["concepts"]
    pairs = {(t, v) for t in concepts["text_models"] for v in concepts["vision_models"]}
    factors = pd.read_csv(demo_run / "results/tables/concept_factors_shapes-concepts.csv")
    assert set(zip(factors.text_model, factors.vision_model)) == pairs
    # The shapes dictionary has no WordNet senses: polysemy is left out, the other factors are binned.
    assert set(factors.factor) == {"all", "frequency", "vision_dispersion", "language_dispersion"}
    dispersion = factors[(factors.factor == "vision_dispersion") & (factors.k == 1) & (factors.retrieval == "nn")]
    # Tertiles of the 12 test concepts of each split: 4 per bin on average.
    assert dispersion.groupby(["text_model", "vision_model"])["n_bin"].sum().eq(12).all()
    fractions = pd.read_csv(demo_run / "results/tables/concept_train_fractions_shapes-concepts.csv")
    assert sorted(fractions.train_fraction.unique()) == concepts["train_fractions"]
    similarity = pd.read_csv(demo_run / "results/tables/concept_similarity_shapes-concepts.csv")
    best = similarity[similarity.selection == "best"]
    assert set(best.metric) == {"mutual_knn", "nn_in_knn", "cycle_knn", "cka", "cka_unbiased", "cknna", "svcca"}
    assert len(best) == 7 * len(pairs) and best["n_concepts"].eq(40).all()
    assert (best.ci_low <= best.ci_high).all() and best[["null_mean", "null_std"]].notna().all().all()
    for figure in ("concept_factors", "concept_train_fractions", "concept_similarity"):
        assert (demo_run / f"results/figures/{figure}_shapes-concepts.png").stat().st_size > 0
