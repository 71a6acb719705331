"""Planning a grid: model sizes without weights, costs from measured jobs, and the plan of an added model."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
import yaml

from conftest import DEMO, ROOT
from synesthesia.__main__ import main
from synesthesia.models import load_encoder, model_footprint
from synesthesia.plan import DEFAULT_SECONDS_PER_ITEM_PARAMETER, model_costs, plan
from test_models import TEXT_ENCODERS, VISION_ENCODERS, make_entry


@pytest.mark.parametrize("name", [*TEXT_ENCODERS, *VISION_ENCODERS])
def test_footprint_equals_the_loaded_model(tiny_models, name):
    folder, entry, dim = {**TEXT_ENCODERS, **VISION_ENCODERS}[name]
    entry = make_entry(tiny_models, folder, entry)
    loaded = load_encoder(name, entry, device="cpu")
    assert model_footprint(name, entry) == (loaded.parameter_count(), dim)


def _workdir(tmp_path, benchmarks: dict[tuple[str, str], float], tables: dict[str, int]):
    for (dataset, model), seconds in benchmarks.items():
        path = tmp_path / "results/benchmarks/embed" / dataset / f"{model}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"s\th:m:s\n{seconds}\t0:00:00\n")
    for dataset, rows in tables.items():
        path = tmp_path / "data" / dataset / "text.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("id\ttext\n" + "".join(f"{i}\tx\n" for i in range(rows)))
    return tmp_path


def _config(*models, device="auto"):
    return {"models": {m: {"source": "hf", "id": m, "modality": "text", "device": device} for m in models},
            "embed": {"device": "auto", "dtype": "auto", "batch_size": 8}}


SIZES = {"small": (1_000, 8), "big": (10_000, 16), "new": (100_000, 32)}


def test_costs_from_measured_jobs(tmp_path):
    # small: 100 items x 1e3 params in 1 s; big: 100 items x 1e4 params in 9 s.
    workdir = _workdir(tmp_path, {("a", "small"): 1.0, ("a", "big"): 9.0}, {"a": 100, "b": 200})
    jobs = pd.DataFrame({"dataset": ["b", "b", "a"], "model": ["big", "new", "new"], "would_run": True})
    costs, rate = model_costs(jobs, _config("small", "big", "new"), workdir, footprint=lambda m, e: SIZES[m])
    costs = costs.set_index("model")
    # big ran here: its own 0.09 s per item, times 200 items of b.
    assert costs.loc["big", "gpu_hours"] == pytest.approx(200 * 0.09 / 3600)
    # new: the work-weighted rate 10 s / (1e5 + 1e6) item-parameters, times 300 items x 1e5 parameters.
    assert costs.loc["new", "gpu_hours"] == pytest.approx(300 * 1e5 * 10 / 1.1e6 / 3600)
    assert costs.loc["new", "disk_gb"] == pytest.approx(300 * 32 * 4 / 1e9)
    assert costs.loc["new", "items"] == 300 and costs.loc["new", "embeddings"] == 2
    assert "measured here" in rate


def test_costs_before_any_job_use_the_default_rate_and_flag_unprepared_data(tmp_path):
    workdir = _workdir(tmp_path, {}, {"a": 50})
    jobs = pd.DataFrame({"dataset": ["a", "unprepared"], "model": ["new", "new"], "would_run": True})
    costs, rate = model_costs(jobs, _config("new", device="cpu"), workdir, footprint=lambda m, e: SIZES[m])
    row = costs.iloc[0]
    assert row["cpu_hours"] == pytest.approx(50 * 1e5 * DEFAULT_SECONDS_PER_ITEM_PARAMETER / 3600)
    assert row["gpu_hours"] == 0 and row["unsized_datasets"] == 1
    assert "default" in rate


@pytest.mark.slow
def test_plan_of_an_added_model_lists_only_its_jobs(demo_run, tmp_path, capsys):
    config = copy.deepcopy(DEMO)
    config["models"]["minilm-again"] = {**config["models"]["minilm"], "pooling": "cls"}
    config["experiments"]["glue"]["models"].append("minilm-again")
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    result = plan(ROOT / "Snakefile", configfile, demo_run)
    jobs = result["embeddings"]
    assert set(jobs[jobs["would_run"]]["model"]) == {"minilm-again"}
    assert set(jobs[jobs["would_run"]]["dataset"]) == {f"glue-{task}" for task in DEMO["experiments"]["glue"]["tasks"]}
    scores = result["scores"].set_index("rule")
    assert scores.loc["probe", "would_run"] == len(DEMO["experiments"]["glue"]["tasks"])
    assert scores.loc["retrieval", "would_run"] == 0
    costs = result["costs"].set_index("model")
    assert list(costs.index) == ["minilm-again"]
    assert costs.loc["minilm-again", "parameters"] == 22_713_216 and costs.loc["minilm-again", "dim"] == 384
    # The demo's corpus: 56 aliases and 32 words no concept has, 5 template sentences each.
    concepts = result["concepts"].set_index("dataset").loc["shapes-concepts"]
    assert (concepts["candidates"], concepts["words"], concepts["sentences"]) == ("corpus", 88, 440)
    assert (concepts["extra_words"], concepts["extra_sentences"]) == (32, 160)
    assert main(["plan", "--configfile", str(configfile), "-d", str(demo_run), "-s", str(ROOT / "Snakefile")]) == 0
    out = capsys.readouterr().out
    assert "minilm-again" in out and "extra_sentences" in out
