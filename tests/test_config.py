"""The config contract: a bad config is refused with one line naming the key, before any job runs."""

from __future__ import annotations

import copy
import subprocess

import pytest
import yaml
from conftest import ROOT, SCHEMA

from synesthesia.config import ConfigError, canonical, load_schema, model_spec, validate_config


def load(name: str) -> dict:
    with open(ROOT / name, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture
def demo() -> dict:
    return load("demo/config.yaml")


def refusal(config: dict, root=ROOT) -> str:
    with pytest.raises(ConfigError) as caught:
        validate_config(config, SCHEMA, root=root)
    message = str(caught.value)
    # The Snakefile prints this message as the whole error, so it must stay one line.
    assert "\n" not in message
    return message


# --- valid configs and defaults -------------------------------------------------------


@pytest.mark.parametrize("name", ["demo/config.yaml", "config.yaml"])
def test_shipped_configs_validate(name, tmp_path):
    # An empty workdir: demo tiny models are built by the workflow and the paper grid
    # names hub ids, so neither may depend on anything already on disk.
    config = load(name)
    validated = validate_config(config, SCHEMA, root=tmp_path)
    assert set(validated["models"]) == set(config["models"])
    assert all(entry["trust_remote_code"] is False for entry in validated["models"].values())


def test_defaults_are_filled_without_touching_the_input(demo):
    schema = load_schema(SCHEMA)
    retrieval_schema = schema["properties"]["experiments"]["properties"]["retrieval"]["properties"]
    shapes_schema = next(
        branch["then"]["properties"]
        for branch in schema["$defs"]["dataset"]["allOf"]
        if branch["if"]["properties"]["source"]["const"] == "shapes"
    )
    del demo["embed"]
    del demo["experiments"]["retrieval"]["ks"]
    demo["datasets"]["shapes"] = {"source": "shapes"}
    demo["models"]["tiny-bert"]["batch_size"] = 4
    original = copy.deepcopy(demo)

    validated = validate_config(demo, SCHEMA)

    assert demo == original
    assert validated["embed"]["batch_size"] == schema["properties"]["embed"]["properties"]["batch_size"]["default"]
    assert validated["embed"]["device"] == "auto"
    assert validated["experiments"]["retrieval"]["ks"] == retrieval_schema["ks"]["default"]
    assert validated["experiments"]["retrieval"]["ridge"] == retrieval_schema["ridge"]["default"]
    shapes = validated["datasets"]["shapes"]
    for key in ("size", "image_size", "seed"):
        assert shapes[key] == shapes_schema[key]["default"]
    assert validated["models"]["tiny-vit"]["trust_remote_code"] is False
    # A model's own value is kept; embed defaults are merged later by model_spec, not here.
    assert validated["models"]["tiny-bert"]["batch_size"] == 4
    assert "batch_size" not in validated["models"]["tiny-vit"]


def test_hf_dataset_defaults(demo):
    demo["datasets"]["coco"] = {"source": "hf", "id": "org/coco"}
    coco = validate_config(demo, SCHEMA)["datasets"]["coco"]
    assert (coco["split"], coco["image_column"], coco["caption_column"]) == ("test", "image", "caption")


# --- unknown keys, sources, types -----------------------------------------------------


@pytest.mark.parametrize(
    "where, dotted",
    [
        (lambda c: c, "colour"),
        (lambda c: c["embed"], "embed.colour"),
        (lambda c: c["models"]["tiny-bert"], "models.tiny-bert.colour"),
        (lambda c: c["experiments"]["retrieval"], "experiments.retrieval.colour"),
        (lambda c: c["datasets"]["shapes"], "datasets.shapes.colour"),
    ],
    ids=["top", "embed", "model", "experiment", "dataset"],
)
def test_unknown_key_is_named_by_its_dotted_path(demo, where, dotted):
    where(demo)["colour"] = "red"
    message = refusal(demo)
    assert f"unknown key {dotted}" in message


@pytest.mark.parametrize(
    "dataset",
    [
        {"source": "hf", "id": "org/coco", "colour": "red"},
        {"source": "folder", "root": "img", "captions": "c.tsv", "colour": "red"},
    ],
    ids=["hf", "folder"],
)
def test_unknown_key_in_other_dataset_sources(demo, dataset):
    # Each dataset source has its own allowed keys (if/then branches of the schema).
    demo["datasets"]["extra"] = dataset
    assert "unknown key datasets.extra.colour" in refusal(demo)


def test_unknown_experiment_is_refused(demo):
    demo["experiments"]["captioning"] = {"models": ["tiny-bert"]}
    assert "unknown key experiments.captioning" in refusal(demo)


def test_unknown_source_names_the_key(demo):
    demo["models"]["tiny-bert"]["source"] = "onnx"
    message = refusal(demo)
    assert "models.tiny-bert.source" in message
    assert "onnx" in message


def test_unknown_dataset_source_names_the_key(demo):
    demo["datasets"]["shapes"]["source"] = "ftp"
    assert "datasets.shapes.source" in refusal(demo)


@pytest.mark.parametrize(
    "edit, key",
    [
        (lambda c: c["embed"].__setitem__("batch_size", "big"), "embed.batch_size"),
        (lambda c: c["models"]["tiny-vit"].__setitem__("batch_size", "big"), "models.tiny-vit.batch_size"),
        (lambda c: c["experiments"]["retrieval"].__setitem__("ks", "1,5"), "experiments.retrieval.ks"),
        (
            lambda c: c["experiments"]["retrieval"].__setitem__("train_fraction", 1.5),
            "experiments.retrieval.train_fraction",
        ),
    ],
    ids=["embed.batch_size", "model.batch_size", "ks", "train_fraction"],
)
def test_wrong_type_or_range_names_the_key(demo, edit, key):
    edit(demo)
    assert f"config: {key}:" in refusal(demo)


def test_missing_required_model_key(demo):
    del demo["models"]["tiny-bert"]["modality"]
    message = refusal(demo)
    assert "models.tiny-bert" in message
    assert "modality" in message


# --- cross-checks the schema cannot express -------------------------------------------


def test_undefined_model_in_experiment(demo):
    demo["experiments"]["retrieval"]["text_models"].append("bert-huge")
    message = refusal(demo)
    assert "experiments.retrieval.text_models" in message
    assert "bert-huge" in message


def test_text_model_under_vision_models_is_refused(demo):
    demo["experiments"]["retrieval"]["vision_models"].append("tiny-bert")
    message = refusal(demo)
    assert "experiments.retrieval.vision_models" in message
    assert "tiny-bert" in message
    assert "'text'" in message and "'vision'" in message


def test_undefined_dataset_in_experiment(demo):
    demo["experiments"]["retrieval"]["datasets"].append("coco")
    message = refusal(demo)
    assert "experiments.retrieval.datasets" in message
    assert "coco" in message


# --- local model paths ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["./no/such/dir", "/nonexistent/model", "models/org/name"])
def test_missing_local_model_directory(demo, tmp_path, path):
    demo["models"]["local"] = {"source": "hf", "id": path, "modality": "text"}
    message = refusal(demo, root=tmp_path)
    assert "models.local.id" in message
    assert path in message


def test_missing_weights_file(demo, tmp_path):
    demo["models"]["local"] = {
        "source": "torchvision", "id": "resnet18", "weights": "ckpt/resnet.safetensors", "modality": "vision",
    }
    message = refusal(demo, root=tmp_path)
    assert "models.local.weights" in message
    assert "ckpt/resnet.safetensors" in message


def test_local_model_resolved_against_the_workdir(demo, tmp_path):
    (tmp_path / "checkpoints" / "mine").mkdir(parents=True)
    demo["models"]["local"] = {"source": "hf", "id": "./checkpoints/mine", "modality": "text"}
    demo["models"]["absolute"] = {"source": "hf", "id": str(tmp_path / "checkpoints" / "mine"), "modality": "text"}
    validated = validate_config(demo, SCHEMA, root=tmp_path)
    assert validated["models"]["local"]["id"] == "./checkpoints/mine"


@pytest.mark.parametrize("hub_id", ["org/name", "bert-base-cased"])
def test_hub_id_need_not_exist(demo, tmp_path, hub_id):
    demo["models"]["hub"] = {"source": "hf", "id": hub_id, "modality": "text"}
    assert validate_config(demo, SCHEMA, root=tmp_path)["models"]["hub"]["id"] == hub_id


@pytest.mark.parametrize("wrong_id", ["resources/tiny-models/gpt2", "bert-base-cased", "./elsewhere/bert"])
def test_tiny_model_must_point_at_its_build_directory(demo, wrong_id):
    demo["models"]["tiny-bert"]["id"] = wrong_id
    message = refusal(demo)
    assert "models.tiny-bert" in message
    assert "resources/tiny-models/bert" in message


def test_unknown_tiny_architecture(demo):
    demo["models"]["tiny-bert"]["tiny"] = "llama"
    assert "models.tiny-bert.tiny" in refusal(demo)


# --- the same refusals through Snakemake ----------------------------------------------


def break_unknown_key(config):
    config["models"]["tiny-bert"]["colour"] = "red"
    return "config: unknown key models.tiny-bert.colour"


def break_unknown_source(config):
    config["models"]["tiny-vit"]["source"] = "onnx"
    return "config: models.tiny-vit.source:"


def break_undefined_model(config):
    config["experiments"]["retrieval"]["vision_models"].append("vit-huge")
    return "config: experiments.retrieval.vision_models: model 'vit-huge' is not defined"


@pytest.mark.parametrize("break_config", [break_unknown_key, break_unknown_source, break_undefined_model])
def test_snakemake_refuses_before_any_job(demo, tmp_path, break_config):
    expected = break_config(demo)
    configfile = tmp_path / "bad.yaml"
    configfile.write_text(yaml.safe_dump(demo), encoding="utf-8")
    workdir = tmp_path / "work"
    workdir.mkdir()

    result = subprocess.run(
        [str(ROOT / ".venv/bin/snakemake"), "-n", "--cores", "1", "--configfile", str(configfile),
         "-d", str(workdir), "-s", str(ROOT / "Snakefile")],
        capture_output=True, text=True, timeout=120,
    )
    output = result.stdout + result.stderr

    assert result.returncode != 0, output
    lines = [line for line in output.splitlines() if expected in line]
    assert len(lines) == 1, output
    # The message stands alone, not buried in a traceback.
    assert "Traceback" not in output
    assert not any(line.startswith(("rule ", "localrule ", "checkpoint ")) for line in output.splitlines()), output
    assert "Building DAG" not in output
    assert {path.name for path in workdir.iterdir()} <= {".snakemake"}


# --- params helpers -------------------------------------------------------------------


def test_canonical_ignores_key_order_and_layout():
    block = yaml.safe_load("source: hf\nid: org/name\nmodality: text\npooling: cls\n")
    flow = yaml.safe_load("{pooling: cls, modality: text, id: org/name, source: hf}")
    assert list(block) != list(flow)
    assert canonical(block) == canonical(flow)
    assert canonical({**block, "pooling": "mean"}) != canonical(block)


def test_model_spec_merges_embed_defaults_under_the_models_keys(demo):
    demo["models"]["tiny-bert"]["batch_size"] = 4
    config = validate_config(demo, SCHEMA)
    own = model_spec(config, "tiny-bert")
    inherited = model_spec(config, "tiny-vit")
    assert own["batch_size"] == 4
    assert inherited["batch_size"] == config["embed"]["batch_size"] == 32
    assert own["device"] == inherited["device"] == "cpu"
    assert own["dtype"] == "float32"
    assert {key: own[key] for key in config["models"]["tiny-bert"]} == config["models"]["tiny-bert"]
    # Worker count does not change the embeddings, so editing it must not rerun extraction.
    assert "workers" not in own


# --- one source of truth --------------------------------------------------------------


def test_schema_sources_match_the_encoder_registry():
    from synesthesia.models import SOURCES

    model = load_schema(SCHEMA)["$defs"]["model"]["properties"]
    assert set(model["source"]["enum"]) == set(SOURCES)
    assert len(model["source"]["enum"]) == len(SOURCES)


def test_schema_tiny_architectures_match_the_builders():
    from synesthesia.models.tiny import BUILDERS

    schema = load_schema(SCHEMA)
    models = schema["$defs"]["model"]["properties"]["tiny"]["enum"]
    generators = schema["properties"]["experiments"]["properties"]["t2i"]["properties"]["generator"]["properties"]
    assert sorted(models + generators["tiny"]["enum"]) == sorted(BUILDERS)


# --- text-to-image and cluster sections -----------------------------------------------


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda t: t.update(dataset="nowhere"), "experiments.t2i.dataset: dataset 'nowhere' is not defined"),
        (lambda t: t.update(dataset="shapes-concepts"), "is a concept dataset"),
        (lambda t: t["models"].append("tiny-vit"), "model 'tiny-vit' has modality 'vision'"),
        (lambda t: t["models"].append("generator-text-encoder"), "set `reference: true`"),
        (lambda t: t["training"].update(colour=1), "unknown key experiments.t2i.training.colour"),
        (lambda t: t["generator"].update(sampler="magic"), "experiments.t2i.generator.sampler"),
        (lambda t: t["generator"].update(id="./no-such-checkpoint", tiny=None) or t["generator"].pop("tiny"),
         "experiments.t2i.generator.id: local path ./no-such-checkpoint does not exist"),
    ],
    ids=["undefined-dataset", "concept-dataset", "vision-model", "reference-by-name", "unknown-key", "sampler",
         "missing-checkpoint"],
)
def test_bad_t2i_section_is_refused(demo, tmp_path, edit, expected):
    edit(demo["experiments"]["t2i"])
    with pytest.raises(ConfigError) as error:
        validate_config(demo, SCHEMA, root=tmp_path)
    assert expected in str(error.value)


def test_cluster_section_defaults_and_refusals(demo):
    assert validate_config(demo, SCHEMA)["cluster"] == {
        "account": None, "cpu_partition": None, "gpu_partition": None, "gpu_model": None, "constraint": None,
        "memory_scale": 1.0}
    demo["cluster"] = {"partition": "gpu"}
    assert "unknown key cluster.partition" in refusal(demo)
