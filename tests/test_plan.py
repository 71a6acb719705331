"""Planning a grid: model sizes without weights, costs from measured jobs, and the plan of an added model."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import DEMO, ROOT
from test_models import TEXT_ENCODERS, VISION_ENCODERS, make_entry

from synesthesia.__main__ import main
from synesthesia.models import load_encoder, model_footprint
from synesthesia.plan import (
    DEFAULT_SECONDS_PER_ITEM_PARAMETER,
    SCORING_FLOPS_PER_SECOND,
    hub_unreachable,
    model_cached,
    model_costs,
    plan,
    render,
    scoring_costs,
)


@pytest.mark.parametrize("name", [*TEXT_ENCODERS, *VISION_ENCODERS])
def test_footprint_equals_the_loaded_model(tiny_models, name):
    folder, entry, dim = {**TEXT_ENCODERS, **VISION_ENCODERS}[name]
    entry = make_entry(tiny_models, folder, entry)
    loaded = load_encoder(name, entry, device="cpu")
    assert model_footprint(name, entry) == (loaded.parameter_count(), dim)


def _measured(workdir, dataset: str, model: str, seconds: float, items: int, parameters: int,
              model_id: str | None = None, revision: str = ""):
    """An embedding job as the workflow leaves it: its benchmark file and the store it wrote."""
    benchmark = workdir / "results/benchmarks/embed" / dataset / f"{model}.tsv"
    benchmark.parent.mkdir(parents=True, exist_ok=True)
    benchmark.write_text("s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
                         f"{seconds}\t0:00:{int(seconds):02d}\t500\t900\t400\t450\t1\t2\t95\t{seconds}\n")
    store = workdir / "results/embeddings" / dataset / f"{model}.h5"
    store.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(store, "w") as f:
        f["ids"] = [str(i) for i in range(items)]
        f["embeddings"] = np.zeros((items, 2), np.float32)
        f.attrs.update({"model": model, "model_id": model_id or model, "revision": revision,
                        "n_parameters": parameters, "spec": json.dumps({"model": {"id": model_id or model}}),
                        "complete": True})


def _workdir(tmp_path, measured: dict[tuple[str, str], tuple[float, int, int]], tables: dict[str, int]):
    """measured: (dataset, model) -> (seconds, items, parameters); tables: prepared datasets and their rows."""
    for (dataset, model), (seconds, items, parameters) in measured.items():
        _measured(tmp_path, dataset, model, seconds, items, parameters)
    for dataset, rows in tables.items():
        path = tmp_path / "data" / dataset / "text.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("id\ttext\n" + "".join(f"{i}\tx\n" for i in range(rows)))
    return tmp_path


def _config(*models, device="auto"):
    return {"models": {m: {"source": "hf", "id": m, "modality": "text", "device": device} for m in models},
            "embed": {"device": "auto", "dtype": "auto", "batch_size": 8}}


def _jobs(*pairs):
    return pd.DataFrame({"dataset": [d for d, _ in pairs], "model": [m for _, m in pairs], "would_run": True})


SIZES = {"small": (1_000, 8), "big": (10_000, 16), "new": (100_000, 32)}


def test_costs_from_measured_jobs(tmp_path):
    # small: 100 items x 1e3 params in 1 s; big: 100 items x 1e4 params in 9 s.
    workdir = _workdir(tmp_path, {("a", "small"): (1.0, 100, 1_000), ("a", "big"): (9.0, 100, 10_000)},
                       {"a": 100, "b": 200})
    jobs = _jobs(("b", "big"), ("b", "new"), ("a", "new"))
    costs, rate = model_costs(jobs, _config("small", "big", "new"), workdir, footprint=lambda m, e: SIZES[m])
    costs = costs.set_index("model")
    # big ran here: its own 0.09 s per item, times 200 items of b.
    assert costs.loc["big", "gpu_hours"] == pytest.approx(200 * 0.09 / 3600)
    assert costs.loc["big", "basis"] == "this model id"
    # new: the work-weighted rate 10 s / (1e5 + 1e6) item-parameters, times 300 items x 1e5 parameters.
    assert costs.loc["new", "gpu_hours"] == pytest.approx(300 * 1e5 * 10 / 1.1e6 / 3600)
    assert costs.loc["new", "basis"] == "rate x parameters"
    assert costs.loc["new", "disk_gb"] == pytest.approx(300 * 32 * 4 / 1e9)
    assert costs.loc["new", "items"] == 300 and costs.loc["new", "embeddings"] == 2
    assert "measured here" in rate


def test_costs_before_any_job_use_the_default_rate_and_flag_unprepared_data(tmp_path):
    workdir = _workdir(tmp_path, {}, {"a": 50})
    costs, rate = model_costs(_jobs(("a", "new"), ("unprepared", "new")), _config("new", device="cpu"), workdir,
                              footprint=lambda m, e: SIZES[m])
    row = costs.iloc[0]
    assert row["cpu_hours"] == pytest.approx(50 * 1e5 * DEFAULT_SECONDS_PER_ITEM_PARAMETER / 3600)
    assert row["gpu_hours"] == 0 and row["unsized_datasets"] == 1
    assert (row["peak_gpu_gb"], row["gpus_needed"], row["gpus"]) == (0, 0, 0)  # a CPU job needs no GPU
    assert "default" in rate


def test_foreign_benchmark_files_do_not_crash(tmp_path):
    # Another grid ran here: a model this config does not name (its store says what it was), one whose store is
    # gone, and a benchmark file cut short.
    workdir = _workdir(tmp_path, {("a", "minilm"): (2.0, 100, 1_000)}, {"a": 50})
    (workdir / "results/benchmarks/embed/a/gone.tsv").write_text("s\th:m:s\n3.0\t0:00:03\n")
    (workdir / "results/benchmarks/embed/a/cut.tsv").write_text("s\th:m")
    costs, rate = model_costs(_jobs(("a", "new")), _config("new"), workdir, footprint=lambda m, e: SIZES[m])
    # The foreign job still measures the rate: 2 s / (100 items x 1e3 parameters), times 50 x 1e5.
    assert costs.iloc[0]["gpu_hours"] == pytest.approx(50 * 1e5 * 2 / 1e5 / 3600)
    assert "measured here" in rate


def test_a_model_id_measured_under_another_name_reuses_its_rate(tmp_path):
    workdir = _workdir(tmp_path, {}, {"a": 250})
    # The CLIP text tower ran as clip-b32-text (not in this config) on 1,000 items in 40 s.
    _measured(workdir, "other", "clip-b32-text", 40.0, 1_000, 63_000_000, model_id="openai/clip-vit-base-patch32",
              revision="3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268")
    config = _config()
    config["models"] = {
        "clip-b32-pooler": {"source": "hf", "id": "openai/clip-vit-base-patch32", "modality": "text"},
        "clip-b32-pinned": {"source": "hf", "id": "openai/clip-vit-base-patch32", "modality": "text",
                            "revision": "3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268"},
        "clip-b32-other-revision": {"source": "hf", "id": "openai/clip-vit-base-patch32", "modality": "text",
                                    "revision": "0123456789abcdef0123456789abcdef01234567"},
    }
    costs, _ = model_costs(_jobs(*[("a", m) for m in config["models"]]), config, workdir,
                           footprint=lambda m, e: (63_000_000, 512))
    costs = costs.set_index("model")
    for model in ("clip-b32-pooler", "clip-b32-pinned"):
        assert costs.loc[model, "gpu_hours"] == pytest.approx(250 * 40.0 / 1_000 / 3600)
        assert costs.loc[model, "basis"] == "this model id"
    # Another revision is another checkpoint: costed from the rate, here measured by the same job.
    assert costs.loc["clip-b32-other-revision", "basis"] == "rate x parameters"
    assert costs.loc["clip-b32-other-revision", "gpu_hours"] == pytest.approx(250 * 63e6 * 40 / (1_000 * 63e6) / 3600)


def test_unknown_costs_show_as_unknown_with_their_reason_and_a_partial_total(tmp_path):
    workdir = _workdir(tmp_path, {}, {"a": 100})

    def footprint(model, entry):
        if model == "custom":
            raise OSError("custom is not a known architecture\nsecond line")
        return SIZES[model]

    jobs = _jobs(("a", "new"), ("a", "custom"))
    costs, rate = model_costs(jobs, _config("new", "custom"), workdir, footprint=footprint)
    custom = costs.set_index("model").loc["custom"]
    assert pd.isna(custom["gpu_hours"]) and pd.isna(custom["disk_gb"]) and pd.isna(custom["peak_gpu_gb"])
    assert custom["basis"] == "unknown"
    assert custom["note"] == ("time unknown: no measured rate for its model id and no parameter count "
                              "(size unknown: custom is not a known architecture)")
    text = render({"embeddings": jobs, "scores": pd.DataFrame({"rule": [], "up_to_date": [], "would_run": []}),
                   "costs": costs, "rate": rate})
    known = 100 * 1e5 * DEFAULT_SECONDS_PER_ITEM_PARAMETER / 3600
    assert f"Total: at least {known:.3g} GPU-hours, 0 CPU-hours, at least {100 * 32 * 4 / 1e9:.3g} GB" in text
    assert "(partial: 1 of 2 models not fully costed" in text
    assert "  custom: time unknown: no measured rate for its model id" in text
    assert "0 GPU-hours, 0 CPU-hours, 0 GB" not in text


def test_tiny_models_a_rule_builds_are_planned_quietly(tmp_path, caplog, capfd):
    config = _config()
    config["models"]["tiny-bert"] = {"source": "hf", "id": "resources/tiny-models/bert", "tiny": "bert",
                                     "modality": "text", "family": "bert", "pooling": "cls"}
    workdir = _workdir(tmp_path, {}, {"a": 10})
    costs, _ = model_costs(_jobs(("a", "tiny-bert")), config, workdir)  # the real footprint
    row = costs.iloc[0]
    assert not [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]
    assert capfd.readouterr().err == ""
    assert "built by the workflow" in row["note"] and row["cached"] is not None and not row["cached"]


def test_peak_gpu_memory_and_gpus_needed(tmp_path):
    config = _config("llama-7b", "llama-7b-fp32", "llama-7b-2gpus")
    config["models"]["llama-7b-fp32"]["dtype"] = "float32"
    config["models"]["llama-7b-2gpus"]["gpus"] = 2
    workdir = _workdir(tmp_path, {}, {"a": 10})
    jobs = _jobs(*[("a", m) for m in config["models"]])
    costs, _ = model_costs(jobs, config, workdir, footprint=lambda m, e: (7_000_000_000, 4096), gpu_memory_gb=16)
    costs = costs.set_index("model")
    # 7e9 parameters x 2 bytes (bf16) x 1.2 = 16.8 GB: two 16 GB GPUs; in float32 33.6 GB: three.
    assert costs.loc["llama-7b", "peak_gpu_gb"] == pytest.approx(16.8)
    assert costs.loc["llama-7b-fp32", "peak_gpu_gb"] == pytest.approx(33.6)
    assert costs.loc[["llama-7b", "llama-7b-fp32", "llama-7b-2gpus"], "gpus_needed"].tolist() == [2, 3, 2]
    assert costs.loc[["llama-7b", "llama-7b-fp32", "llama-7b-2gpus"], "gpus"].tolist() == [1, 1, 2]
    assert "needs 2 GPUs of 16 GB, asks for 1: set gpus: 2" in costs.loc["llama-7b", "note"]
    assert "needs 3 GPUs" in costs.loc["llama-7b-fp32", "note"] and costs.loc["llama-7b-2gpus", "note"] == ""
    at_80_gb, _ = model_costs(jobs, config, workdir, footprint=lambda m, e: (7e9, 4096))
    assert at_80_gb["gpus_needed"].tolist() == [1, 1, 1]


def test_model_cached_looks_for_weights_not_just_the_config(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    commit = "a" * 40
    repo = tmp_path / "hub" / "models--org--model"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    entry = {"source": "hf", "id": "org/model", "modality": "text"}
    assert model_cached(entry, tmp_path) is False
    (snapshot / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"a": "model-1.safetensors",
                                                                                      "b": "model-2.safetensors"}}))
    (snapshot / "model-1.safetensors").write_bytes(b"")
    assert model_cached(entry, tmp_path) is False  # one shard of two
    (snapshot / "model-2.safetensors").write_bytes(b"")
    assert model_cached(entry, tmp_path) is True
    assert model_cached({**entry, "id": "org/absent"}, tmp_path) is False
    assert model_cached({"source": "hf", "id": "./models/local", "modality": "text"}, tmp_path) is False
    (tmp_path / "models/local").mkdir(parents=True)
    assert model_cached({"source": "hf", "id": "./models/local", "modality": "text"}, tmp_path) is True
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    resnet = {"source": "torchvision", "id": "resnet18", "weights": "IMAGENET1K_V1", "modality": "vision"}
    assert model_cached(resnet, tmp_path) is False
    (tmp_path / "torch/hub/checkpoints").mkdir(parents=True)
    (tmp_path / "torch/hub/checkpoints/resnet18-f37072fd.pth").write_bytes(b"")
    assert model_cached(resnet, tmp_path) is True


def test_an_uncached_hub_model_is_not_asked_for_when_the_hub_is_unreachable(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    hub_unreachable.cache_clear()

    costs, _ = model_costs(_jobs(("a", "org/big")), _config("org/big"), _workdir(tmp_path, {}, {"a": 1}))
    hub_unreachable.cache_clear()
    assert "not in the local cache and the hub is unreachable" in costs.iloc[0]["note"]


def test_a_config_error_is_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**DEMO, "models": {**DEMO["models"], "x": {"source": "nope", "id": "a/b"}}}))
    result = subprocess.run([sys.executable, "-m", "synesthesia", "plan", "--configfile", str(bad), "-d", str(tmp_path),
                             "-s", str(ROOT / "Snakefile")], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip().startswith("config: ") and len(result.stderr.strip().splitlines()) == 1


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
    # minilm ran here: the same checkpoint under another name is costed at its measured time per item.
    assert costs.loc["minilm-again", "basis"] == "this model id" and costs.loc["minilm-again", "cached"]
    # The demo's corpus: 56 aliases and 32 words no concept has, 5 template sentences each.
    concepts = result["concepts"].set_index("dataset").loc["shapes-concepts"]
    assert (concepts["candidates"], concepts["words"], concepts["sentences"]) == ("corpus", 88, 440)
    assert (concepts["extra_words"], concepts["extra_sentences"]) == (32, 160)
    assert main(["plan", "--configfile", str(configfile), "-d", str(demo_run), "-s", str(ROOT / "Snakefile")]) == 0
    out = capsys.readouterr().out
    assert "minilm-again" in out and "extra_sentences" in out


def test_scoring_cost_counts_one_pass_per_ranked_map_and_one_projection_per_split(tmp_path, monkeypatch):
    from types import SimpleNamespace

    import synesthesia.data.concepts

    (tmp_path / "data/ds").mkdir(parents=True)
    (tmp_path / "data/dictionaries").mkdir()
    (tmp_path / "data/ds/text.tsv").write_text("id\ttext\n" + "".join(f"w{i % 10}\tx\n" for i in range(30)))
    (tmp_path / "data/dictionaries/d.json").write_text("{}")
    monkeypatch.setattr(synesthesia.data.concepts, "read_dictionary",
                        lambda path: SimpleNamespace(concepts={f"c{i}": [] for i in range(6)}))
    summary = pd.DataFrame({
        "output_file": ["results/align/ds/t__v.json", "results/factors/ds/t__v.json", "results/factors/ds/t__w.json",
                        "results/train_fractions/ds/t__v.json", "results/align/ds/t__w.json"],
        "rule": ["concept_alignment", "concept_factors", "concept_factors", "concept_train_fractions",
                 "concept_alignment"],
        "would_run": [True, True, False, True, False],
    })
    config = {"datasets": {"ds": {"source": "concepts", "dictionary": "d"}},
              "experiments": {"concepts": {"splits": 2, "factors": {"permutations": 3},
                                           "train_fractions": [0.1, 0.7]}}}
    dims = {"t": 8, "v": 4, "w": 16}
    costs = scoring_costs(summary, config, tmp_path, lambda model: (None, dims[model], "")).set_index("rule")
    # 10 candidate words, 6 concepts, width min(8, 4, 6) = 4; language dim 8
    per_map, per_projection = 2 * 10 * 4 * 6, 2 * 10 * 4 * 8
    expected = {"concept_alignment": 2 * 3 * per_map + 2 * per_projection,           # 2 splits x 3 controls
                "concept_factors": 2 * (1 + 3) * per_map + 2 * per_projection,       # the fit and 3 permutations
                "concept_train_fractions": 2 * 2 * 3 * per_map + 2 * 2 * per_projection}
    for rule, flops in expected.items():
        assert costs.loc[rule, "jobs"] == 1
        assert costs.loc[rule, "tflop"] == pytest.approx(flops / 1e12)
        assert costs.loc[rule, "cpu_hours"] == pytest.approx(flops / SCORING_FLOPS_PER_SECOND["cpu_hours"] / 3600)
    unknown = scoring_costs(summary, config, tmp_path, lambda model: (None, None, "size unknown"))
    assert unknown["tflop"].isna().all()
    assert "concept_similarity" not in costs.index

    # the similarity stage's alignment: the fitted map and the shuffled control at every layer pair, and each
    # text layer's candidates projected once per split (t stores 2 layers beside its main vector, v 1)
    summary = pd.DataFrame({"output_file": ["results/similarity/ds/t__v.json"], "rule": ["concept_similarity"],
                            "would_run": [True]})
    config["experiments"]["concepts"]["similarity"] = {"alignment": {"k": 1}}
    layers = {"t": 2, "v": 1}
    costs = scoring_costs(summary, config, tmp_path, lambda model: (None, dims[model], ""), layers.get)
    assert costs.set_index("rule").loc["concept_similarity", "tflop"] == pytest.approx(
        (2 * 2 * 3 * 2 * per_map + 2 * 3 * per_projection) / 1e12)
    layers["t"] = None  # `layers: all` of a checkpoint whose config.json is not here
    assert scoring_costs(summary, config, tmp_path, lambda model: (None, dims[model], ""), layers.get)[
        "tflop"].isna().all()
