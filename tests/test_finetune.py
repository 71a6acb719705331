"""Full fine-tuning on GLUE: the study's epochs, gradients through the encoder, records, determinism."""

from __future__ import annotations

import copy
import json
import logging
import math

import pytest
import torch
from conftest import DEMO, ROOT, SCHEMA

from synesthesia import finetune
from synesthesia.config import load_yaml, validate_config
from synesthesia.data.demo import make_demo_glue
from synesthesia.data.glue import prepare_glue, read_labels
from synesthesia.data.tables import read_table
from synesthesia.models import load_encoder
from synesthesia.models.tiny import build_tiny_model

TINY_STEPS = 2


@pytest.fixture(scope="module")
def bert_entry(tmp_path_factory) -> dict:
    path = build_tiny_model("bert", tmp_path_factory.mktemp("finetune-models") / "bert")
    return {"source": "hf", "id": str(path), "modality": "text", "family": "bert", "pooling": "mean"}


@pytest.fixture(scope="module")
def clip_path(tmp_path_factory):
    return build_tiny_model("clip", tmp_path_factory.mktemp("finetune-models") / "clip")


@pytest.fixture(scope="module")
def glue_dir(tmp_path_factory):
    root = make_demo_glue(tmp_path_factory.mktemp("finetune-glue"), seed=0)
    prepared = tmp_path_factory.mktemp("finetune-prepared")

    def prepared_task(task: str):
        return prepare_glue(prepared / task, task, dataset_id=str(root), limit_train=64, limit_eval=32)

    return prepared_task


def run(bert_entry, glue_dir, task, out, **options):
    folder = glue_dir(task)
    return finetune.finetune_glue("tiny-bert", bert_entry, str(folder / "text.tsv"), str(folder / "labels.tsv"),
                                  task, str(out), batch_size=16, device="cpu", max_steps=TINY_STEPS, **options)


def test_mrpc_and_wnli_train_five_epochs_and_the_other_tasks_three():
    assert finetune.default_epochs("mrpc") == finetune.default_epochs("wnli") == 5
    for task in ("cola", "sst2", "stsb", "qqp", "mnli", "qnli", "rte"):
        assert finetune.default_epochs(task) == 3
    with pytest.raises(ValueError, match="unknown GLUE task 'mnli_matched'"):
        finetune.default_epochs("mnli_matched")


@pytest.mark.parametrize("family, pooling", [("bert", "mean"), ("bert", "cls"), ("bert", "pooler"),
                                             ("clip", "projection"), ("clip", "pooler"), ("clip", "eos")])
@pytest.mark.parametrize("paired", [False, True])
def test_pooled_features_are_the_vectors_the_encoder_extracts(family, pooling, paired, bert_entry, clip_path):
    model_id = bert_entry["id"] if family == "bert" else str(clip_path)
    entry = {"source": "hf", "id": model_id, "modality": "text", "family": family, "pooling": pooling}
    encoder = load_encoder(f"tiny-{family}", entry, device="cpu", dtype="float32")
    texts = ["a red circle on the left .", "the big blue square is on the right side of the picture ."]
    pairs = ["a circle .", "there is a square ."] if paired else None
    with torch.no_grad():
        pooled = finetune.pooled_features(encoder, finetune.tokenize(encoder, texts, pairs), paired)
    torch.testing.assert_close(pooled, encoder.encode_texts(texts, pairs))


