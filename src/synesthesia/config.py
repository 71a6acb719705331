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
import sys
from pathlib import Path

import jsonschema
import yaml

TINY_ROOT = "resources/tiny-models"
# What each source's encoder can pool a vector with, by modality (family clip adds the projection for hf).
SOURCE_POOLINGS = {
    ("hf", "text"): ("cls", "mean", "eos", "pooler"),
    ("hf", "vision"): ("cls", "mean", "pooler"),
    ("open_clip", "text"): ("projection", "pooler"),
    ("open_clip", "vision"): ("projection", "pooler"),
    ("timm", "vision"): ("pooler",),
    ("torchvision", "vision"): ("pooler",),
}
# Checkpoint types (config.json `model_type`) and the inputs they take; other types are not checked.
MODEL_TYPE_MODALITIES = {
    **dict.fromkeys(["bert", "roberta", "xlm-roberta", "distilbert", "albert", "electra", "deberta", "deberta-v2",
                     "mpnet", "gpt2", "gpt_neox", "opt", "llama", "mistral", "mixtral", "gemma", "gemma2", "qwen2",
                     "phi", "phi3", "falcon", "bloom", "t5", "clip_text_model"], ("text",)),
    **dict.fromkeys(["vit", "vit_mae", "deit", "beit", "dinov2", "data2vec-vision", "segformer", "resnet",
                     "convnext", "convnextv2", "regnet", "swin", "swinv2", "efficientnet", "mobilenet_v2",
                     "clip_vision_model"], ("vision",)),
    **dict.fromkeys(["clip", "siglip", "blip", "align"], ("text", "vision")),
}
# Vision backbones whose output is a feature map, not a token sequence: no CLS token to pool.
NO_CLS_TOKEN = {"segformer", "resnet", "convnext", "convnextv2", "regnet", "swin", "swinv2", "efficientnet",
                "mobilenet_v2"}
EXPERIMENT_MODEL_KEYS = {"text_models": "text", "vision_models": "vision"}
# Experiments whose `models` are all text models.
TEXT_EXPERIMENTS = ("glue", "sts", "association", "t2i")
# The t2i row of the generator checkpoint's own text encoder (conditioned through the same adapter
# path): a name no model entry may take.
REFERENCE_ENCODER = "generator-text-encoder"


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


_SCALARS = {"integer": int, "number": float}


