"""P@k broken down: by what the test concepts are like, by how many concepts fit the map, by model size.

The map is trained as in :mod:`synesthesia.align`; only the test concepts of each
split are grouped. Every concept gets one bin per factor, fixed over splits:

- ``vision_dispersion`` / ``language_dispersion``: the mean pairwise cosine
  distance between the concept's per-occurrence vectors (its images; the
  sentences of its head alias), cut into tertiles (low / medium / high) over all
  scored concepts;
- ``polysemy``: the number of WordNet senses of the head alias: 1, 2-3, 4+;
- ``frequency``: the study's ranges (top 10,000, 10,001-100,000, beyond), from the
  head alias's count in the study's frequency table as the study binned it
  (``frequency="study"``, the default for a dictionary with counts:
  :func:`synesthesia.data.vlca.frequency_bin`), or from its rank in wordfreq's
  English list (``"wordfreq"``, the default otherwise; it agrees with the study's
  bins on about half of its test pairs).

A concept's head alias is its first alias (in the dictionary's order) that the
language model embedded: word properties belong to words, so a concept with
several aliases needs one, and the first listed is WordNet's first lemma, the
synset's usual name. Each bin's P@k carries its size, a half-sample interval over
its test concepts (:mod:`synesthesia.resampling`) and the chance
level: the same P@k after maps fitted on shuffled pairings of the training concepts.
"""

from __future__ import annotations

import logging
from typing import Mapping, Sequence

import numpy as np

from .align import (
    ConceptPairs,
    concept_alignment_records,
    concept_pair_identity,
    concept_pairs,
    normalize_rows,
    procrustes_ranks,
    read_pair,
    require_concept_ks,
    resolve_splits,
    shared_spaces,
    split_indices,
    split_ranks,
)
from .data.vlca import FREQUENCY_BIN_NAMES, frequency_bin
from .records import write_records
from .resampling import DEFAULT_HALF_SAMPLES, DEFAULT_PERMUTATIONS, draw_half_samples, half_sample_interval

log = logging.getLogger(__name__)

DISPERSION_BINS = ("low", "medium", "high")
POLYSEMY_BINS = ("1", "2-3", "4+")
FREQUENCY_BINS = ("1-10000", "10001-100000", ">100000")
# wordfreq 3.1.1's English list ranks its 10,000th word at Zipf 3.77 and its
# 100,000th at 1.96 (data.concepts.zipf_rank; tests/test_factors.py checks every
# Zipf value to two decimals, wordfreq's rounding): the study's rank ranges are
# these Zipf bands, so scoring needs no word list.
FREQUENCY_ZIPF_FLOORS = (3.77, 1.96)
# Where the frequency bins come from: the study's corpus counts or wordfreq's Zipf.
FREQUENCY_SOURCES = ("study", "wordfreq")
FACTOR_BINS = {
    "vision_dispersion": DISPERSION_BINS,
    "language_dispersion": DISPERSION_BINS,
    "polysemy": POLYSEMY_BINS,
    "frequency": FREQUENCY_BINS,
}
TRAIN_FRACTIONS = (0.001, 0.01, 0.1, 0.7)
_ITEM_BLOCK = 8192


# --------------------------------------------------------------------- concept properties


def dispersion(items, owner, n: int, rows: Sequence[int] | None = None) -> np.ndarray:
    """Mean pairwise cosine distance between each owner's occurrence vectors; NaN with fewer than two.

    For m unit vectors the mean of 1 - u_i.u_j over pairs is 1 - (|sum u|^2 - m) /
    (m (m - 1)), so one pass summing unit vectors per owner suffices. ``items`` is
    read in row blocks: an h5py dataset works as well as an array. With ``rows``
    only those owners are computed (the others stay NaN) and blocks holding none
    of them are not read: a corpus-wide language store has far more words than the
    dictionary needs.
    """
    owner = np.asarray(owner, dtype=np.int64)
    if len(owner) != len(items):
        raise ValueError(f"{len(items)} occurrence vectors but {len(owner)} owners")
    if len(owner) and (owner.min() < 0 or owner.max() >= n):
        raise ValueError(f"occurrence owners must index the {n} rows, found {owner.min()}..{owner.max()}")
    wanted = np.arange(n) if rows is None else np.unique(np.asarray(rows, dtype=np.int64))
    slot = np.full(n, -1, dtype=np.int64)
    slot[wanted] = np.arange(len(wanted))
    sums = np.zeros((len(wanted), items.shape[1]))
    for start in range(0, len(owner), _ITEM_BLOCK):
        block_slot = slot[owner[start:start + _ITEM_BLOCK]]
        keep = block_slot >= 0
        if not keep.any():
            continue
        unit = normalize_rows(np.asarray(items[start:start + _ITEM_BLOCK], dtype=np.float64)[keep])
        block_slot = block_slot[keep]
        order = np.argsort(block_slot, kind="stable")
        sorted_slot = block_slot[order]
        starts = np.flatnonzero(np.r_[True, sorted_slot[1:] != sorted_slot[:-1]])
        sums[sorted_slot[starts]] += np.add.reduceat(unit[order], starts, axis=0)
    counts = np.bincount(owner, minlength=n).astype(np.float64)[wanted]
    pair_counts = counts * (counts - 1)
    values = np.full(n, np.nan)
    several = counts >= 2
    values[wanted[several]] = 1 - (np.einsum("ij,ij->i", sums, sums)[several] - counts[several]) / pair_counts[several]
    return values