def test_training_loss_falls_on_a_fixed_batch_and_the_encoder_gets_gradients(bert_entry, glue_dir):
    folder = glue_dir("sst2")
    texts, _, labels = finetune.split_examples(read_table(folder / "text.tsv").set_index("id"),
                                               read_labels(folder / "labels.tsv"), "train", "labels.tsv")
    texts, targets = texts[:8], torch.tensor(labels[:8])
    encoder = load_encoder("tiny-bert", bert_entry, device="cpu", dtype="float32")
    torch.manual_seed(0)
    head = torch.nn.Linear(32, 2)
    optimizer = torch.optim.AdamW([*encoder.model.parameters(), *head.parameters()], lr=3e-3)
    losses = []
    for _ in range(8):
        loss = finetune.batch_loss(encoder, head, texts, None, targets, regression=False)
        optimizer.zero_grad()
        loss.backward()
        embeddings = encoder.model.embeddings.word_embeddings.weight
        assert embeddings.grad is not None and embeddings.grad.abs().sum() > 0
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_records_are_long_format_with_the_protocol_and_repeat_for_a_seed(bert_entry, glue_dir, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="synesthesia.finetune"):
        records = run(bert_entry, glue_dir, "sst2", tmp_path / "first.json", seed=3)
    assert "tiny-bert on sst2: epoch 1 of 3, mean training loss" in caplog.text
    assert json.loads((tmp_path / "first.json").read_text()) == records
    (record,) = records
    assert record["task"] == "sst2" and record["metric"] == "accuracy" and 0 <= record["value"] <= 1
    assert record["method"] == "finetune" and record["model"] == "tiny-bert" and record["pooling"] == "mean"
    assert (record["learning_rate"], record["batch_size"], record["epochs"], record["seed"]) == (2e-5, 16, 3, 3)
    assert (record["n_train"], record["n_eval"], record["steps"]) == (64, 32, TINY_STEPS)
    again = run(bert_entry, glue_dir, "sst2", tmp_path / "again.json", seed=3)
    assert (tmp_path / "again.json").read_text() == (tmp_path / "first.json").read_text()
    assert again == records
    other_seed = run(bert_entry, glue_dir, "sst2", tmp_path / "other.json", seed=4)
    assert other_seed[0]["train_loss"] != records[0]["train_loss"]


def test_mnli_is_scored_on_matched_and_mismatched(bert_entry, glue_dir, tmp_path):
    records = run(bert_entry, glue_dir, "mnli", tmp_path / "mnli.json")
    assert [(r["task"], r["metric"], r["n_eval"]) for r in records] == [
        ("mnli_matched", "accuracy", 32), ("mnli_mismatched", "accuracy", 32)]


def test_stsb_regresses_with_mean_squared_error_and_reports_correlations(bert_entry, glue_dir, tmp_path,
                                                                         monkeypatch):
    losses_called = []
    mse_loss, cross_entropy = finetune.F.mse_loss, finetune.F.cross_entropy
    monkeypatch.setattr(finetune.F, "mse_loss", lambda *a, **k: losses_called.append("mse") or mse_loss(*a, **k))
    monkeypatch.setattr(finetune.F, "cross_entropy",
                        lambda *a, **k: losses_called.append("cross_entropy") or cross_entropy(*a, **k))
    records = run(bert_entry, glue_dir, "stsb", tmp_path / "stsb.json")
    assert losses_called == ["mse"] * TINY_STEPS
    assert [(r["task"], r["metric"]) for r in records] == [("stsb", "pearson"), ("stsb", "spearman")]
    assert all(r["method"] == "finetune" and r["epochs"] == 3 for r in records)


def test_a_model_that_is_not_an_hf_text_model_is_refused_by_name(glue_dir, tmp_path):
    folder = glue_dir("sst2")
    entry = {"source": "open_clip", "id": "ViT-B-32", "modality": "text"}
    with pytest.raises(ValueError, match="model 'clip-b32' .*only text models with source hf"):
        finetune.finetune_glue("clip-b32", entry, str(folder / "text.tsv"), str(folder / "labels.tsv"), "sst2",
                               str(tmp_path / "out.json"))
    assert not (tmp_path / "out.json").exists()


# --- precision ----------------------------------------------------------------------------


@pytest.mark.parametrize("precision, device, expected", [
    ("bf16", "cuda", ("bf16", torch.bfloat16, False)),
    ("fp16", "cuda", ("fp16", torch.float16, True)),
    ("fp32", "cuda", ("fp32", None, False)),
    ("bf16", "cpu", ("fp32", None, False)),
    ("fp16", "cpu", ("fp32", None, False)),
    ("fp32", "cpu", ("fp32", None, False)),
])
def test_only_fp16_on_a_gpu_scales_the_loss_and_a_cpu_always_runs_fp32(precision, device, expected):
    assert tuple(finetune.mixed_precision(precision, torch.device(device))) == expected


