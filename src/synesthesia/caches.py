"""What is in the local caches, and how to put it there: one kind of item per kind of download.

An :class:`Item` is one thing a run reads from the internet: a hub repository's files
(:class:`HubRepo`, in the Hugging Face cache), a hub dataset as ``datasets`` prepares it
(:class:`HubDataset`, the only form an offline ``load_dataset`` reads), files a URL
download writes (:class:`Download`: torch.hub checkpoints, the workflow's download rules),
or nothing to fetch (:class:`Local`, :class:`Skipped`). :meth:`Item.cached` is the one answer
to "is it here" for both ``python -m synesthesia prefetch`` and a run's offline pre-flight.
Items import their libraries only when asked, so listing them costs nothing.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import os
import posixpath
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable

# Besides weights, what a model's loader reads: configs, processors, tokenizers, chat templates.
SUPPORT_PATTERNS = ("*.json", "*.txt", "*.model", "*.tiktoken", "*.jinja", "tokenizer*", "vocab*", "merges*")
# Weights that transformers and diffusers read, as file-name stems (shards add "-00001-of-00002").
LOADER_WEIGHT_STEMS = ("model", "pytorch_model", "diffusion_pytorch_model")
# One of these (with every shard an index lists) means a folder's weights are cached.
WEIGHT_FILES = tuple(f"{stem}.{suffix}" for stem in LOADER_WEIGHT_STEMS
                     for suffix in ("safetensors", "safetensors.index.json", "bin", "bin.index.json"))


@dataclass
class Item:
    """One thing to fetch, named by the config ``keys`` that need it."""

    kind: str
    target: str
    keys: list[str] = field(default_factory=list)
    revision: str | None = None
    remote = True  # False: nothing to fetch (a local path, a model the workflow builds)

    @property
    def identity(self) -> tuple:
        return type(self).__name__, self.target, self.revision

    @property
    def label(self) -> str:
        return f"{self.target}@{self.revision}" if self.revision else self.target

    def cached(self) -> bool:
        raise NotImplementedError

    def fetch(self) -> None:
        raise NotImplementedError

    def location(self) -> str:
        return ""

    def size(self) -> int | None:
        return None

    def gap(self) -> str:
        """The pre-flight's line for this item when it is not cached."""
        return f"{', '.join(self.keys)}: {self.kind} {self.label} is not cached"


@dataclass
class HubRepo(Item):
    """Files of one hub repository. ``required``: groups of repository paths, one of each group must be
    cached. ``folders``: where a loader reads (select_files picks their files); with ``explicit``, the
    first file of each ``required`` group the repository has is all that is fetched."""

    repo_type: str = "model"
    required: tuple[tuple[str, ...], ...] = ()
    folders: tuple[str, ...] = ("",)
    explicit: bool = False
    code: bool = False  # trust_remote_code: the repository's Python files too

    @property
    def identity(self) -> tuple:
        return "HubRepo", self.repo_type, self.target, self.revision, self.required

    def _cached_path(self, filename: str) -> str | None:
        from huggingface_hub import try_to_load_from_cache

        path = try_to_load_from_cache(self.target, filename, revision=self.revision, repo_type=self.repo_type)
        return path if isinstance(path, str) else None

    def _file_cached(self, filename: str) -> bool:
        path = self._cached_path(filename)
        if path is None or not filename.endswith(".index.json"):
            return path is not None
        # Sharded weights are whole only with every shard the index lists (an interrupted fetch has the index first).
        folder = posixpath.dirname(filename)
        shards = set(json.loads(Path(path).read_text(encoding="utf-8")).get("weight_map", {}).values())
        return all(self._cached_path(posixpath.join(folder, shard)) for shard in shards)

    def cached(self) -> bool:
        return all(any(self._file_cached(name) for name in group) for group in self.required)

    def fetch(self) -> None:
        from huggingface_hub import HfApi, snapshot_download

        files = HfApi().list_repo_files(self.target, repo_type=self.repo_type, revision=self.revision)
        if self.explicit:
            missing = [group for group in self.required if not set(group) & set(files)]
            if missing:
                raise FileNotFoundError(f"{self.target}: the repository has none of {', '.join(missing[0])}")
            wanted = [next(name for name in group if name in files) for group in self.required]
        else:
            wanted = select_files(files, self.folders, self.code)
        snapshot_download(self.target, repo_type=self.repo_type, revision=self.revision, allow_patterns=wanted)

    def _snapshot(self) -> Path | None:
        for name in (name for group in self.required for name in group):
            path = self._cached_path(name)
            if path:
                return Path(path).parents[len(PurePosixPath(name).parts) - 1]
        return None

    def location(self) -> str:
        from huggingface_hub import constants
        from huggingface_hub.file_download import repo_folder_name

        snapshot = self._snapshot()
        return str(snapshot or Path(constants.HF_HUB_CACHE) / repo_folder_name(repo_id=self.target,
                                                                               repo_type=self.repo_type))

    def size(self) -> int | None:
        snapshot = self._snapshot()
        return folder_size(snapshot) if snapshot else None


