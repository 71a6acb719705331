"""Concept dictionaries of the second study (Li et al., "Do Vision and Language
Models Share Concepts?"): a concept key (a WordNet id such as ``n01440764``, or a
word for EN-CLDI) mapped to its aliases, the words that name it.

Sources:

- ``imagenet21k``, built here: the ImageNet-21K synsets (lists shipped by timm)
  with their WordNet 3.0 lemma names as aliases, cleaned as the study cleaned them
  (:func:`build_imagenet_dictionary`);
- ``published``: the study's own JSON files (:func:`load_published`), such as
  ``imagenet-ul-ex-1k.json`` (5,942 synsets) or ``cldi.json`` (EN-CLDI, 1,690
  adjectives and verbs, each its own single alias).

The rule output is one JSON file (:func:`write_dictionary`, :func:`read_dictionary`)::

    {"schema_version": 1, "name": "imagenet21k", "source": "...",
     "concepts": {"n01557185": ["thrush"], ...},
     "aliases": {"thrush": {"polysemy": 5, "zipf": 3.12, "count": 6107}, ...}}

``count`` (an alias's count in the study's frequency table, null where the table
lacks it) is there when the dictionary's config names the table (``frequencies:``,
:func:`synesthesia.data.vlca.read_frequencies`).

Aliases are written as the study wrote them: lower case, words joined by ``_``.

WordNet is read with NLTK's reader. Real runs fetch it with :func:`download_wordnet`;
machines without internet assemble the same folder from a directory of WordNet
3.0 dict files, such as Debian's ``wordnet-base`` plus ``wordnet-sense-index``
(:func:`wordnet_from_dict_files`).
"""

from __future__ import annotations

import bisect
import functools
import importlib.util
import json
import logging
import math
import os
import shutil
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

SCHEMA_VERSION = 1

log = logging.getLogger(__name__)

# ---------------------------------------------------------------- WordNet

DEBIAN_WORDNET_DIR = Path("/usr/share/wordnet")

# WordNet's lexicographer files, numbered by position (lexnames(5WN)); the
# syntactic category is 1 noun, 2 verb, 3 adjective, 4 adverb.
LEXICOGRAPHER_FILES = (
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal",
    "noun.artifact", "noun.attribute", "noun.body", "noun.cognition",
    "noun.communication", "noun.event", "noun.feeling", "noun.food", "noun.group",
    "noun.location", "noun.motive", "noun.object", "noun.person", "noun.phenomenon",
    "noun.plant", "noun.possession", "noun.process", "noun.quantity", "noun.relation",
    "noun.shape", "noun.state", "noun.substance", "noun.time", "verb.body",
    "verb.change", "verb.cognition", "verb.communication", "verb.competition",
    "verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion",
    "verb.perception", "verb.possession", "verb.social", "verb.stative", "verb.weather",
    "adj.ppl",
)
SYNTACTIC_CATEGORIES = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}

# NLTK 3.10's reader opens index.sense while it is being constructed (to map
# WordNet 3.0 senses), so it is as necessary as the data and index files.
REQUIRED_DICT_FILES = (
    "data.noun", "data.verb", "data.adj", "data.adv",
    "index.noun", "index.verb", "index.adj", "index.adv",
    "noun.exc", "verb.exc", "adj.exc", "adv.exc", "index.sense",
)
_DEBIAN_PACKAGES = "Debian's wordnet-base and wordnet-sense-index"


def lexnames_text() -> str:
    """The ``lexnames`` file of WordNet 3.0, which Debian's packages leave out."""
    lines = []
    for number, name in enumerate(LEXICOGRAPHER_FILES):
        category = SYNTACTIC_CATEGORIES[name.split(".")[0]]
        lines.append(f"{number:02d}\t{name}\t{category}\n")
    return "".join(lines)


def wordnet_corpus_dir(data_dir: str | os.PathLike) -> Path:
    """Where NLTK looks for WordNet under an NLTK data directory."""
    return Path(data_dir) / "corpora" / "wordnet"


