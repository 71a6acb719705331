"""Everything a config needs from the internet, put into the local caches: ``python -m synesthesia prefetch``.

Compute nodes of many clusters are offline. Run this where the internet is reachable (a
login node): every hub model at its pinned revision goes into the Hugging Face cache
($HF_HOME), every hub dataset into the ``datasets`` cache, every torchvision, timm or
open_clip URL checkpoint where its library looks for it, and every file a download rule
fetches to the path that rule writes, so Snakemake finds that rule done. Jobs then run
with ``HF_HUB_OFFLINE=1``; a real run with the hub off first checks (:func:`offline_gaps`,
:func:`preflight`) that the caches hold everything, asking the same items (:mod:`.caches`).
"""

from __future__ import annotations

import functools
import os
import posixpath
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Mapping, NamedTuple, Sequence

from .caches import (
    WEIGHT_FILES,
    Deferred,
    Download,
    HubDataset,
    HubRepo,
    Item,
    Local,
    Skipped,
    gated_error,
    hub_page,
    torch_hub_item,
)
from .config import ConfigError, is_local_path, local_paths, missing_data_paths
from .logs import error_line

PREFETCH_COMMAND = "python -m synesthesia prefetch"
REACHABILITY_TIMEOUT_S = 2.0


# ---------------------------------------------------------------- what a config needs


def used_models(config: dict) -> list[str]:
    """Models some experiment runs, in config order: a defined model no experiment names is not fetched."""
    named = {name for spec in config["experiments"].values()
             for key in ("models", "text_models", "vision_models") for name in spec.get(key, [])}
    return [name for name in config["models"] if name in named]


def model_item(key: str, entry: dict) -> Item:
    """What one model entry needs: its hub repository, its library's checkpoint, or nothing (local, tiny)."""
    source, identifier, revision = entry["source"], entry["id"], entry.get("revision")
    if entry.get("tiny"):
        return Skipped("tiny", identifier, [key])
    paths = local_paths(entry)
    if paths:
        return Local("local", next(iter(paths.values())), [key])
    if source == "hf":
        return HubRepo("hf model", identifier, [key], revision, required=(("config.json",), WEIGHT_FILES),
                       code=bool(entry.get("trust_remote_code")))
    if source == "torchvision":
        return Deferred("torchvision", f"{identifier} {entry.get('weights')}", [key],
                        resolver=functools.partial(_torchvision_weights, identifier, entry.get("weights"), key))
    if source == "open_clip":
        return Deferred("open_clip", f"{identifier} {entry.get('pretrained') or ''}".strip(), [key],
                        resolver=functools.partial(_open_clip_weights, identifier, entry.get("pretrained"), key))
    if entry.get("pretrained", True) is False:
        return Skipped("timm", identifier, [key], note="no weights to fetch")
    return Deferred("timm", identifier, [key], resolver=functools.partial(_timm_weights, identifier, key))


def _torchvision_weights(architecture: str, weights: str | None, key: str) -> Item:
    import torchvision

    if not weights:
        return Skipped("torchvision", architecture, [key], note="no weights to fetch")
    return torch_hub_item("torchvision", torchvision.models.get_model_weights(architecture)[weights].url, key)