def store_dispersion(path, n: int, rows: Sequence[int]) -> np.ndarray | None:
    """:func:`dispersion` of a store's per-occurrence items for ``rows``, read from the file in blocks;
    None without items."""
    from .store import open_hdf5

    with open_hdf5(path, "r") as f:
        if "items" not in f:
            return None
        return dispersion(f["items/embeddings"], f["items/owner"][:], n, rows)


def _labels(values: Sequence, label) -> np.ndarray:
    return np.array([None if value is None else label(value) for value in values], dtype=object)


def tertile_bins(values) -> np.ndarray:
    """``low`` / ``medium`` / ``high``: the value's third, cut at the 1/3 and 2/3 quantiles of the finite values."""
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if not len(finite):
        return np.full(len(values), None, dtype=object)
    low_cut, high_cut = np.quantile(finite, [1 / 3, 2 / 3])
    return _labels([v if np.isfinite(v) else None for v in values],
                   lambda v: "low" if v <= low_cut else "medium" if v <= high_cut else "high")


def polysemy_bins(sense_counts: Sequence[int | None]) -> np.ndarray:
    """``1`` / ``2-3`` / ``4+`` WordNet senses; None where unknown (no WordNet) or zero (not in WordNet)."""
    return _labels([count or None for count in sense_counts],
                   lambda count: "1" if count == 1 else "2-3" if count <= 3 else "4+")


def frequency_bins(zipfs: Sequence[float | None]) -> np.ndarray:
    """The study's rank range of each Zipf frequency (see :data:`FREQUENCY_ZIPF_FLOORS`); None where unknown."""
    def band(zipf: float) -> str:
        return next((label for floor, label in zip(FREQUENCY_ZIPF_FLOORS, FREQUENCY_BINS) if zipf >= floor),
                    FREQUENCY_BINS[-1])

    return _labels(zipfs, band)


def count_frequency_bins(counts: Sequence[int | None]) -> np.ndarray:
    """The study's bin of each corpus count (:func:`~synesthesia.data.vlca.frequency_bin`); None where unknown."""
    labels = dict(zip(FREQUENCY_BIN_NAMES, FREQUENCY_BINS))
    return _labels(counts, lambda count: labels[frequency_bin(count)])


def frequency_source(alias_metadata: Mapping[str, dict], setting: str | None = None) -> str:
    """``study`` or ``wordfreq``: the setting, or by default ``study`` when the dictionary has counts.

    A dictionary has counts when it was made with a frequency table (its aliases
    carry ``count``, None for a word the table lacks).
    """
    has_counts = any("count" in metadata for metadata in alias_metadata.values())
    if setting is None:
        return "study" if has_counts else "wordfreq"
    if setting not in FREQUENCY_SOURCES:
        raise ValueError(f"frequency must be one of {FREQUENCY_SOURCES}, not {setting!r}")
    if setting == "study" and not has_counts:
        raise ValueError("frequency: study needs the study's corpus counts, and this dictionary has none: name "
                         "the frequency table in its config (`frequencies: <path to aliases_freq.json>`)")
    return setting


