"""Load and validate the workflow config before any job is planned.

``validate_config`` checks the config against the JSON schema (filling in its
defaults), then what a schema cannot say: every model an experiment names is
defined with the right modality, every local model path exists (or is built by
the workflow), every dataset is defined. Each failure is one line naming the key.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import jsonschema
import yaml

TINY_ROOT = "resources/tiny-models"
EXPERIMENT_MODEL_KEYS = {"text_models": "text", "vision_models": "vision"}
# Experiments whose `models` are all text models.
TEXT_EXPERIMENTS = ("glue", "sts", "association", "t2i")


def is_local_path(identifier: str) -> bool:
    """A model id names a local directory when it exists or is written as a path.

    Hub ids have at most one slash (``org/name``); anything starting with ``/``,
    ``.`` or ``~``, or with more than one slash, is a path.
    """
    return (
        os.path.isdir(os.path.expanduser(identifier))
        or identifier.startswith(("/", ".", "~"))
        or identifier.count("/") > 1
    )


class ConfigError(ValueError):
    """A config the workflow refuses; the message is one line naming the key at fault."""


def _with_defaults(validator_class):
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if isinstance(subschema, dict) and "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft202012Validator)


def load_schema(path: str | os.PathLike) -> dict:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _key_path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(part) for part in error.absolute_path) or "(top level)"


def _schema_error(error: jsonschema.ValidationError) -> ConfigError:
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - allowed)
        where = _key_path(error)
        keys = ", ".join(f"{where}.{key}" if error.absolute_path else key for key in unknown)
        return ConfigError(f"config: unknown key {keys}; allowed here: {', '.join(sorted(allowed))}")
    return ConfigError(f"config: {_key_path(error)}: {error.message}")


def validate_config(config: dict, schema_path: str | os.PathLike, root: str | os.PathLike = ".") -> dict:
    """Return a validated copy of ``config`` with defaults filled in, or raise ConfigError.

    ``root`` is the directory relative model paths are resolved against (the workdir).
    """
    config = copy.deepcopy(dict(config))
    validator = _Validator(load_schema(schema_path))
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is not None:
        raise _schema_error(error)
    _check_experiments(config)
    for name, entry in config["models"].items():
        _check_model_paths(name, entry, Path(root))
    generator = config["experiments"].get("t2i", {}).get("generator")
    if generator and not generator.get("tiny") and is_local_path(generator["id"]):
        path = Path(os.path.expanduser(generator["id"]))
        if not (path if path.is_absolute() else Path(root) / path).exists():
            raise ConfigError(f"config: experiments.t2i.generator.id: local path {generator['id']} does not exist")
    return config


def _check_experiments(config: dict) -> None:
    models, datasets = config["models"], config["datasets"]
    for experiment, spec in config["experiments"].items():
        if experiment == "t2i":
            _check_t2i(spec, datasets)
        keys = {"models": "text"} if experiment in TEXT_EXPERIMENTS else EXPERIMENT_MODEL_KEYS
        for key, modality in keys.items():
            for name in spec.get(key, []):
                where = f"experiments.{experiment}.{key}"
                if name not in models:
                    raise ConfigError(f"config: {where}: model {name!r} is not defined under `models`")
                if models[name]["modality"] != modality:
                    raise ConfigError(
                        f"config: {where}: model {name!r} has modality {models[name]['modality']!r}, "
                        f"expected {modality!r}"
                    )
        for name in spec.get("datasets", []):
            if name not in datasets:
                raise ConfigError(
                    f"config: experiments.{experiment}.datasets: dataset {name!r} is not defined under `datasets`"
                )
            is_concepts = datasets[name]["source"] == "concepts"
            if is_concepts != (experiment == "concepts"):
                kind = "a concept dataset (source: concepts)" if experiment == "concepts" else "a caption dataset"
                raise ConfigError(f"config: experiments.{experiment}.datasets: dataset {name!r} is not {kind}")
    for name, dataset in datasets.items():
        if dataset["source"] == "concepts" and dataset["dictionary"] not in config["dictionaries"]:
            raise ConfigError(
                f"config: datasets.{name}.dictionary: dictionary {dataset['dictionary']!r} is not defined "
                "under `dictionaries`"
            )
    for name in config["dictionaries"]:
        vocabulary_corpus(config, name)


def vocabulary_corpus(config: dict, dictionary: str) -> dict | None:
    """The sentence corpus whose words a built dictionary keeps, or None when it needs none.

    A dictionary built from WordNet without `vocabulary:` keeps the words its concept
    datasets have sentences for, as the study kept the words of its corpus; those
    datasets must then read one corpus.
    """
    spec = config["dictionaries"][dictionary]
    if spec["source"] != "imagenet21k" or spec.get("vocabulary"):
        return None
    corpora = {canonical(dataset["sentences"]) for dataset in config["datasets"].values()
               if dataset["source"] == "concepts" and dataset["dictionary"] == dictionary}
    if len(corpora) > 1:
        raise ConfigError(
            f"config: dictionaries.{dictionary}: its concept datasets read different sentence corpora; "
            "set `vocabulary:` (a file of words, one per line) to say which words the dictionary keeps"
        )
    return json.loads(corpora.pop()) if corpora else None


def _check_t2i(spec: dict, datasets: dict) -> None:
    name = spec["dataset"]
    if name not in datasets:
        raise ConfigError(f"config: experiments.t2i.dataset: dataset {name!r} is not defined under `datasets`")
    if datasets[name]["source"] == "concepts":
        raise ConfigError(f"config: experiments.t2i.dataset: dataset {name!r} is a concept dataset; "
                          "generation trains on caption-image pairs")
    from .t2i import REFERENCE_ENCODER

    if REFERENCE_ENCODER in spec["models"]:
        raise ConfigError(f"config: experiments.t2i.models: {REFERENCE_ENCODER!r} is the checkpoint's own text "
                          "encoder's row; set `reference: true` instead of naming it")


def tiny_model_dir(entry: dict) -> str | None:
    return f"{TINY_ROOT}/{entry['tiny']}" if entry.get("tiny") else None


def local_paths(entry: dict) -> dict[str, str]:
    """The entry's keys that name local files or folders, by key."""
    paths = {}
    if entry["source"] != "torchvision" and is_local_path(entry["id"]):
        paths["id"] = entry["id"]
    for key in ("weights", "pretrained"):
        value = entry.get(key)
        if isinstance(value, str) and (is_local_path(value) or Path(value).suffix in (".safetensors", ".pt", ".pth", ".bin")):
            paths[key] = value
    return paths


def _check_model_paths(name: str, entry: dict, root: Path) -> None:
    built = tiny_model_dir(entry)
    paths = local_paths(entry)
    if built:
        if not paths or not all(Path(p) == Path(built) or Path(built) in Path(p).parents for p in paths.values()):
            raise ConfigError(
                f"config: models.{name}: a tiny model is built into {built}; point id (or weights) there"
            )
        return
    for key, value in paths.items():
        path = Path(os.path.expanduser(value))
        if not (path if path.is_absolute() else root / path).exists():
            raise ConfigError(
                f"config: models.{name}.{key}: local path {value} does not exist "
                "(a hub id has the form org/name; a local model must exist before the run)"
            )


def canonical(entry: dict) -> str:
    """One model's or dataset's entry as a rule param: key order and YAML layout never rerun a job."""
    return json.dumps(entry, sort_keys=True, separators=(",", ":"))


def model_spec(config: dict, name: str) -> dict:
    """What an extraction job of ``name`` depends on: its own entry over the embed defaults."""
    defaults = {key: config["embed"][key] for key in ("device", "dtype", "batch_size")}
    return {**defaults, **config["models"][name]}


def load_yaml(path: str | os.PathLike) -> dict:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}