def wordnet_from_dict_files(dict_dir: str | os.PathLike, data_dir: str | os.PathLike):
    """Assemble ``<data_dir>/corpora/wordnet/`` from WordNet 3.0 dict files and read it.

    The files are copied, not linked: NLTK refuses files that resolve outside the
    corpus folder. ``lexnames`` is written from :data:`LEXICOGRAPHER_FILES`.
    """
    dict_dir = Path(dict_dir)
    missing = [name for name in REQUIRED_DICT_FILES if not (dict_dir / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{dict_dir} lacks WordNet 3.0 files {missing} ({_DEBIAN_PACKAGES} ship them all)"
        )
    corpus = wordnet_corpus_dir(data_dir)
    corpus.mkdir(parents=True, exist_ok=True)
    for source in dict_dir.iterdir():
        if source.is_file():
            shutil.copyfile(source, corpus / source.name)
    (corpus / "lexnames").write_text(lexnames_text(), encoding="utf-8")
    return load_wordnet(data_dir)


def download_wordnet(data_dir: str | os.PathLike):
    """Fetch WordNet 3.0 with NLTK's downloader into ``data_dir`` and read it (needs internet)."""
    import nltk

    if not nltk.download("wordnet", download_dir=str(data_dir), quiet=True, raise_on_error=True):
        raise RuntimeError(f"nltk.download('wordnet') into {data_dir} failed")
    return load_wordnet(data_dir)


def load_wordnet(data_dir: str | os.PathLike):
    """Read the WordNet under an NLTK data directory: ``corpora/wordnet.zip`` or ``corpora/wordnet/``."""
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    data_dir = str(Path(data_dir).resolve())
    # NLTK refuses corpus roots outside nltk.data.path; first in the path, so
    # that the sense index NLTK looks up by name while reading is this one.
    if data_dir not in nltk.data.path:
        nltk.data.path.insert(0, data_dir)
    try:
        # The zip first, as nltk.corpus.wordnet looks; find() needs the trailing slash.
        root = nltk.data.find("corpora/wordnet.zip/wordnet/", paths=[data_dir])
    except LookupError:
        root = nltk.data.find("corpora/wordnet", paths=[data_dir])
    with warnings.catch_warnings():
        # The multilingual Open Multilingual Wordnet is not used here.
        warnings.filterwarnings("ignore", message="The multilingual functions")
        return WordNetCorpusReader(root, None)


# ---------------------------------------------------------------- ImageNet synsets

IMAGENET21K_SYNSETS = "imagenet21k_goog_synsets.txt"
IMAGENET1K_SYNSETS = "imagenet_synsets.txt"


def timm_synsets(filename: str) -> list[str]:
    """A synset list that timm ships in ``timm/data/_info/``, in file order."""
    # find_spec locates timm without importing it (and torch with it).
    spec = importlib.util.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("timm is needed for the ImageNet synset lists (pip install timm)")
    path = Path(spec.submodule_search_locations[0]) / "data" / "_info" / filename
    return path.read_text(encoding="utf-8").split()


# ---------------------------------------------------------------- building imagenet21k

def normalise_alias(word: str) -> str:
    """An alias as the study wrote it: lower case, ``_`` between words and for hyphens."""
    return word.strip().lower().replace(" ", "_").replace("-", "_")


def synset_aliases(wn, wnid: str) -> list[str]:
    """The lemma names of a synset (``n01440764``), normalised, in WordNet's order."""
    synset = wn.synset_from_pos_and_offset(wnid[0], int(wnid[1:]))
    return list(dict.fromkeys(normalise_alias(name) for name in synset.lemma_names()))


def wordnet_aliases(wn, wnids: Iterable[str], vocabulary: Iterable[str] | None = None) -> dict[str, list[str]]:
    """Synset -> aliases; with a vocabulary, only aliases in it, and synsets left with none dropped."""
    words = None if vocabulary is None else {normalise_alias(word) for word in vocabulary}
    concepts = {}
    for wnid in wnids:
        aliases = [alias for alias in synset_aliases(wn, wnid) if words is None or alias in words]
        if aliases:
            concepts[wnid] = aliases
    return concepts


def alias_owners(concepts: Mapping[str, list[str]]) -> dict[str, list[str]]:
    owners = defaultdict(list)
    for key, aliases in concepts.items():
        for alias in aliases:
            owners[alias].append(key)
    return dict(owners)


def shared_alias_synsets(concepts: Mapping[str, list[str]]) -> set[str]:
    """Synsets with an alias that another synset has too: a hit could not tell them apart."""
    return {key for keys in alias_owners(concepts).values() if len(keys) > 1 for key in keys}


def hypernym_collision_synsets(wn, concepts: Mapping[str, list[str]]) -> set[str]:
    """Synsets with an alias whose first WordNet sense has a hyponym named by an alias.

    The study's rule: for each alias, take ``wn.synsets(alias)[0]`` (all parts of
    speech) and walk its hyponyms transitively (instance hyponyms excluded); if one
    of them is named (``name().split('.')[0]``, as NLTK names synsets: lower case,
    hyphens kept) by an alias of the dictionary, every synset with the first alias
    goes. Only the first sense, and only the synset names, reproduce the published
    dictionaries: all senses would drop 255 of their synsets, normalised names 8.
    """
    owners = alias_owners(concepts)

    @functools.cache
    def names_an_alias_below(synset) -> bool:
        return any(h.name().split(".")[0] in owners or names_an_alias_below(h) for h in synset.hyponyms())

    colliding = set()
    for alias, keys in owners.items():
        senses = wn.synsets(alias)
        if senses and names_an_alias_below(senses[0]):
            colliding.update(keys)
    return colliding


def build_imagenet_dictionary(
    wn,
    variant: str = "ex-1k",
    synsets: Iterable[str] | None = None,
    vocabulary: Iterable[str] | None = None,
    imagenet1k: Iterable[str] | None = None,
) -> dict[str, list[str]]:
    """The study's ImageNet dictionary, built from WordNet.

    Steps, as the study's preprocessing ran them: aliases of every synset in
    ``synsets`` (default: timm's ImageNet-21K list, the 1K classes included),
    restricted to ``vocabulary`` when given; drop every synset that shares an
    alias with another and every synset in a hypernym/hyponym collision (both
    judged on that whole alias set); then keep the synsets outside ImageNet-1K
    (``variant="ex-1k"``, the published ``imagenet-ul-ex-1k``) or inside it
    (``"1k"``, ``imagenet-ul-1k``); ``imagenet1k`` is that 1K list (default:
    timm's ImageNet-1K list).

    ``vocabulary`` is the set of words the text side can embed: the study kept
    only aliases with enough example sentences (its ``common-words-79k``).
    Without it, the ex-1k dictionary has about 12,800 synsets instead of 5,942.
    ``synsets`` should be the synsets one has images for: an alias shared with a
    synset outside that list still drops both.
    """
    if variant not in ("ex-1k", "1k"):
        raise ValueError(f"variant must be 'ex-1k' or '1k', not {variant!r}")
    wnids = timm_synsets(IMAGENET21K_SYNSETS) if synsets is None else list(synsets)
    concepts = wordnet_aliases(wn, wnids, vocabulary)
    dropped = shared_alias_synsets(concepts) | hypernym_collision_synsets(wn, concepts)
    imagenet1k = set(timm_synsets(IMAGENET1K_SYNSETS) if imagenet1k is None else imagenet1k)
    inside = variant == "1k"
    return {key: aliases for key, aliases in concepts.items()
            if key not in dropped and (key in imagenet1k) == inside}


# ---------------------------------------------------------------- per-alias metadata

# The study binned frequency by rank: the 10,000 most frequent words, ranks
# 10,001-100,000, and the rest.
STUDY_RANK_EDGES = (10_000, 100_000)


def polysemy(wn, alias: str) -> int | None:
    """Number of WordNet senses of the alias, all parts of speech; None without a WordNet."""
    return None if wn is None else len(wn.synsets(alias))


def zipf(alias: str) -> float:
    """wordfreq's Zipf frequency of the alias: log10 of its frequency per billion words.

    A multiword alias gets wordfreq's estimate for the phrase, which is close to
    its rarest word's frequency: higher than the phrase's own count would give.
    """
    from wordfreq import zipf_frequency

    return zipf_frequency(alias.replace("_", " "), "en")


def alias_metadata(wn, aliases: Iterable[str], frequencies: Mapping[str, int] | None = None) -> dict[str, dict]:
    """``{alias: {"polysemy": int, "zipf": float}}`` for every alias, with ``"count"`` (int or
    None, :func:`synesthesia.data.vlca.alias_counts`) when a frequency table is given."""
    aliases = list(aliases)
    metadata = {alias: {"polysemy": polysemy(wn, alias), "zipf": zipf(alias)} for alias in aliases}
    if frequencies is not None:
        from .vlca import alias_counts

        for alias, count in alias_counts(aliases, frequencies).items():
            metadata[alias]["count"] = count
    return metadata


@functools.cache
def _ascending_zipfs(lang: str) -> list[float]:
    from wordfreq import get_frequency_dict, top_n_list

    frequencies = get_frequency_dict(lang)
    # top_n_list's ranking leaves out digit sequences ("0000" stands for all
    # four-digit numbers), which are no words.
    words = top_n_list(lang, len(frequencies))
    return sorted(math.log10(frequencies[word] * 1e9) for word in words)


def zipf_rank(value: float, lang: str = "en") -> int:
    """The rank a word of this Zipf frequency takes in wordfreq's word list (1 = most frequent).

    Zipf = log10(frequency per billion words), so ranks follow from wordfreq's own
    list: 1 + the number of words that are more frequent. For English, rank 10,000
    is Zipf 3.77 and rank 100,000 Zipf 1.96. The study ranked words by their
    counts in Wikipedia: for single words wordfreq's ranks approximate those; a
    phrase ranks too high (see :func:`zipf`).
    """
    zipfs = _ascending_zipfs(lang)
    # The tolerance absorbs zipf_frequency's rounding to two decimals.
    more_frequent = len(zipfs) - bisect.bisect_right(zipfs, value + 1e-6)
    return 1 + more_frequent


def zipf_to_rank_bin(value: float, edges: tuple[int, ...] = STUDY_RANK_EDGES, lang: str = "en") -> str:
    """The study's frequency bin of a Zipf value: ``"1-10000"``, ``"10001-100000"`` or ``">100000"``."""
    rank = zipf_rank(value, lang)
    lower = 1
    for edge in edges:
        if rank <= edge:
            return f"{lower}-{edge}"
        lower = edge + 1
    return f">{edges[-1]}"


# ---------------------------------------------------------------- published dictionaries

PUBLISHED_HUB_DATASETS = {"imagenet21k": "jaagli/imagenet-ul", "cldi": "jaagli/en-cldi"}


def load_published(source: str | os.PathLike, filename: str | None = None,
                   revision: str | None = None) -> dict[str, list[str]]:
    """A dictionary the study published: ``{key: [alias, ...]}`` JSON.

    ``source`` is a local JSON file, or a hub dataset id (e.g.
    ``PUBLISHED_HUB_DATASETS["cldi"]``) together with the ``filename`` of the JSON
    inside that dataset repository, fetched with ``hf_hub_download`` (cached, so
    it also works offline once fetched).
    """
    path = Path(source)
    if not path.is_file():
        if filename is None:
            raise FileNotFoundError(f"{source} is not a file; for a hub dataset, name the JSON file in it")
        from huggingface_hub import hf_hub_download

        path = Path(hf_hub_download(str(source), filename, repo_type="dataset", revision=revision))
    with open(path, encoding="utf-8") as handle:
        return check_concepts(json.load(handle), where=str(path))


def check_concepts(concepts, where: str = "dictionary") -> dict[str, list[str]]:
    """Refuse anything but a non-empty ``{key: [alias, ...]}`` mapping of strings."""
    if not isinstance(concepts, dict) or not concepts:
        raise ValueError(f"{where}: expected a non-empty {{key: [alias, ...]}} mapping")
    for key, aliases in concepts.items():
        if not (isinstance(aliases, list) and aliases and all(isinstance(a, str) and a for a in aliases)):
            raise ValueError(f"{where}: {key!r} needs a non-empty list of aliases, got {aliases!r}")
    return concepts


# ---------------------------------------------------------------- the rule output

@dataclass(frozen=True)
class ConceptDictionary:
    """Concepts with their aliases, per alias its polysemy and frequency, and any published folds.

    ``folds``: the study's train/test partitions of the concepts, as
    ``[(training keys, test keys), ...]``; empty for dictionaries without any.
    """

    name: str
    source: str
    concepts: dict[str, list[str]]
    aliases: dict[str, dict]
    folds: list[tuple[list[str], list[str]]] = field(default_factory=list)


def make_dictionary(wn, name: str, source: str, concepts: Mapping[str, list[str]],
                    frequencies: Mapping[str, int] | None = None) -> ConceptDictionary:
    """A dictionary with the metadata of every alias it uses (``count`` too, given a frequency table)."""
    concepts = check_concepts(dict(concepts), where=name)
    used = sorted({alias for aliases in concepts.values() for alias in aliases})
    return ConceptDictionary(name, source, concepts, alias_metadata(wn, used, frequencies))


def write_dictionary(dictionary: ConceptDictionary, path: str | os.PathLike) -> Path:
    """Write the JSON under a temporary name and rename it, so a file at ``path`` is whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "schema_version": SCHEMA_VERSION,
        "name": dictionary.name,
        "source": dictionary.source,
        "concepts": dict(sorted(dictionary.concepts.items())),
        "aliases": dict(sorted(dictionary.aliases.items())),
    }
    if dictionary.folds:
        record["folds"] = [{"train": sorted(train), "test": sorted(test)} for train, test in dictionary.folds]
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    partial.replace(path)
    return path


def read_dictionary(path: str | os.PathLike) -> ConceptDictionary:
    """Read a file of :func:`write_dictionary`, refusing other schemas and aliases without metadata."""
    with open(path, encoding="utf-8") as handle:
        record = json.load(handle)
    if record.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"{path}: schema_version {record.get('schema_version')!r}, expected {SCHEMA_VERSION}")
    concepts = check_concepts(record["concepts"], where=str(path))
    missing = sorted({a for aliases in concepts.values() for a in aliases} - set(record["aliases"]))
    if missing:
        raise ValueError(f"{path}: aliases without metadata: {missing[:5]}")
    folds = [(fold["train"], fold["test"]) for fold in record.get("folds", [])]
    return ConceptDictionary(record["name"], record["source"], concepts, record["aliases"], folds)


def open_wordnet(setting: str | None, data_dir: str | os.PathLike):
    """The WordNet a dictionary config names: ``download`` (NLTK's downloader, needs internet),
    a directory of WordNet 3.0 dict files (e.g. Debian's /usr/share/wordnet), or None (no polysemy)."""
    if setting is None:
        return None
    if setting == "download":
        return download_wordnet(data_dir)
    return wordnet_from_dict_files(setting, data_dir)


def read_vocabulary(path: str | os.PathLike) -> set[str]:
    """One word per line (the words the text side has sentences for), in the corpus's
    spelling (spaces, hyphens or ``_``), returned in alias spelling (:func:`normalise_alias`)."""
    with open(path, encoding="utf-8") as handle:
        return {normalise_alias(line.strip()) for line in handle if line.strip()}


def study_dictionary(wn, name: str, spec: dict, study_dir: str | os.PathLike) -> ConceptDictionary:
    """One of the study's published dictionaries with its five folds and its words' corpus counts.

    The files are fetched into ``study_dir`` (from the study's repository at pinned
    commits, or copied from ``spec["local"]``); the folds must cover exactly the
    dictionary's pairs.
    """
    from .vlca import (
        DICTIONARY_PATHS,
        FREQUENCIES_PATH,
        check_fold_coverage,
        fetch_study_files,
        read_folds,
        read_frequencies,
        study_files,
    )

    study_name = spec["name"]
    fetch_study_files(study_dir, local=spec.get("local"), files=study_files((study_name,), bins=False))
    concepts = load_published(Path(study_dir) / DICTIONARY_PATHS[study_name])
    folds = read_folds(study_dir, study_name)
    check_fold_coverage(folds, concepts)
    frequencies = read_frequencies(Path(study_dir) / FREQUENCIES_PATH)
    dictionary = make_dictionary(wn, name, f"the study's {study_name} with its folds", concepts, frequencies)
    return ConceptDictionary(**{**dictionary.__dict__, "folds": [fold.keys() for fold in folds]})


def prepare_dictionary(name: str, spec: dict, out: str | os.PathLike, wordnet_dir: str | os.PathLike,
                       vocabulary_path: str | os.PathLike | None = None,
                       study_dir: str | os.PathLike = "resources/vlca") -> Path:
    """Build or load the dictionary a config entry describes and write the rule output.

    For ``imagenet21k`` the vocabulary is the config's ``vocabulary`` file when it
    names one, else ``vocabulary_path`` (the words of the sentence corpus, which
    the workflow writes), both read with :func:`read_vocabulary`. With neither, the
    dictionary is built without one, about twice the study's size, and a warning says so.
    """
    from .shapes import shapes_dictionary
    from .vlca import read_frequencies

    wn = open_wordnet(spec.get("wordnet"), wordnet_dir)
    source = spec["source"]
    if source == "study":
        return write_dictionary(study_dictionary(wn, name, spec, study_dir), out)
    frequencies = read_frequencies(spec["frequencies"]) if spec.get("frequencies") else None
    if source == "imagenet21k":
        if wn is None:
            raise ValueError(f"dictionary {name!r}: building from ImageNet-21K needs `wordnet`")
        vocabulary_path = spec.get("vocabulary") or vocabulary_path
        if vocabulary_path:
            vocabulary = read_vocabulary(vocabulary_path)
            if not vocabulary:
                raise ValueError(f"dictionary {name!r}: vocabulary {vocabulary_path} has no words")
            log.info("dictionary %r: %d words of vocabulary from %s", name, len(vocabulary), vocabulary_path)
        else:
            vocabulary = None
            log.warning("dictionary %r: no vocabulary (neither `vocabulary:` nor the corpus's words), so every "
                        "alias is kept: the dictionary will be about twice the study's (about 12,800 synsets "
                        "instead of 5,942 for ex-1k)", name)
        concepts = build_imagenet_dictionary(wn, spec["variant"], vocabulary=vocabulary)
        origin = (f"imagenet21k-{spec['variant']} built from WordNet, "
                  + (f"vocabulary {Path(vocabulary_path).name} ({len(vocabulary)} words)" if vocabulary
                     else "no vocabulary"))
    elif source == "published":
        concepts = load_published(spec["path"], spec.get("filename"), spec.get("revision"))
        origin = f"published {spec['path']}"
    else:
        concepts = shapes_dictionary()
        origin = "rendered shapes (demo)"
    return write_dictionary(make_dictionary(wn, name, origin, concepts, frequencies), out)
