"""Prefetch and the offline pre-flight, with the real download code against a stand-in hub on 127.0.0.1."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import DEMO, ROOT, SCHEMA, SNAKEMAKE
from hub_stub import StubHub

from synesthesia.caches import select_files
from synesthesia.config import load_yaml, validate_config
from synesthesia.prefetch import config_items, hub_offline, used_models

HUB_BERT = {"source": "hf", "id": "org/tiny-bert", "modality": "text", "family": "bert", "pooling": "cls"}


def hub_env(tmp_path: Path, **extra: str) -> dict:
    """This process's environment without any HF_* setting, with caches of its own under ``tmp_path``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("HF_")}
    env.update(HF_HOME=str(tmp_path / "hf"), TORCH_HOME=str(tmp_path / "torch"), HF_HUB_DISABLE_TELEMETRY="1",
               **extra)
    return env


def snakemake(workdir: Path, config: dict, env: dict, *args: str) -> subprocess.CompletedProcess:
    configfile = workdir / "config.test.yaml"
    workdir.mkdir(parents=True, exist_ok=True)
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    return subprocess.run([*SNAKEMAKE, "--cores", "1", "-d", str(workdir), *args, "--configfile", str(configfile)],
                          capture_output=True, text=True, env=env, timeout=300)


# --- what is fetched ---------------------------------------------------------------------


def test_files_chosen_are_what_the_loader_reads_safetensors_over_bin():
    repo = ["config.json", "model.safetensors", "pytorch_model.bin", "tf_model.h5", "flax_model.msgpack",
            "model.fp16.safetensors", "onnx/model.onnx", "vocab.txt", "tokenizer.json", "README.md",
            "open_clip_model.safetensors", "spiece.model"]
    assert select_files(repo) == ["config.json", "model.safetensors", "spiece.model", "tokenizer.json", "vocab.txt"]
    bin_only = ["config.json", "pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin",
                "pytorch_model.bin.index.json"]
    assert select_files(bin_only) == sorted(bin_only)
    stable_diffusion = ["model_index.json", "v1-5-pruned.ckpt", "v1-5-pruned-emaonly.safetensors",
                        "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
                        "unet/diffusion_pytorch_model.bin", "unet/diffusion_pytorch_model.fp16.safetensors",
                        "vae/config.json", "vae/diffusion_pytorch_model.bin", "safety_checker/model.safetensors"]
    assert select_files(stable_diffusion, ("unet", "vae")) == [
        "unet/config.json", "unet/diffusion_pytorch_model.safetensors", "vae/config.json",
        "vae/diffusion_pytorch_model.bin"]


def test_the_demo_needs_nothing_and_the_paper_grid_only_the_models_it_runs():
    demo = validate_config(DEMO, SCHEMA, root=ROOT, missing_data="skip")
    assert not [item for item in config_items(demo, ROOT) if item.remote]
    grid = load_yaml(ROOT / "config.yaml")
    grid["models"]["unused"] = {**HUB_BERT, "id": "org/unused"}  # defined, but no experiment runs it
    grid = validate_config(grid, SCHEMA, root=ROOT, missing_data="skip")
    items = config_items(grid, ROOT)
    keys = [key for item in items for key in item.keys]
    assert "models.unused" not in keys
    assert sorted(key for key in keys if key.startswith("models.")) == sorted(f"models.{name}"
                                                                             for name in used_models(grid))
    clip = next(item for item in items if item.target == "openai/clip-vit-large-patch14")
    # One repository, named by both poolings and by the CLIP score: fetched once.
    assert clip.keys == ["models.clip-vit-l14-text", "models.clip-vit-l14-text-pooler",
                         "experiments.t2i.metrics.clip_model"]
    assert {item.kind for item in items} >= {"hf model", "hf generator", "hf dataset", "torchvision", "open_clip",
                                             "url", "torch hub"}