def _branches(schema: dict, root: dict) -> list[dict]:
    """A schema and the schemas it combines (``$ref``, ``allOf``, ``if``/``then``), flattened."""
    if "$ref" in schema:
        definition = root["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
        schema = {**definition, **{k: v for k, v in schema.items() if k != "$ref"}}
    found = [schema]
    for part in [*schema.get("allOf", []), schema.get("then", {})]:
        if isinstance(part, dict) and part:
            found += _branches(part, root)
    return found


def _from_command_line(value, schema: dict, root: dict):
    """``value`` with the strings Snakemake's ``--config`` makes of numbers, booleans and null
    turned back into them wherever the schema expects one (it parses nested values as plain strings)."""
    branches = _branches(schema, root) if isinstance(schema, dict) else []
    if isinstance(value, dict):
        for key in value:
            sub = next((b["properties"][key] for b in branches if key in b.get("properties", {})), None)
            if sub is None:
                sub = next((b["additionalProperties"] for b in branches
                            if isinstance(b.get("additionalProperties"), dict)), None)
            if isinstance(sub, dict):
                value[key] = _from_command_line(value[key], sub, root)
        return value
    if isinstance(value, list):
        items = next((b["items"] for b in branches if isinstance(b.get("items"), dict)), None)
        return [_from_command_line(v, items, root) for v in value] if items else value
    if not isinstance(value, str):
        return value
    types = set()
    for branch in branches:
        kind = branch.get("type", [])
        types |= {kind} if isinstance(kind, str) else set(kind)
    if "null" in types and value in ("null", "~"):
        return None
    if "boolean" in types and value in ("true", "false"):
        return value == "true"
    for name, convert in _SCALARS.items():
        if name in types and "string" not in types:
            try:
                return convert(value)
            except ValueError:
                pass
    return value


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


# File names that are model weights, whatever their folder: local paths for the model-path checks.
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")

# Keys renamed since configs were written with them: the old name is refused, naming the new one and why.
_HALF_SAMPLES = ("half_samples", "its intervals come from half-samples drawn without replacement, not a bootstrap")
RENAMED_KEYS = {
    ("experiments", "concepts", "factors", "n_boot"): _HALF_SAMPLES,
    ("experiments", "concepts", "similarity", "n_boot"): _HALF_SAMPLES,
}


def refuse_renamed_keys(config: dict) -> None:
    """ConfigError for the first key of RENAMED_KEYS the config still uses."""
    for path, (new, why) in RENAMED_KEYS.items():
        node = config
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and path[-1] in node:
            raise ConfigError(f"config: {'.'.join(path)}: renamed `{new}` ({why}); rename the key")


def validate_config(config: dict, schema_path: str | os.PathLike, root: str | os.PathLike = ".",
                    missing_data: str = "refuse") -> dict:
    """Return a validated copy of ``config`` with defaults filled in, or raise ConfigError.

    ``root`` is the directory relative model and data paths are resolved against (the
    workdir). ``missing_data``: what a local dataset path that does not exist gets:
    ``refuse``, ``warn`` (a dry run planning a grid elsewhere) or ``skip`` (a job).
    """
    schema = load_schema(schema_path)
    config = _from_command_line(copy.deepcopy(dict(config)), schema, schema)
    refuse_renamed_keys(config)
    validator = _Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is not None:
        raise _schema_error(error)
    _check_experiments(config)
    for name, entry in config["models"].items():
        _check_model_paths(name, entry, Path(root))
        check_model_entry(name, entry, read_model_config(entry, Path(root)))
    if missing_data == "refuse":
        require_data_paths(config, Path(root))
    elif missing_data == "warn":
        for problem in missing_data_paths(config, Path(root)):
            print(f"warning: config: {problem}; a real run refuses to start", file=sys.stderr)
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
        if isinstance(value, str) and (is_local_path(value) or Path(value).suffix in WEIGHT_SUFFIXES):
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
        path = path if path.is_absolute() else root / path
        if key == "id" and path.is_file():
            raise ConfigError(f"config: models.{name}.id: {value} is a file; a local model is the folder that "
                              "save_pretrained wrote (config.json beside the weights)")
        if not path.exists():
            raise ConfigError(
                f"config: models.{name}.{key}: local path {value} does not exist "
                "(a hub id has the form org/name; a local model must exist before the run)"
            )


def offered_poolings(entry: dict) -> tuple[str, ...]:
    """The poolings an entry's source offers for its modality."""
    poolings = SOURCE_POOLINGS.get((entry["source"], entry["modality"]), ())
    clip = entry["source"] == "hf" and entry.get("family") == "clip"
    return poolings + (("projection",) if clip else ())


def read_model_config(entry: dict, root: Path) -> dict | None:
    """An hf model's config.json, from its folder or the local hub cache; None when neither has it.

    Read as JSON without transformers: it is checked at every plan, and a config
    saved by transformers omits values equal to its defaults, so only what it names is checked.
    """
    if entry["source"] != "hf":
        return None
    folder = Path(os.path.expanduser(entry["id"]))
    folder = folder if folder.is_absolute() else root / folder
    if folder.is_dir():
        file = folder / "config.json"
    elif is_local_path(entry["id"]):
        return None
    else:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(entry["id"], "config.json", revision=entry.get("revision"))
        file = Path(cached) if isinstance(cached, str) else None
    if file is None or not file.is_file():
        return None
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except ValueError as error:
        raise ConfigError(f"config: models: {file} is not valid JSON ({error})") from error


def check_model_entry(name: str, entry: dict, model_config: dict | None) -> None:
    """What one model entry asks for, against its source and (when known) its checkpoint's config."""
    where = f"config: models.{name}"
    source, modality = entry["source"], entry["modality"]
    if (source, modality) not in SOURCE_POOLINGS:
        raise ConfigError(f"{where}: source {source} has no {modality} models; set modality: vision")
    pooling = entry.get("pooling")
    if pooling and pooling not in offered_poolings(entry):
        raise ConfigError(f"{where}.pooling: {pooling!r} is not offered for {source} {modality} models; "
                          f"choose one of {', '.join(offered_poolings(entry))}")
    if "layer" in entry and source != "hf":
        raise ConfigError(f"{where}.layer: {source} models are read at their output; remove `layer`")
    if extra_layers_asked(entry) and source != "hf":
        raise ConfigError(f"{where}.layers: {source} models are read at their output only; remove `layers` "
                          "(or set it to last)")
    if "store_dtype" in entry and not extra_layers_asked(entry):
        raise ConfigError(f"{where}.store_dtype: applies to the arrays of `layers` only, and this entry stores no "
                          "layers beyond its main vector; remove store_dtype or set layers")
    if extra_layers_asked(entry) and pooling in ("pooler", "projection"):
        raise ConfigError(f"{where}.layers: pooling {pooling!r} exists only at the last layer, so the other layers "
                          "cannot be pooled like the main vector; pool with cls, mean or eos, or remove `layers`")
    spread = [key for key in ("device_map", "max_memory", "offload_folder") if key in entry]
    spread += ["gpus"] if entry.get("gpus", 1) > 1 else []
    if spread and source != "hf":
        raise ConfigError(f"{where}: {', '.join(spread)}: only hf models are spread over devices; "
                          f"{source} models run on one")
    if spread and "device_map" not in entry:
        raise ConfigError(f"{where}: {', '.join(spread)} needs device_map (auto or sequential) to place the layers")
    if "gpus" in entry and entry.get("device") == "cpu":
        raise ConfigError(f"{where}.gpus: the model runs on device cpu; remove gpus or device")
    if model_config is None:
        return
    model_type = model_config.get("model_type", "")
    modalities = MODEL_TYPE_MODALITIES.get(model_type)
    if modalities and modality not in modalities:
        raise ConfigError(f"{where}.modality: {entry['id']} is a {model_type!r} checkpoint, which takes "
                          f"{' and '.join(modalities)} input, not {modality}")
    if pooling == "cls" and modality == "vision" and model_type in NO_CLS_TOKEN:
        raise ConfigError(f"{where}.pooling: {entry['id']} ({model_type}) outputs a feature map with no CLS "
                          "token; use mean or pooler")
    depth = transformer_depth(entry, model_config)
    if "layer" in entry:
        # hidden_states holds the embeddings and one entry per layer: indices -(depth + 1) .. depth.
        if depth is not None and not -(depth + 1) <= entry["layer"] <= depth:
            raise ConfigError(f"{where}.layer: {entry['layer']} is out of range; {entry['id']} has {depth} layers, "
                              f"so layer is one of {-(depth + 1)}..{depth} (0 = the embeddings)")
    if depth is not None and extra_layers_asked(entry):
        resolve_layers(name, entry, depth)


def transformer_depth(entry: dict, model_config: dict | None) -> int | None:
    """The number of transformer layers of the entry's tower, from its checkpoint's config.json
    (``num_hidden_layers``, or GPT-2's ``n_layer``); None where the config is unknown or names neither."""
    if model_config is None:
        return None
    modalities = MODEL_TYPE_MODALITIES.get(model_config.get("model_type", ""))
    two_towers = modalities == ("text", "vision")
    tower = model_config.get(f"{entry['modality']}_config", model_config) if two_towers else model_config
    return tower.get("num_hidden_layers", tower.get("n_layer"))


def similarity_aligns(concepts: dict | None) -> bool:
    """Whether the concepts experiment's similarity stage also aligns concepts at every layer pair
    (``similarity.alignment``)."""
    return "alignment" in ((concepts or {}).get("similarity") or {})


def extra_layers_asked(entry: dict) -> bool:
    """Whether the entry asks for hidden states beyond its main vector (``layers`` other than ``last``)."""
    return entry.get("layers", "last") != "last"


def resolve_layers(name: str, entry: dict, depth: int) -> list[int]:
    """The hidden-state indices (0 = the embeddings .. ``depth``) the entry's ``layers`` stores, sorted, each
    once: ``all`` is every one, ``last`` none beyond the main vector, a list is read like ``layer`` (negative
    from the end). An index out of range is refused naming the model."""
    layers = entry.get("layers", "last")
    if layers == "last":
        return []
    if layers == "all":
        return list(range(depth + 1))
    outside = [index for index in layers if not -(depth + 1) <= index <= depth]
    if outside:
        raise ConfigError(f"config: models.{name}.layers: {outside} out of range; {entry['id']} has {depth} layers, "
                          f"so each index is one of {-(depth + 1)}..{depth} (0 = the embeddings)")
    return sorted({index % (depth + 1) for index in layers})


def missing_data_paths(config: dict, root: Path) -> list[str]:
    """Local dataset and dictionary files the config names that do not exist, one line each."""
    def local(value) -> bool:
        return isinstance(value, str) and value != "download" and is_local_path(value)

    named = []
    for name, dataset in config["datasets"].items():
        named += [(f"datasets.{name}.{key}", dataset.get(key)) for key in ("root", "captions")]
        for part in ("sentences", "images"):
            sub = dataset.get(part) or {}
            named += [(f"datasets.{name}.{part}.{key}", sub.get(key)) for key in ("root", "path")]
            if sub.get("source") == "hf":
                named.append((f"datasets.{name}.{part}.id", sub["id"] if local(sub["id"]) else None))
        if dataset["source"] == "hf" and local(dataset.get("id")):
            named.append((f"datasets.{name}.id", dataset["id"]))
    for name, dictionary in config["dictionaries"].items():
        named += [(f"dictionaries.{name}.{key}", dictionary.get(key))
                  for key in ("vocabulary", "frequencies", "wordnet")]
        if dictionary["source"] == "published" and local(dictionary.get("path")):
            named.append((f"dictionaries.{name}.path", dictionary["path"]))
    missing = []
    for key, value in named:
        if value is None or value == "download":
            continue
        path = Path(os.path.expanduser(value))
        if not (path if path.is_absolute() else root / path).exists():
            missing.append(f"{key}: {value} does not exist")
    return missing


def require_data_paths(config: dict, root: Path) -> None:
    missing = missing_data_paths(config, root)
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ConfigError(f"config: {missing[0]}{more}")


def canonical(entry: dict) -> str:
    """One model's or dataset's entry as a rule param: key order and YAML layout never rerun a job."""
    return json.dumps(entry, sort_keys=True, separators=(",", ":"))


def model_spec(config: dict, name: str) -> dict:
    """What an extraction job of ``name`` depends on: its own entry over the embed defaults."""
    defaults = {key: config["embed"][key] for key in ("device", "dtype", "batch_size")}
    return {**defaults, **config["models"][name]}


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader that refuses a key given twice in one mapping (plain YAML keeps the last)."""


def _unique_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    first_line = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        mark = key_node.start_mark
        if key in first_line:
            raise ConfigError(f"{mark.name}:{mark.line + 1}:{mark.column + 1}: key {key!r} given twice in one "
                              f"mapping (first on line {first_line[key]}); YAML would keep only the last")
        first_line[key] = mark.line + 1
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def load_yaml(path: str | os.PathLike) -> dict:
    """A YAML file as a dict; syntax errors and duplicate keys refused with file, line and column."""
    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.load(handle, Loader=_StrictLoader) or {}
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        context = f" ({error.context})" if error.context else ""
        raise ConfigError(f"{where}: {error.problem}{context}") from error
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from error
