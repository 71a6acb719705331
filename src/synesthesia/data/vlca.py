"""The files the second study published in its code repository, github.com/jiaangli/VLCA.

Li et al., "Do Vision and Language Models Share Concepts?" committed its concept
dictionaries, its five train/test folds, its frequency and polysemy bins and its
word-frequency table. Their last versions are in different commits (the folds and
the frequency table were later removed from the repository), so each file is pinned
to the commit that holds it (:data:`STUDY_FILES`) and fetched from
``https://raw.githubusercontent.com/jiaangli/VLCA/<commit>/<path>``.

:func:`fetch_study_files` writes them under a folder in the repository's layout
(``data/imagenet-ul-ex-1k.json``, ``data/dicts/imagenet/base/train_1_cleaned.txt``,
...), downloading them or, on machines without internet, copying them from a local
folder. Every reader here takes such a folder; it also accepts a folder in the
layout of the project's reference copies (``../shared/reference/vlca``), see
:func:`locate`.

What the files say and how the study made them (checked against the files by
``tests/test_study_files.py``):

- **Folds** (``data/dicts/.../{train,test}_{i}...txt``, one ``key alias`` pair per
  line, multiword aliases joined by ``_``): Python's ``random.seed(i)`` then
  ``random.shuffle(keys)`` over the dictionary's keys in file order; a key goes to
  training when its index ``j <= n_keys * 70 / 100`` (the ImageNet dictionaries;
  5,942 synsets give 4,160 training and 1,782 test synsets), or when ``j < 1337``
  (EN-CLDI, whose training part has as many words as its nouns). :func:`read_folds`
  reads them, :func:`study_folds` makes them for any dictionary.
- **Frequency bins** (``data/dicts/imagenet/freq``): the alias's count in
  ``data/aliases_freq.json`` (79,059 words, lower case, words joined by spaces),
  looked up with ``_`` as a space: above 23,928 is ``freq10000``, 727 to 23,928
  (both included) ``freq100000``, below 727 ``freq_end`` (the study's
  ``preprocessing/freq_dict.py``); :func:`frequency_bin`.
- **Polysemy bins** (``data/dicts/imagenet/poly``): the alias's number of senses,
  1 / 2 or 3 / more than 3, only for the aliases the study's sense table had
  (single words; 1,412 of the 10,815 test pairs of the five folds). WordNet's sense
  count over all parts of speech gives the same bin for every one of them.

The repository's ``main`` holds only the JSON dictionaries; the commits with the
folds and the frequency table are reachable from its pull-request ref
``refs/pull/2/head``. Licences: ``main`` is Apache-2.0 (its LICENSE, fetched here);
those older commits carried a CC BY-NC 4.0 (f7006b3) and an MIT (83c0b1b) LICENSE.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import shutil
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

log = logging.getLogger(__name__)

REPOSITORY = "jiaangli/VLCA"
RAW_BASE_URL = "https://raw.githubusercontent.com/jiaangli/VLCA"
#: The repository's HEAD: the JSON dictionaries as published, and its Apache-2.0 LICENSE.
HEAD_COMMIT = "fa7163d2a73e160d22a553882d24463140d3539a"
#: The last commit with ``data/dicts/`` (folds and bins) and ``data/cldi.json``.
DICTS_COMMIT = "f7006b3e92b01d6b5803bcee89fd57b7ed94e772"
#: The commit that added ``data/aliases_freq.json`` (the same file is in DICTS_COMMIT).
FREQUENCIES_COMMIT = "83c0b1b9d99c0dc0e40a52f1c85a48f9f9ad286d"

FOLDS = (1, 2, 3, 4, 5)
FREQUENCIES_PATH = "data/aliases_freq.json"
#: The study's published dictionaries (the JSON file's name without ``.json``) and their fold files.
FOLD_PATTERNS = {
    "imagenet-ul-ex-1k": "data/dicts/imagenet/base/{part}_{fold}_cleaned.txt",
    "imagenet-ul-1k": "data/dicts/imagenet/base/{part}_{fold}_1k_only.txt",
    "cldi": "data/dicts/cldi/base/{part}_{fold}.txt",
}
DICTIONARY_PATHS = {name: f"data/{name}.json" for name in FOLD_PATTERNS}
#: Bin files of the ImageNet-21K dictionary's test pairs, from the most to the least frequent
#: and from the fewest senses to the most (the study's file suffixes).
FREQUENCY_BIN_NAMES = ("freq10000", "freq100000", "freq_end")
POLYSEMY_BIN_NAMES = ("1", "2_or_3", "over_3")
BIN_PATTERNS = {
    "frequency": "data/dicts/imagenet/freq/test_{fold}_cleaned_{bin}.txt",
    "polysemy": "data/dicts/imagenet/poly/test_{fold}_cleaned_{bin}.txt",
}
BIN_NAMES = {"frequency": FREQUENCY_BIN_NAMES, "polysemy": POLYSEMY_BIN_NAMES}
#: Lowest count of each frequency bin but the last: the study's ``23928 < x`` and ``727 <= x <= 23928``.
FREQUENCY_COUNT_FLOORS = (23_929, 727)

_DOWNLOAD_TIMEOUT_S = 60
_WNID = re.compile(r"n\d{8}")


@dataclass(frozen=True)
class StudyFile:
    """One published file: its path in the repository and the commit it is fetched from."""

    path: str
    commit: str

    def url(self, base_url: str = RAW_BASE_URL) -> str:
        return f"{base_url.rstrip('/')}/{self.commit}/{self.path}"


def _fold_files(dictionary: str) -> list[StudyFile]:
    return [StudyFile(FOLD_PATTERNS[dictionary].format(part=part, fold=fold), DICTS_COMMIT)
            for fold in FOLDS for part in ("train", "test")]


def _bin_files(factor: str) -> list[StudyFile]:
    return [StudyFile(BIN_PATTERNS[factor].format(fold=fold, bin=name), DICTS_COMMIT)
            for fold in FOLDS for name in BIN_NAMES[factor]]


def study_files(dictionaries: Iterable[str] = tuple(FOLD_PATTERNS), bins: bool = True,
                frequencies: bool = True) -> tuple[StudyFile, ...]:
    """The files one needs for ``dictionaries``: LICENSE, each JSON and its five folds,
    the ImageNet-21K bins (with ``bins``) and the frequency table (with ``frequencies``)."""
    unknown = sorted(set(dictionaries) - set(FOLD_PATTERNS))
    if unknown:
        raise ValueError(f"unknown study dictionaries {unknown}; the study published {sorted(FOLD_PATTERNS)}")
    files = [StudyFile("LICENSE", HEAD_COMMIT)]
    for name in dictionaries:
        # cldi.json is the same file at HEAD; it is taken from the commit of its folds.
        files.append(StudyFile(DICTIONARY_PATHS[name], DICTS_COMMIT if name == "cldi" else HEAD_COMMIT))
        files += _fold_files(name)
    if bins and "imagenet-ul-ex-1k" in dictionaries:
        files += _bin_files("frequency") + _bin_files("polysemy")
    if frequencies:
        files.append(StudyFile(FREQUENCIES_PATH, FREQUENCIES_COMMIT))
    return tuple(files)


#: Every file this module knows (65).
STUDY_FILES = study_files()


# ---------------------------------------------------------------- fetching


def locate(root: str | os.PathLike, path: str) -> Path:
    """Where a repository path is in a local folder: its own path, or the reference copies' layout.

    The reference layout (``../shared/reference/vlca``) keeps the JSON files and
    LICENSE at the top (``data/<name>`` -> ``<name>``) and the folds and bins under
    ``folds/`` (``data/dicts/<rest>`` -> ``folds/<rest>``). The repository path is
    tried first.
    """
    root = Path(root)
    candidates = [root / path]
    if path.startswith("data/dicts/"):
        candidates.append(root / "folds" / path[len("data/dicts/"):])
    elif path.startswith("data/"):
        candidates.append(root / path[len("data/"):])
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{root} has no {path} (looked for {', '.join(str(c) for c in candidates)})")


def check_study_file(path: str | os.PathLike, repository_path: str | None = None) -> None:
    """Refuse a file that is not what its name says: JSON that does not parse, a dictionary that
    is not ``{key: [alias, ...]}``, a frequency table that is not ``{word: count}``, a pair file
    with a line that is not ``key alias`` (``wnid alias`` for ImageNet's), an empty file."""
    path = Path(path)
    name = repository_path or path.name
    if name.endswith(".json"):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{path}: {name} is not valid JSON ({error})") from error
        if not isinstance(record, dict) or not record:
            raise ValueError(f"{path}: {name} should be a non-empty JSON object")
        if name.endswith(Path(FREQUENCIES_PATH).name):
            _check_frequencies(record, path)
        else:
            bad = [key for key, aliases in record.items()
                   if not (isinstance(aliases, list) and aliases and all(isinstance(a, str) and a for a in aliases))]
            if bad:
                raise ValueError(f"{path}: {name} should map each key to a list of aliases, not e.g. {bad[:3]}")
    elif name.endswith(".txt"):
        read_pairs(path, wnids="/imagenet/" in f"/{name}")
    elif not path.stat().st_size:
        raise ValueError(f"{path}: {name} is empty")


def _download(url: str, target: Path) -> int:
    """``url`` to ``target`` as is; the size the server announced must be the size received."""
    try:
        with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response, open(target, "wb") as handle:
            shutil.copyfileobj(response, handle)
            announced = response.headers.get("Content-Length")
    except OSError as error:  # urllib's URLError and HTTPError included
        raise OSError(f"could not download {url}: {error}; on a machine without internet, copy the files with "
                      "fetch_study_files(dest, local=<folder>)") from error
    size = target.stat().st_size
    if announced is not None and int(announced) != size:
        raise OSError(f"{url}: received {size} bytes of {announced}")
    return size


def fetch_study_files(dest: str | os.PathLike, local: str | os.PathLike | None = None,
                      files: Iterable[StudyFile] = STUDY_FILES, base_url: str = RAW_BASE_URL) -> list[Path]:
    """Download the study's files (or copy them from ``local``) into ``dest/<repository path>``.

    ``files``: which ones (default every file, :data:`STUDY_FILES`; :func:`study_files`
    selects those of some dictionaries). ``local``: a folder in the repository's
    layout or the reference copies' (:func:`locate`), for machines without internet.
    ``base_url`` replaces ``https://raw.githubusercontent.com/jiaangli/VLCA`` (the
    commit and path are appended). Each file is checked (:func:`check_study_file`),
    written under a temporary name and renamed, so a file at its path is whole.
    Returns the paths written, in the order of ``files``.
    """
    dest = Path(dest)
    files = list(files)
    written = []
    for number, study_file in enumerate(files, 1):
        target = dest / study_file.path
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        try:
            if local is None:
                url = study_file.url(base_url)
                size = _download(url, partial)
                log.info("[%d/%d] %s -> %s (%d bytes)", number, len(files), url, target, size)
            else:
                source = locate(local, study_file.path)
                shutil.copyfile(source, partial)
                log.info("[%d/%d] %s -> %s (%d bytes)", number, len(files), source, target, partial.stat().st_size)
            check_study_file(partial, study_file.path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(target)
        written.append(target)
    return written


# ---------------------------------------------------------------- folds


def read_pairs(path: str | os.PathLike, wnids: bool = False) -> list[tuple[str, str]]:
    """The ``key alias`` lines of a fold or bin file, in file order; with ``wnids``, keys must be
    WordNet ids (``n`` and eight digits). Refuses other lines, naming the file and line, and empty files."""
    pairs = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            fields = line.split()
            if len(fields) != 2 or (wnids and not _WNID.fullmatch(fields[0])):
                expected = "wnid alias" if wnids else "key alias"
                raise ValueError(f"{path}:{number}: expected `{expected}`, got {line.rstrip()!r}")
            pairs.append((fields[0], fields[1]))
    if not pairs:
        raise ValueError(f"{path}: no `key alias` lines")
    return pairs


@dataclass(frozen=True)
class Fold:
    """One train/test partition: its (key, alias) pairs in file order, and where they came from."""

    index: int
    train_pairs: tuple[tuple[str, str], ...]
    test_pairs: tuple[tuple[str, str], ...]
    source: str = "study_folds"

    @property
    def train(self) -> frozenset[str]:
        """The training keys (synsets)."""
        return frozenset(key for key, _ in self.train_pairs)

    @property
    def test(self) -> frozenset[str]:
        """The test keys."""
        return frozenset(key for key, _ in self.test_pairs)

    def keys(self) -> tuple[list[str], list[str]]:
        """``(training keys, test keys)``, sorted: the form a dictionary's ``folds`` take."""
        return sorted(self.train), sorted(self.test)

    def lines(self, part: str) -> str:
        """``train`` or ``test`` as the study wrote the file: ``key alias`` lines joined by newlines."""
        return "\n".join(f"{key} {alias}" for key, alias in getattr(self, f"{part}_pairs"))


def _disjoint(fold: Fold) -> Fold:
    both = sorted(fold.train & fold.test)
    if both:
        raise ValueError(f"{fold.source}: fold {fold.index} puts {len(both)} keys in both training and test, "
                         f"e.g. {both[:3]}: the folds must be disjoint by key (synset)")
    return fold


def read_folds(root: str | os.PathLike, dictionary: str = "imagenet-ul-ex-1k",
               folds: Sequence[int] = FOLDS) -> list[Fold]:
    """The study's folds of ``dictionary`` (a key of :data:`FOLD_PATTERNS`) from a folder of its files.

    A key in both the training and the test file of a fold is refused, naming both files.
    """
    if dictionary not in FOLD_PATTERNS:
        raise ValueError(f"the study published folds for {sorted(FOLD_PATTERNS)}, not {dictionary!r}")
    result = []
    for fold in folds:
        paths = [locate(root, FOLD_PATTERNS[dictionary].format(part=part, fold=fold)) for part in ("train", "test")]
        wnids = dictionary.startswith("imagenet")
        result.append(_disjoint(Fold(fold, tuple(read_pairs(paths[0], wnids)), tuple(read_pairs(paths[1], wnids)),
                                     source=f"{paths[0]} and {paths[1]}")))
    return result


def check_fold_coverage(folds: Iterable[Fold], dictionary: Mapping[str, Sequence[str]], shown: int = 3) -> None:
    """Refuse a fold whose training and test pairs together are not exactly the dictionary's pairs,
    naming the fold and a few missing and extra pairs."""
    expected = {(key, alias) for key, aliases in dictionary.items() for alias in aliases}
    for fold in folds:
        placed = set(fold.train_pairs) | set(fold.test_pairs)
        missing, extra = sorted(expected - placed), sorted(placed - expected)
        if missing or extra:
            raise ValueError(
                f"fold {fold.index} ({fold.source}) does not cover the dictionary's {len(expected)} pairs: "
                f"{len(missing)} missing (e.g. {missing[:shown]}), {len(extra)} extra (e.g. {extra[:shown]})")


def study_folds(dictionary: Mapping[str, Sequence[str]], seeds: Sequence[int] = FOLDS,
                train_percent: float = 70, n_train: int | None = None) -> list[Fold]:
    """The folds as the study made them, for any ``{key: [alias, ...]}`` dictionary.

    Per seed: ``random.seed(seed)``, ``random.shuffle`` of the keys in the
    dictionary's order; the key at index ``j`` trains when ``j <= n * train_percent
    / 100`` (the study's ImageNet folds, in its arithmetic), or, with ``n_train``,
    when ``j < n_train`` (its EN-CLDI folds: ``n_train=1337``). Every alias of a key
    goes with it, in the dictionary's order. Uses (and leaves seeded) Python's
    global ``random`` state, as the study did.
    """
    keys = list(dictionary)
    folds = []
    for seed in seeds:
        order = list(keys)
        random.seed(seed)
        random.shuffle(order)
        train, test = [], []
        for index, key in enumerate(order):
            trains = index < n_train if n_train is not None else index <= len(order) * train_percent / 100
            (train if trains else test).extend((key, alias) for alias in dictionary[key])
        folds.append(_disjoint(Fold(seed, tuple(train), tuple(test), source=f"study_folds(seed={seed})")))
    return folds


def read_study_bins(root: str | os.PathLike, factor: str, fold: int) -> dict[tuple[str, str], str]:
    """``{(wnid, alias): bin}`` of one fold's test pairs as the study binned them by ``frequency``
    (bins :data:`FREQUENCY_BIN_NAMES`) or ``polysemy`` (:data:`POLYSEMY_BIN_NAMES`).
    A pair in two bins is refused."""
    if factor not in BIN_PATTERNS:
        raise ValueError(f"the study binned by {sorted(BIN_PATTERNS)}, not {factor!r}")
    bins: dict[tuple[str, str], str] = {}
    for name in BIN_NAMES[factor]:
        path = locate(root, BIN_PATTERNS[factor].format(fold=fold, bin=name))
        for pair in read_pairs(path, wnids=True):
            if bins.setdefault(pair, name) != name:
                raise ValueError(f"{path}: {pair} is also in the {bins[pair]!r} bin")
    return bins


# ---------------------------------------------------------------- word frequencies


def _check_frequencies(record, where) -> dict[str, int]:
    bad = [(word, count) for word, count in (record.items() if isinstance(record, dict) else [])
           if not isinstance(count, int) or isinstance(count, bool) or count < 0]
    if not isinstance(record, dict) or not record or bad:
        raise ValueError(f"{where}: expected a non-empty {{word: count}} object of counts, e.g. {bad[:3]}")
    return record


def read_frequencies(path: str | os.PathLike) -> dict[str, int]:
    """The study's frequency table, ``{word: corpus count}`` (``data/aliases_freq.json``: words
    lower case, a multiword alias's words joined by spaces)."""
    with open(path, encoding="utf-8") as handle:
        return _check_frequencies(json.load(handle), path)


def frequency_key(alias: str) -> str:
    """How the study looked an alias up in its frequency table: lower case, ``_`` as a space."""
    return alias.lower().replace("_", " ")


def alias_counts(aliases: Iterable[str], table: Mapping[str, int]) -> dict[str, int | None]:
    """Each alias's count in the frequency table, None for an alias the table lacks (logged, with how many)."""
    counts = {alias: table.get(frequency_key(alias)) for alias in aliases}
    missing = sorted(alias for alias, count in counts.items() if count is None)
    if missing:
        log.warning("%d of %d aliases are not in the frequency table, so they get no frequency bin: %s%s",
                    len(missing), len(counts), ", ".join(missing[:5]), ", ..." if len(missing) > 5 else "")
    return counts


def frequency_bin(count: int | None) -> str | None:
    """The study's frequency bin of a corpus count: ``freq10000`` above 23,928, ``freq100000``
    from 727 to 23,928 (both included), ``freq_end`` below 727; None for no count."""
    if count is None:
        return None
    return next((name for floor, name in zip(FREQUENCY_COUNT_FLOORS, FREQUENCY_BIN_NAMES) if count >= floor),
                FREQUENCY_BIN_NAMES[-1])