def test_the_hub_counts_as_off_when_offline_is_set_or_it_does_not_answer(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    with StubHub() as hub:
        monkeypatch.setattr(constants, "ENDPOINT", hub.endpoint)
        assert not hub_offline()
    monkeypatch.setattr(constants, "ENDPOINT", hub.endpoint)  # closed now: refused at once
    assert hub_offline()
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert hub_offline()


# --- prefetch against the stand-in hub ---------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A tiny BERT (with a .bin beside its safetensors, not to be fetched) and a tiny caption dataset."""
    from synesthesia.models.tiny import build_tiny_model

    root = tmp_path_factory.mktemp("served")
    build_tiny_model("bert", root / "bert")
    (root / "bert" / "pytorch_model.bin").write_bytes(b"the same weights as a pickle: not to be fetched")
    (root / "captions").mkdir()
    (root / "captions" / "test.csv").write_text("caption,label\na red circle,0\na blue square,1\na green star,2\n")
    return root


def test_prefetch_fills_the_caches_once_and_names_gated_models(served, tmp_path):
    config = {"models": {"hub-bert": HUB_BERT, "llama": {**HUB_BERT, "id": "org/gated-llama"}},
              "datasets": {"captions": {"source": "hf", "id": "org/tiny-captions", "split": "test"}},
              "experiments": {"sts": {"models": ["hub-bert", "llama"], "source": "demo"}}}
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    with StubHub() as hub:
        hub.add_folder("model", "org/tiny-bert", served / "bert")
        hub.add_folder("dataset", "org/tiny-captions", served / "captions")
        hub.add("model", "org/gated-llama", {"config.json": b"{}"})
        hub.gated.add("org/gated-llama")
        env = hub_env(tmp_path, HF_ENDPOINT=hub.endpoint)
        first = subprocess.run([sys.executable, "-m", "synesthesia", "prefetch", "-s", str(ROOT / "Snakefile")],
                               cwd=workdir, capture_output=True, text=True, env=env, timeout=300)
        fetched = hub.downloads()
        # Snakemake users: the same through the localrule; everything is cached, so nothing is downloaded.
        second = snakemake(workdir, config, env, "prefetch")
        assert hub.downloads() == fetched, second.stderr[-3000:]
        assert not hub.unanswered

    assert first.returncode == 1, first.stderr[-3000:]  # the gated model is not there
    assert first.stdout.splitlines()[-1] == ("org/gated-llama: accept the licence on "
                                             "https://huggingface.co/org/gated-llama and set HF_TOKEN")
    table = {line.split()[0]: line.split() for line in first.stdout.splitlines()[1:-1]}
    assert table["org/tiny-bert"][-1] == "fetched" and table["org/tiny-captions"][-1] == "fetched"
    assert table["org/gated-llama"][-1] == "gated"
    snapshot = next((tmp_path / "hf/hub/models--org--tiny-bert/snapshots").iterdir())
    assert sorted(p.name for p in snapshot.iterdir()) == sorted(
        p.name for p in (served / "bert").iterdir() if p.name != "pytorch_model.bin")
    assert not any("pytorch_model.bin" in path for path in fetched)
    assert second.returncode != 0 and "org/tiny-bert" in second.stdout and "cached" in second.stdout

    offline = subprocess.run([sys.executable, "-c", """if True:
        from transformers import AutoModel
        from synesthesia.data.hub import load_hub_dataset
        print(type(AutoModel.from_pretrained("org/tiny-bert")).__name__)
        print(len(load_hub_dataset("org/tiny-captions", split="test")))
    """], capture_output=True, text=True, env=hub_env(tmp_path, HF_HUB_OFFLINE="1"), timeout=300)
    assert offline.stdout.split() == ["BertModel", "3"], offline.stderr[-3000:]


# --- pre-flight --------------------------------------------------------------------------


def test_an_offline_run_stops_before_any_job_listing_what_is_not_cached(tmp_path):
    config = copy.deepcopy(DEMO)
    config["models"]["hub-bert"] = {**HUB_BERT, "id": "org/uncached-bert"}
    config["experiments"]["sts"]["models"].append("hub-bert")
    env = hub_env(tmp_path, HF_HUB_OFFLINE="1")
    workdir = tmp_path / "work"
    needs_the_model = "results/embeddings/sts/hub-bert.h5"
    needs_no_model = "data/association/text.tsv"

    planned = snakemake(workdir, config, env, "-n", needs_no_model)
    assert planned.returncode == 0, planned.stderr[-3000:]
    assert ("warning: models.hub-bert: hf model org/uncached-bert is not cached; a real run refuses to start "
            "(`python -m synesthesia prefetch` caches it)") in planned.stderr

    refused = snakemake(workdir, config, env, needs_the_model)
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0
    assert "config: this run needs what this machine does not have" in output
    assert "\n  models.hub-bert: hf model org/uncached-bert is not cached\n" in output
    assert "`python -m synesthesia prefetch` with the same --configfile" in output
    assert not (workdir / "data/sts/text.tsv").exists()  # refused before its first job

    # Only what the planned jobs need counts: a target that needs no uncached model runs.
    ran = snakemake(workdir, config, env, needs_no_model)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert "this run needs what this machine does not have" not in ran.stdout + ran.stderr
    assert (workdir / needs_no_model).exists()

    warned = snakemake(workdir, {**config, "preflight": "warn"}, env, needs_the_model)
    assert "warning: preflight: warn: running the jobs that can run" in warned.stderr
    assert warned.returncode != 0 and (workdir / "data/sts/text.tsv").exists()  # ran until the model was needed


def test_a_gap_counts_only_when_a_planned_job_reads_what_its_key_names():
    from synesthesia.prefetch import key_needed

    jobs = [("embed", {"dataset": "sts", "model": "minilm"}), ("t2i_tokens", {"dataset": "shapes", "encoder": "clip"}),
            ("dictionary", {"dictionary": "imagenet"}), ("retrieval", {"dataset": "shapes", "text_model": "bert",
                                                                      "vision_model": "vit"})]
    needed = ["models.minilm", "models.clip", "models.bert", "models.vit", "datasets.shapes", "datasets.sts.images",
              "dictionaries.imagenet", "experiments.t2i.generator", "experiments.t2i.metrics.clip_model",
              "experiments.something_new"]
    not_needed = ["models.opt", "datasets.concepts", "dictionaries.cldi", "experiments.glue", "experiments.sts"]
    assert [key for key in needed + not_needed if key_needed(key, jobs)] == needed
    assert key_needed("experiments.glue", [("glue_data", {"task": "cola"})])
    assert key_needed("experiments.sts", [("download_cxc", {})])
    assert key_needed("datasets.concepts", [("corpus_vocabulary", {"dictionary": "imagenet"})])