def test_an_unknown_precision_is_refused_with_the_setting_to_fix():
    with pytest.raises(ValueError, match="precision 'fp8' is unknown; set experiments.glue.finetune.precision "
                                         "to one of bf16, fp16, fp32"):
        finetune.mixed_precision("fp8", torch.device("cuda"))


def test_the_schema_defaults_to_bf16_and_the_study_grid_fine_tunes_in_fp16():
    config = copy.deepcopy(DEMO)
    config["experiments"]["glue"]["finetune"] = {"enabled": True}
    validated = validate_config(config, SCHEMA, root=ROOT)
    assert validated["experiments"]["glue"]["finetune"]["precision"] == "bf16"
    assert load_yaml(ROOT / "config.yaml")["experiments"]["glue"]["finetune"]["precision"] == "fp16"


def test_a_cpu_run_records_fp32_whatever_precision_was_asked(bert_entry, glue_dir, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="synesthesia.finetune"):
        default = run(bert_entry, glue_dir, "stsb", tmp_path / "default.json")
    assert "tiny-bert on stsb: precision bf16 applies on a GPU only; training on cpu in fp32" in caplog.text
    fp32 = run(bert_entry, glue_dir, "stsb", tmp_path / "fp32.json", precision="fp32")
    assert [r["precision"] for r in default] == [r["precision"] for r in fp32] == ["fp32", "fp32"]
    assert all(math.isfinite(r["value"]) and math.isfinite(r["train_loss"]) for r in default + fp32)
    # On a CPU the setting changes nothing but the log: the same seed gives the same numbers.
    assert [r["value"] for r in default] == [r["value"] for r in fp32]


def test_a_scaled_loss_unscales_before_clipping_and_trains_as_unscaled(bert_entry, glue_dir, tmp_path, monkeypatch):
    plain = run(bert_entry, glue_dir, "sst2", tmp_path / "plain.json", precision="fp32", seed=5)
    # fp16's loss scaling, forced on the CPU (where autocast stays off): a scale of 2**16 is undone exactly
    # before clipping, so the run must train as the unscaled one did.
    scalers = []
    grad_scaler = torch.amp.GradScaler

    def recording_scaler(*args, **kwargs):
        scalers.append(grad_scaler(*args, **kwargs))
        return scalers[-1]

    monkeypatch.setattr(finetune.torch.amp, "GradScaler", recording_scaler)
    monkeypatch.setattr(finetune, "mixed_precision", lambda precision, device: finetune.MixedPrecision(
        "fp16", None, True))
    scaled = run(bert_entry, glue_dir, "sst2", tmp_path / "scaled.json", precision="fp16", seed=5)
    (scaler,) = scalers
    assert scaler.is_enabled() and scaler.get_scale() == 2.0 ** 16
    assert scaled[0]["precision"] == "fp16" and scaled[0]["steps"] == TINY_STEPS
    assert scaled[0]["train_loss"] == pytest.approx(plain[0]["train_loss"], rel=1e-5)
    assert scaled[0]["value"] == plain[0]["value"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="autocast runs on CUDA only")
@pytest.mark.parametrize("precision", ["bf16", "fp16", "fp32"])
def test_each_precision_trains_on_a_gpu_to_finite_scores(bert_entry, glue_dir, tmp_path, precision):
    folder = glue_dir("stsb")
    records = finetune.finetune_glue("tiny-bert", bert_entry, str(folder / "text.tsv"), str(folder / "labels.tsv"),
                                     "stsb", str(tmp_path / "out.json"), batch_size=16, device="cuda",
                                     max_steps=TINY_STEPS, precision=precision)
    assert [r["precision"] for r in records] == [precision, precision]
    assert all(math.isfinite(r["value"]) and math.isfinite(r["train_loss"]) for r in records)