@dataclass
class HubDataset(Item):
    """A hub dataset (one config of it) as ``datasets`` prepares it: an offline ``load_dataset`` reads only that."""

    config_name: str | None = None

    @property
    def identity(self) -> tuple:
        return "HubDataset", self.target, self.revision, self.config_name

    @property
    def label(self) -> str:
        return super().label + (f" ({self.config_name})" if self.config_name else "")

    def _cache_root(self) -> Path:
        # The lookup datasets' own offline loader makes (CachedDatasetModuleFactory, packaged_modules/cache).
        import datasets.config
        from datasets.naming import camelcase_to_snakecase

        *namespace, name = self.target.split("/")
        return Path(os.path.expanduser(str(datasets.config.HF_DATASETS_CACHE))) / "___".join(
            [*namespace, camelcase_to_snakecase(name)])

    def _prepared(self) -> list[Path]:
        # datasets writes under an ".incomplete" name and renames: a folder with dataset_info.json is whole.
        return [path.parent for path in self._cache_root().glob(f"{self.config_name or '*'}/*/*/dataset_info.json")]

    def cached(self) -> bool:
        return bool(self._prepared())

    def fetch(self) -> None:
        import datasets

        # No split: datasets prepares every split of the config, as the rule's load_dataset would.
        datasets.load_dataset(self.target, self.config_name, revision=self.revision)

    def location(self) -> str:
        prepared = self._prepared()
        return str(prepared[0].parents[1] if prepared else self._cache_root())

    def size(self) -> int | None:
        prepared = self._prepared()
        return sum(folder_size(path) for path in prepared) if prepared else None


@dataclass
class Download(Item):
    """Files a URL download writes (by the function its rule or library runs): whole when all ``paths`` exist."""

    paths: tuple[str, ...] = ()
    download: Callable[[], object] | None = None

    def cached(self) -> bool:
        return all(Path(path).exists() for path in self.paths)

    def fetch(self) -> None:
        self.download()

    def location(self) -> str:
        return str(Path(os.path.commonpath(self.paths)) if len(self.paths) > 1 else self.paths[0])

    def size(self) -> int | None:
        return sum(folder_size(Path(p)) if Path(p).is_dir() else Path(p).stat().st_size
                   for p in self.paths) if self.cached() else None


@dataclass
class Deferred(Item):
    """An item whose files are known only from its library (torchvision's enum, open_clip's tag, timm's
    pretrained config), asked on first use so that listing items imports none of them."""

    resolver: Callable[[], Item] | None = None

    @property
    def identity(self) -> tuple:
        return "Deferred", self.kind, self.target, self.revision

    @functools.cached_property
    def resolved(self) -> Item:
        return self.resolver()

    def cached(self) -> bool:
        return self.resolved.cached()

    def fetch(self) -> None:
        self.resolved.fetch()

    def location(self) -> str:
        return self.resolved.location()

    def size(self) -> int | None:
        return self.resolved.size()


@dataclass
class Local(Item):
    """A local model or dataset folder: listed, never fetched."""

    remote = False

    def cached(self) -> bool:
        return Path(os.path.expanduser(self.target)).exists()

    def location(self) -> str:
        return self.target


@dataclass
class Skipped(Item):
    """Nothing to fetch: a tiny model the workflow builds (tiny_model rule), a model without pretrained weights."""

    note: str = "built by the workflow"
    remote = False

    def cached(self) -> bool:
        return True


def select_files(files: list[str], folders: tuple[str, ...] = ("",), code: bool = False) -> list[str]:
    """The files of a repository that loading it from ``folders`` reads: configs, tokenizers and processors,
    and one format of weights per folder, safetensors where there are any, else torch's .bin; no other
    formats (TF, Flax, ONNX), no variants (``model.fp16.safetensors``), no single-file checkpoints beside them."""
    patterns = SUPPORT_PATTERNS + (("*.py",) if code else ())
    chosen = []
    for folder in folders:
        names = [PurePosixPath(f).name for f in files if posixpath.dirname(f) == folder]
        support = [name for name in names if any(fnmatch.fnmatch(name, pattern) for pattern in patterns)]
        weights = {suffix: [name for name in names if name.endswith(suffix) and _loader_weights(name)]
                   for suffix in (".safetensors", ".bin")}
        chosen += [posixpath.join(folder, name) for name in support + (weights[".safetensors"] or weights[".bin"])]
    return sorted(set(chosen))


def _loader_weights(name: str) -> bool:
    stem = name.split(".")[0]
    return name.count(".") == 1 and any(stem == s or stem.startswith(f"{s}-") for s in LOADER_WEIGHT_STEMS)


def folder_size(path: Path) -> int:
    """Bytes of the files under ``path``, following the hub cache's links to its blobs."""
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())


def torch_hub_item(kind: str, url: str, key: str) -> Download:
    """A checkpoint torch.hub keeps in $TORCH_HOME/hub/checkpoints, named as torch.hub names it."""
    import torch.hub

    path = Path(torch.hub.get_dir()) / "checkpoints" / posixpath.basename(url)
    match = torch.hub.HASH_REGEX.search(path.name)

    def download():
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(url, str(path), hash_prefix=match.group(1) if match else None, progress=True)

    return Download(kind, url, [key], paths=(str(path),), download=download)


def gated_error(error: BaseException | None) -> bool:
    """Whether the hub refused a repository that exists for want of an accepted licence or a token
    (datasets rewraps the error; a repository not found is no licence matter)."""
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, GatedRepoError):
            return True
        if isinstance(error, HfHubHTTPError) and not isinstance(error, RepositoryNotFoundError) \
                and error.response is not None and error.response.status_code in (401, 403):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def hub_page(item: Item) -> str:
    item = item.resolved if isinstance(item, Deferred) else item
    dataset = isinstance(item, HubDataset) or getattr(item, "repo_type", "model") == "dataset"
    return f"https://huggingface.co/{'datasets/' if dataset else ''}{item.target}"
