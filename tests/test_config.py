"""The config contract: a bad config is refused with one line naming the key, before any job runs."""

from __future__ import annotations

import copy
import json
import subprocess

import pytest
import yaml
from conftest import ROOT, SCHEMA

from synesthesia.config import ConfigError, canonical, load_schema, load_yaml, model_spec, validate_config


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
    # The paper grid's ImageNet-21K folder exists on a real run's machine only: planning warns.
    validated = validate_config(config, SCHEMA, root=tmp_path, missing_data="warn")
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


@pytest.mark.parametrize("section", ["factors", "similarity"])
def test_the_old_bootstrap_key_is_refused_with_its_new_name(demo, section):
    demo["experiments"]["concepts"][section]["n_boot"] = 100
    assert refusal(demo) == (f"config: experiments.concepts.{section}.n_boot: renamed `half_samples` (its intervals "
                             "come from half-samples drawn without replacement, not a bootstrap); rename the key")


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


# --- refusals the model's source and its own config.json decide ----------------------


def _checkpoint(folder, **config):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return str(folder)


@pytest.mark.parametrize("model, pooling, expected", [
    ("tiny-vit", "eos", "config: models.tiny-vit.pooling: 'eos' is not offered for hf vision models; "
                        "choose one of cls, mean, pooler"),
    ("tiny-resnet", "cls", "config: models.tiny-resnet.pooling: 'cls' is not offered for torchvision vision models"),
    ("tiny-bert", "projection", "config: models.tiny-bert.pooling: 'projection' is not offered for hf text models"),
])
def test_pooling_the_source_does_not_offer_is_refused(demo, model, pooling, expected):
    demo["models"][model]["pooling"] = pooling
    assert refusal(demo).startswith(expected)


def test_cls_pooling_on_a_feature_map_backbone_is_refused(demo, tmp_path):
    folder = _checkpoint(tmp_path / "resnet", model_type="resnet", depths=[1, 1])
    demo["models"]["hf-resnet"] = {"source": "hf", "id": folder, "modality": "vision", "pooling": "cls"}
    assert "models.hf-resnet.pooling: " in refusal(demo, tmp_path) and "no CLS token; use mean or pooler" in refusal(
        demo, tmp_path)


@pytest.mark.parametrize("layer, ok", [(2, True), (-3, True), (0, True), (3, False), (-4, False), (99, False)])
def test_layer_outside_the_checkpoint_is_refused(demo, tmp_path, layer, ok):
    folder = _checkpoint(tmp_path / "bert", model_type="bert", num_hidden_layers=2)
    demo["models"]["bert"] = {"source": "hf", "id": folder, "modality": "text", "layer": layer}
    if ok:
        validate_config(demo, SCHEMA, root=tmp_path)
    else:
        assert refusal(demo, tmp_path) == (f"config: models.bert.layer: {layer} is out of range; {folder} has 2 "
                                           "layers, so layer is one of -3..2 (0 = the embeddings)")


def test_layer_of_a_clip_tower_is_read_from_its_own_config(demo, tmp_path):
    folder = _checkpoint(tmp_path / "clip", model_type="clip", text_config={"num_hidden_layers": 3},
                         vision_config={"num_hidden_layers": 5})
    demo["models"]["clip-vision"] = {"source": "hf", "id": folder, "modality": "vision", "family": "clip",
                                     "pooling": "mean", "layer": 5}
    validate_config(demo, SCHEMA, root=tmp_path)
    demo["models"]["clip-vision"]["modality"] = "text"
    assert "models.clip-vision.layer: 5 is out of range" in refusal(demo, tmp_path)


def test_modality_contradicting_the_checkpoint_is_refused(demo, tmp_path):
    folder = _checkpoint(tmp_path / "bert", model_type="bert")
    demo["models"]["bert"] = {"source": "hf", "id": folder, "modality": "vision"}
    assert refusal(demo, tmp_path) == (f"config: models.bert.modality: {folder} is a 'bert' checkpoint, which takes "
                                       "text input, not vision")