def _open_clip_weights(name: str, tag: str | None, key: str) -> Item:
    """The file open_clip's create_model reads: from the hub where its pretrained config names a
    repository (open_clip prefers it), else from its URL into ~/.cache/clip."""
    if name.startswith("hf-hub:"):
        return HubRepo("open_clip", name.removeprefix("hf-hub:"), [key], explicit=True,
                       required=(("open_clip_config.json",),
                                 ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")))
    import open_clip
    from open_clip.pretrained import _get_safe_alternatives  # open_clip's own order: safetensors first

    if not tag:
        return Skipped("open_clip", name, [key], note="no weights to fetch")
    config = open_clip.get_pretrained_cfg(name.replace("/", "-"), tag)
    if not config:
        raise ValueError(f"{key}: open_clip has no pretrained weights {tag!r} for {name}")
    if config.get("hf_hub"):
        repo, filename = os.path.split(config["hf_hub"])
        filename = filename or open_clip.constants.HF_WEIGHTS_NAME
        return HubRepo("open_clip", repo, [key], explicit=True,
                       required=((*_get_safe_alternatives(filename), filename),))
    url = config["url"]
    path = Path("~/.cache/clip").expanduser() / posixpath.basename(url)
    return Download("open_clip", url, [key], paths=(str(path),),
                    download=functools.partial(open_clip.pretrained.download_pretrained_from_url, url))


def _timm_weights(name: str, key: str) -> Item:
    """timm reads hub weights (model.safetensors, else pytorch_model.bin) where the pretrained config names a
    repository, else its URL through torch.hub."""
    if name.startswith("hf-hub:"):
        return HubRepo("timm", name.removeprefix("hf-hub:"), [key], explicit=True,
                       required=(("config.json",), ("model.safetensors", "pytorch_model.bin")))
    import timm.models

    config = timm.models.get_pretrained_cfg(name)
    if config is None:
        raise ValueError(f"{key}: timm has no pretrained weights for {name!r}")
    if config.hf_hub_id:
        files = (config.hf_hub_filename,) if config.hf_hub_filename else ("model.safetensors", "pytorch_model.bin")
        return HubRepo("timm", config.hf_hub_id, [key], explicit=True, required=(files,))
    return torch_hub_item("timm", config.url, key)


def _hub_dataset(kind: str, key: str, identifier: str, revision: str | None = None,
                 config_name: str | None = None) -> Item:
    if is_local_path(identifier):
        return Local("local", identifier, [key])
    return HubDataset(kind, identifier, [key], revision, config_name=config_name)


def dataset_items(config: dict, root: Path) -> list[Item]:
    """Hub datasets, GLUE's tasks, the study's files and WordNet, CxC's pairs and COCO's captions."""
    items = []
    for name, dataset in config["datasets"].items():
        if dataset["source"] == "hf":
            items.append(_hub_dataset("hf dataset", f"datasets.{name}", dataset["id"], dataset.get("revision")))
        for part in ("sentences", "images"):
            sub = dataset.get(part) or {}
            if sub.get("source") == "hf":
                items.append(_hub_dataset("hf dataset", f"datasets.{name}.{part}", sub["id"], sub.get("revision")))
    glue = config["experiments"].get("glue")
    if glue and glue["dataset"] != "demo":
        items += [_hub_dataset("hf dataset", "experiments.glue", glue["dataset"], config_name=task)
                  for task in glue["tasks"]]
    for name, dictionary in config["dictionaries"].items():
        items += _dictionary_items(name, dictionary, root)
    if config["experiments"].get("sts", {}).get("source") == "cxc":
        from .data import sts

        # The download_cxc rule's outputs (data.smk), written by the functions it runs.
        pairs, captions = root / "resources/cxc/sts_val.csv", root / "resources/cxc/captions_val2014.json"
        items += [Download("url", sts.CXC_STS_VAL_URL, ["experiments.sts"], paths=(str(pairs),),
                           download=functools.partial(sts.download_cxc_sts, pairs)),
                  Download("url", sts.COCO_ANNOTATIONS_URL, ["experiments.sts"], paths=(str(captions),),
                           download=functools.partial(sts.download_coco_captions, captions))]
    return items


def _dictionary_items(name: str, dictionary: dict, root: Path) -> list[Item]:
    key, items = f"dictionaries.{name}", []
    if dictionary["source"] == "study" and not dictionary.get("local"):
        # The dictionary rule's own fetch, into its own folder (data.smk: study_dir).
        from .data import vlca

        files = vlca.study_files((dictionary["name"],), bins=False)
        study_dir = root / "resources/vlca"
        items.append(Download("url", f"{vlca.RAW_BASE_URL} ({dictionary['name']})", [key],
                              paths=tuple(str(study_dir / f.path) for f in files),
                              download=functools.partial(vlca.fetch_study_files, study_dir, files=files)))
    published = dictionary["source"] == "published"
    if published and dictionary.get("filename") and not Path(dictionary["path"]).is_file():
        items.append(HubRepo("hf file", dictionary["path"], [key], dictionary.get("revision"), repo_type="dataset",
                             explicit=True, required=((dictionary["filename"],),)))
    if dictionary.get("wordnet") == "download":
        from .data import concepts

        data_dir = root / "resources/nltk_data" / name  # data.smk: the dictionary rule's wordnet_dir
        items.append(Download("nltk", "wordnet", [key], paths=(str(data_dir / "corpora/wordnet.zip"),),
                              download=functools.partial(concepts.download_wordnet, data_dir)))
    return items


def t2i_items(config: dict) -> list[Item]:
    """The generator (the UNet, VAE and scheduler it loads; its text encoder for the reference row), the
    CLIP of the CLIP score and, unless a local file is given, the FID Inception's weights."""
    t2i = config["experiments"].get("t2i")
    if not t2i:
        return []
    generator, items = t2i["generator"], []
    if generator.get("tiny"):
        items.append(Skipped("tiny", generator["id"], ["experiments.t2i.generator"]))
    elif is_local_path(generator["id"]):
        items.append(Local("local", generator["id"], ["experiments.t2i.generator"]))
    else:
        # generator.py loads unet/, vae/ and scheduler/; the reference row text_encoder/ with tokenizer/.
        towers = ("unet", "vae") + (("text_encoder",) if t2i["reference"] else ())
        required = tuple(group for tower in towers for group in
                         ((f"{tower}/config.json",), tuple(f"{tower}/{name}" for name in WEIGHT_FILES)))
        required += (("scheduler/scheduler_config.json",),) + ((("tokenizer/vocab.json",),) if t2i["reference"] else ())
        folders = towers + ("scheduler",) + (("tokenizer",) if t2i["reference"] else ())
        items.append(HubRepo("hf generator", generator["id"], ["experiments.t2i.generator"], generator.get("revision"),
                             required=required, folders=folders))
    metrics = t2i["metrics"]
    clip = metrics.get("clip_model")
    if clip is None:
        from .t2i.metrics import DEFAULTS

        clip = DEFAULTS["clip_model"]
    items.append(model_item("experiments.t2i.metrics.clip_model", {"modality": "text", **clip}))
    if metrics.get("inception_weights") is None:
        from .t2i.metrics import INCEPTION_WEIGHTS_URL

        items.append(Deferred("torch hub", INCEPTION_WEIGHTS_URL, ["experiments.t2i.metrics"],
                              resolver=functools.partial(torch_hub_item, "torch hub", INCEPTION_WEIGHTS_URL,
                                                         "experiments.t2i.metrics")))
    return items


def config_items(config: dict, root: Path = Path(".")) -> list[Item]:
    """Everything a validated config needs, one item per distinct thing, listing every key that needs it."""
    found = [model_item(f"models.{name}", config["models"][name]) for name in used_models(config)]
    found += t2i_items(config) + dataset_items(config, root)
    merged: dict[tuple, Item] = {}
    for item in found:
        if item.identity in merged:
            merged[item.identity].keys += item.keys
        else:
            merged[item.identity] = item
    return list(merged.values())


# ---------------------------------------------------------------- offline pre-flight


def hub_offline(timeout: float = REACHABILITY_TIMEOUT_S) -> bool:
    """Whether the hub is off: HF_HUB_OFFLINE set, or HF_ENDPOINT not answering within ``timeout`` seconds."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return True
    answered, reachable = threading.Event(), []

    def probe():
        try:
            with urllib.request.urlopen(urllib.request.Request(constants.ENDPOINT, method="HEAD"), timeout=timeout):
                reachable.append(True)
        except urllib.error.HTTPError:
            reachable.append(True)  # any HTTP answer means the hub is there
        except OSError:
            pass
        finally:
            answered.set()

    # A thread, because a name lookup that hangs ignores urlopen's timeout.
    threading.Thread(target=probe, daemon=True).start()
    answered.wait(timeout)
    return not reachable


class Gap(NamedTuple):
    """An item the config needs that this machine's caches lack: the config keys that need it, and one line."""

    keys: list[str]
    line: str


def offline_gaps(config: dict, root: Path = Path(".")) -> list[Gap]:
    """When the hub is off, each item the config needs that is not cached here, each also printed as a
    warning (a dry run plans anyway; a real run's :func:`preflight` refuses). Online: none, unchecked."""
    needed = [item for item in config_items(config, root) if item.remote]
    if not needed or not hub_offline():
        return []
    gaps = [Gap(item.keys, line) for item, line in zip(needed, map(_gap, needed)) if line]
    consequence = "a real run refuses to start" if config.get("preflight") != "warn" else "its jobs will fail"
    for gap in gaps:
        print(f"warning: {gap.line}; {consequence} (`{PREFETCH_COMMAND}` caches it)", file=sys.stderr)
    return gaps


def _gap(item: Item) -> str | None:
    try:
        return None if item.cached() else item.gap()
    except Exception as error:  # e.g. an open_clip tag its library does not know: the job would fail too
        return f"{item.gap()} (cannot tell: {error_line(error)})"


# Rules that read a download named by a config key outside `models.` and `datasets.`.
_DOWNLOADING_RULES = {"experiments.glue": ("glue_data",), "experiments.sts": ("download_cxc",)}
_MODEL_WILDCARDS = ("model", "text_model", "vision_model", "encoder")


def key_needed(key: str, jobs: Sequence[tuple[str, Mapping[str, str]]]) -> bool:
    """Whether one of ``jobs`` (rule name, wildcards) reads what config key ``key`` names; a key this
    does not know counts as needed."""
    section, _, rest = key.partition(".")
    if section == "models":
        return any(rest in (wildcards.get(name) for name in _MODEL_WILDCARDS) for _, wildcards in jobs)
    if section == "datasets":
        dataset = rest.split(".")[0]
        # corpus_vocabulary reads a concept dataset's sentence corpus for its dictionary.
        return any(wildcards.get("dataset") == dataset or rule == "corpus_vocabulary" for rule, wildcards in jobs)
    if section == "dictionaries":
        return any(rule == "dictionary" and wildcards.get("dictionary") == rest for rule, wildcards in jobs)
    if key.startswith("experiments.t2i"):
        return any(rule.startswith("t2i_") for rule, _ in jobs)
    if key in _DOWNLOADING_RULES:
        return any(rule in _DOWNLOADING_RULES[key] for rule, _ in jobs)
    return True


def preflight(config: dict, root: Path, gaps: list[Gap],
              jobs: Sequence[tuple[str, Mapping[str, str]]] | None = None) -> None:
    """Before the first job of a real run: local paths that do not exist and (offline) ``gaps`` stop the
    run with the whole list, or with ``preflight: warn`` are printed and the jobs that can run, run.

    ``jobs`` (rule name, wildcards) are the run's planned jobs: only gaps one of them needs count, so a
    target that needs nothing uncached runs.
    """
    needed = [gap for gap in gaps if jobs is None or any(key_needed(key, jobs) for key in gap.keys)]
    problems = missing_data_paths(config, root) + [gap.line for gap in needed]
    if not problems:
        return
    hint = (f"\nWhere the hub is reachable (a login node), `{PREFETCH_COMMAND}` with the same --configfile "
            "caches the hub's models and datasets and the files the download rules fetch." if needed else "")
    if config.get("preflight") == "warn":
        print("warning: preflight: warn: running the jobs that can run; those that need these will fail:\n  "
              + "\n  ".join(problems) + hint, file=sys.stderr)
        return
    raise ConfigError("config: this run needs what this machine does not have (preflight: strict; "
                      "`preflight: warn` runs the jobs that can run):\n  " + "\n  ".join(problems) + hint)


# ---------------------------------------------------------------- the command


def prefetch(items: list[Item]) -> list[dict]:
    """Fetch every remote item not cached yet; one row per item: item, kind, size, where, status."""
    from tqdm.auto import tqdm

    rows = []
    for item in tqdm(items, desc="prefetch", unit="item"):
        status = "local" if isinstance(item, Local) else item.note if isinstance(item, Skipped) else ""
        try:
            if isinstance(item, Local) and not item.cached():
                status = "missing"
            elif item.remote and item.cached():
                status = "cached"
            elif item.remote:
                tqdm.write(f"{item.kind} {item.label} ...", file=sys.stderr)
                item.fetch()
                status = "fetched" if item.cached() else "incomplete after fetching"
        except Exception as error:  # one failure must not stop the others
            status = "gated" if gated_error(error) else f"failed: {error_line(error)}"
        rows.append({"item": item.label, "kind": item.kind, "size": human_size(_quiet(item.size)),
                     "where": _quiet(item.location) or "", "status": status,
                     "page": hub_page(item) if status == "gated" else None})
    return rows


def _quiet(method):
    try:
        return method()
    except Exception:  # a size or place that cannot be told is left blank in the table
        return None


def human_size(size: int | None) -> str:
    if size is None:
        return ""
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


def render_table(rows: list[dict]) -> str:
    columns = ("item", "kind", "size", "where", "status")
    widths = {column: max(len(column), *(len(str(row[column])) for row in rows)) for column in columns}
    lines = ["  ".join(column.ljust(widths[column]) for column in columns).rstrip()]
    lines += ["  ".join(str(row[column]).ljust(widths[column]) for column in columns).rstrip() for row in rows]
    return "\n".join(lines)


FAILED = ("gated", "missing", "failed", "incomplete")


def fetch_all(config: dict, root: Path) -> tuple[str, bool]:
    """Fetch what a validated config needs; the closing table, and whether everything is there."""
    rows = prefetch(config_items(config, root))
    table = render_table(rows) if rows else "prefetch: the config needs nothing from the internet"
    table += "".join(f"\n{row['item']}: accept the licence on {row['page']} and set HF_TOKEN"
                     for row in rows if row["page"])
    return table, not any(row["status"].startswith(FAILED) for row in rows)


def run(configfile: Path, schema: Path, root: Path) -> int:
    """The command: validate the config, fetch, print the table; 1 when anything is not there."""
    from .config import load_yaml, validate_config

    table, complete = fetch_all(validate_config(load_yaml(configfile), schema, root=root, missing_data="warn"), root)
    print(table)
    return 0 if complete else 1