def concept_bins(pairs: ConceptPairs, alias_ids: Sequence[str], alias_metadata: Mapping[str, dict],
                 vision_dispersion: np.ndarray | None = None,
                 language_dispersion: np.ndarray | None = None,
                 frequency: str | None = None) -> dict[str, np.ndarray]:
    """Each concept's bin per factor (None where undefined); factors without a single defined bin are left out.

    ``alias_metadata`` is the dictionary's ``{alias: {"polysemy": int, "zipf": float,
    "count": int | None}}`` (``count`` only with a frequency table); ``frequency``
    chooses the frequency bins' source (:func:`frequency_source`); the dispersions
    are per store row (vision: per synset, language: per alias).
    """
    heads = [g[0] for g in pairs.gold]
    metadata = [alias_metadata[alias_ids[row]] for row in heads]
    source = frequency_source(alias_metadata, frequency)
    if source == "study":
        counts = [m.get("count") for m in metadata]
        log.info("frequency bins from the study's corpus counts; %d of %d concepts' head aliases have none",
                 sum(count is None for count in counts), len(counts))
        frequency_labels = count_frequency_bins(counts)
    else:
        log.info("frequency bins from wordfreq's Zipf frequencies")
        frequency_labels = frequency_bins([m.get("zipf") for m in metadata])
    bins = {
        "polysemy": polysemy_bins([m.get("polysemy") for m in metadata]),
        "frequency": frequency_labels,
    }
    if vision_dispersion is not None:
        bins["vision_dispersion"] = tertile_bins(vision_dispersion[pairs.vision_rows])
    if language_dispersion is not None:
        bins["language_dispersion"] = tertile_bins(language_dispersion[heads])
    return {factor: labels for factor, labels in bins.items() if any(label is not None for label in labels)}


# --------------------------------------------------------------------- binned P@k


def _precision_interval(hits: np.ndarray, half_samples: int, seed: int,
                        level: float) -> tuple[float | None, float | None]:
    if not half_samples or len(hits) < 2:
        return None, None
    members = draw_half_samples(len(hits), half_samples, seed)
    low, high = half_sample_interval(float(hits.mean()), members @ hits / members.sum(axis=1), len(hits), level)
    # A precision lies in [0, 1]; the interval's symmetric construction can step outside it.
    return max(low, 0.0), min(high, 1.0)


def binned_precision(ranks: np.ndarray, labels: np.ndarray, ks: Sequence[int], order: Sequence[str],
                     null_ranks: Sequence[np.ndarray] = (), half_samples: int = 0, level: float = 0.95,
                     seed: int = 0) -> list[dict]:
    """P@k of the test concepts in each bin (in ``order``, empty bins too), with the bin's size.

    ``ranks`` and ``labels`` are per test concept. With ``null_ranks`` (the ranks of
    maps fitted on shuffled pairings) each bin gets its chance level; with ``half_samples``
    a half-sample interval.
    """
    rows = []
    for label in order:
        inside = labels == label
        for k in ks:
            hits = (ranks[inside] < k).astype(np.float64)
            chance = np.array([np.mean(null[inside] < k) for null in null_ranks]) if inside.any() else np.array([])
            low, high = _precision_interval(hits, half_samples, seed, level)
            rows.append({
                "bin": label, "k": int(k), "value": float(hits.mean()) if len(hits) else None,
                "n_bin": int(inside.sum()), "ci_low": low, "ci_high": high,
                "level": level if half_samples else None, "half_samples": half_samples,
                "null_mean": float(chance.mean()) if len(chance) else None,
                "null_std": float(chance.std(ddof=1)) if len(chance) > 1 else None,
                "permutations": len(null_ranks),
            })
    return rows


def shuffled_ranks(pairs: ConceptPairs, train: np.ndarray, test: np.ndarray, csls_k: int, permutations: int,
                   seed: int, preprocess: str = "project") -> list[dict[str, np.ndarray]]:
    """Test ranks (per retrieval) after maps fitted on shuffled pairings of the training concepts: chance level."""
    vision_z, language_z = shared_spaces(pairs.vision, pairs.language, pairs.gold, train, preprocess)
    seeds = np.random.default_rng(seed).integers(2 ** 31, size=permutations)
    return [procrustes_ranks(vision_z, language_z, pairs.gold, train, test, csls_k, shuffle_seed=int(s))
            for s in seeds]


def breakdown_records(pairs: ConceptPairs, bins: Mapping[str, np.ndarray], ks: Sequence[int], splits,
                      train_fraction: float, csls_k: int, seed: int, half_samples: int = DEFAULT_HALF_SAMPLES,
                      permutations: int = DEFAULT_PERMUTATIONS, level: float = 0.95,
                      preprocess: str = "project") -> list[dict]:
    """P@k of the fitted map per split, retrieval, factor and bin (factor ``all``: every test concept).

    ``splits``: a number of seeded splits or published folds (:func:`synesthesia.align.concept_splits`).
    """
    unknown = sorted(set(bins) - set(FACTOR_BINS))
    if unknown:
        raise ValueError(f"unknown factors {unknown}; known: {sorted(FACTOR_BINS)}")
    require_concept_ks(pairs, ks, csls_k)
    factors = {"all": (np.full(len(pairs.concepts), "all", dtype=object), ("all",)),
               **{factor: (labels, FACTOR_BINS[factor]) for factor, labels in bins.items()}}
    records = []
    for split, train, test, ranks in split_ranks(pairs, splits, train_fraction, csls_k, seed, preprocess):
        null = (shuffled_ranks(pairs, train, test, csls_k, permutations, seed + split, preprocess)
                if permutations else [])
        for retrieval, rank in ranks["none"].items():
            for factor, (labels, order) in factors.items():
                for row in binned_precision(rank, labels[test], ks, order, [n[retrieval] for n in null], half_samples,
                                            level, seed + split):
                    records.append({"split": split, "control": "none", "retrieval": retrieval, "factor": factor,
                                    "metric": "precision", **row, "n_test": int(len(test))})
    return records