@pytest.mark.parametrize("entry, expected", [
    ({"source": "torchvision", "id": "resnet18", "modality": "text"},
     "config: models.m: source torchvision has no text models; set modality: vision"),
    ({"source": "torchvision", "id": "resnet18", "weights": "IMAGENET1K_V1", "modality": "vision", "layer": 2},
     "config: models.m.layer: torchvision models are read at their output; remove `layer`"),
])
def test_entries_the_source_cannot_serve_are_refused(demo, entry, expected):
    demo["models"]["m"] = entry
    assert refusal(demo) == expected


def test_model_id_naming_a_file_is_refused(demo, tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"")
    demo["models"]["m"] = {"source": "hf", "id": str(tmp_path / "model.safetensors"), "modality": "text"}
    assert refusal(demo, tmp_path).startswith(f"config: models.m.id: {tmp_path / 'model.safetensors'} is a file; "
                                              "a local model is the folder that save_pretrained wrote")


# --- local data paths ------------------------------------------------------------------


def test_a_dataset_folder_that_does_not_exist_is_refused_or_warned(demo, tmp_path, capsys):
    demo["datasets"]["photos"] = {"source": "folder", "root": str(tmp_path / "photos"),
                                  "captions": str(tmp_path / "captions.tsv")}
    assert refusal(demo, tmp_path) == (f"config: datasets.photos.root: {tmp_path / 'photos'} does not exist "
                                       "(and 1 more)")
    validate_config(demo, SCHEMA, root=tmp_path, missing_data="warn")
    warned = capsys.readouterr().err.splitlines()
    assert warned == [f"warning: config: datasets.photos.root: {tmp_path / 'photos'} does not exist; a real run "
                      "refuses to start",
                      f"warning: config: datasets.photos.captions: {tmp_path / 'captions.tsv'} does not exist; a "
                      "real run refuses to start"]


# --- YAML files ------------------------------------------------------------------------


def test_duplicate_keys_are_refused_with_their_lines(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("models:\n  bert: {source: hf}\n  vit: {source: hf}\n  bert: {source: timm}\n")
    with pytest.raises(ConfigError, match=rf"^{path}:4:3: key 'bert' given twice in one mapping \(first on line 2\)"):
        load_yaml(path)


def test_yaml_syntax_errors_name_file_line_and_column(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("models:\n  bert: {source: hf\n  vit: 1\n")
    with pytest.raises(ConfigError, match=rf"^{path}:3:6: expected ',' or '}}', but got ':'"):
        load_yaml(path)


def test_snakemake_refuses_duplicate_keys_and_missing_data_before_any_job(demo, tmp_path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    snakemake = [str(ROOT / ".venv/bin/snakemake"), "--cores", "1", "-d", str(workdir), "-s", str(ROOT / "Snakefile")]
    duplicated = tmp_path / "dup.yaml"
    duplicated.write_text(yaml.safe_dump(demo) + "embed: {device: cpu}\n")
    result = subprocess.run([*snakemake, "-n", "--configfile", str(duplicated)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode != 0 and f"{duplicated}:" in result.stderr and "key 'embed' given twice" in result.stderr

    demo["datasets"]["photos"] = {"source": "folder", "root": "/nonexistent/photos", "captions": "/nonexistent/c.tsv"}
    missing = tmp_path / "missing.yaml"
    missing.write_text(yaml.safe_dump(demo))
    planned = subprocess.run([*snakemake, "-n", "--configfile", str(missing)], capture_output=True, text=True,
                             timeout=120)
    assert planned.returncode == 0 and "warning: config: datasets.photos.root: /nonexistent/photos does not exist" \
        in planned.stderr
    run = subprocess.run([*snakemake, "--configfile", str(missing)], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode != 0
    # The whole list, one line each (synesthesia.prefetch.preflight).
    assert ("\n  datasets.photos.root: /nonexistent/photos does not exist\n"
            "  datasets.photos.captions: /nonexistent/c.tsv does not exist") in run.stdout + run.stderr
    assert not (workdir / "resources").exists()


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
        "memory_scale": 1.0, "max_mem_mb": None}
    demo["cluster"] = {"partition": "gpu"}
    assert "unknown key cluster.partition" in refusal(demo)