# --------------------------------------------------------------------- training-set ratio and model size


def train_fraction_records(vision: np.ndarray, vision_ids: list[str], language: np.ndarray, alias_ids: list[str],
                           dictionary: dict[str, list[str]], ks: Sequence[int], splits: int, csls_k: int, seed: int,
                           fractions: Sequence[float] = TRAIN_FRACTIONS, preprocess: str = "project") -> list[dict]:
    """:func:`~synesthesia.align.concept_alignment_records` at each share of concepts fitting the map.

    Each fraction has its own splits (the rest of the concepts are its test set);
    fractions that leave no training concept are refused before any is scored.
    """
    n_concepts = len(concept_pairs(vision, vision_ids, language, alias_ids, dictionary).concepts)
    for fraction in fractions:
        split_indices(n_concepts, fraction, seed)
    return [{"train_fraction": fraction, **record}
            for fraction in fractions
            for record in concept_alignment_records(vision, vision_ids, language, alias_ids, dictionary, ks, splits,
                                                    fraction, csls_k, seed, preprocess)]


# --------------------------------------------------------------------- rule entry points


def score_factors(text_path: str, vision_path: str, dictionary_path: str, out: str, spec: dict,
                  tables: Sequence[str] | None = None) -> list[dict]:
    """Binned P@k of one (language model, vision model) pair into a long-format JSON.

    ``spec``: ``ks``, ``splits``, ``train_fraction``, ``csls_k``, ``seed`` as for the
    alignment, and optionally ``half_samples``, ``permutations``, ``level`` and ``frequency``
    (``study`` or ``wordfreq``, :func:`frequency_source`). Dispersion factors need the
    stores' per-occurrence items; without them they are left out.
    """
    from .data.concepts import read_dictionary

    text, vision = read_pair(text_path, vision_path, tables)
    dictionary = read_dictionary(dictionary_path)
    pairs = concept_pairs(vision.vectors, vision.ids, text.vectors, text.ids, dictionary.concepts)
    bins = concept_bins(
        pairs, text.ids, dictionary.aliases,
        vision_dispersion=store_dispersion(vision_path, len(vision.ids), pairs.vision_rows),
        language_dispersion=store_dispersion(text_path, len(text.ids), [g[0] for g in pairs.gold]),
        frequency=spec.get("frequency"),
    )
    records = breakdown_records(pairs, bins, spec["ks"], resolve_splits(spec["splits"], dictionary, dictionary_path),
                                spec["train_fraction"], spec["csls_k"], spec["seed"],
                                **{key: spec[key] for key in ("half_samples", "permutations", "level", "preprocess")
                                   if key in spec})
    return write_records(out, concept_pair_identity(text, vision, dictionary.name, "procrustes"), records)


def score_train_fractions(text_path: str, vision_path: str, dictionary_path: str, out: str,
                          spec: dict, tables: Sequence[str] | None = None) -> list[dict]:
    """P@k of one pair at each training fraction (``spec["train_fractions"]``) into a long-format JSON.

    Each fraction is scored on seeded random splits: with published folds as the
    experiment's ``splits``, as many seeded splits as there are folds.
    """
    from .data.concepts import read_dictionary

    text, vision = read_pair(text_path, vision_path, tables)
    dictionary = read_dictionary(dictionary_path)
    splits = spec["splits"] if isinstance(spec["splits"], int) else len(resolve_splits(spec["splits"], dictionary,
                                                                                        dictionary_path))
    records = train_fraction_records(vision.vectors, vision.ids, text.vectors, text.ids, dictionary.concepts,
                                     spec["ks"], splits, spec["csls_k"], spec["seed"],
                                     spec.get("train_fractions", TRAIN_FRACTIONS), spec.get("preprocess", "project"))
    return write_records(out, concept_pair_identity(text, vision, dictionary.name, "procrustes"), records)
