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
synset's usual name.

What is binned and scored is the ``unit`` (:data:`BREAKDOWN_UNITS`):

- ``concept`` (the default): each test concept, binned by its head alias; a hit at
  k is any of its aliases among the k best candidates (the alignment's P@k);
- ``pair``: each test (concept, alias) pair, as the study's evaluation did (MUSE's
  word-translation accuracy with its ``more_exp`` flag, jiaangli/VLCA at the commit
  of its bin files): the pair is binned by its alias (vision dispersion: by its
  concept), it is a hit at k when its concept's mapped vector ranks that very alias
  among the k best, and a bin's P@k is the mean over the concepts with pairs in the
  bin of the share of those pairs that hit. A concept whose aliases fall in several
  bins counts in each, with only those aliases.

Each bin's P@k carries its size, a half-sample interval over its test concepts
(:mod:`synesthesia.resampling`) and the chance level: the same P@k after maps
fitted on shuffled pairings of the training concepts.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Mapping, Sequence

import numpy as np

from .align import (
    ConceptPairs,
    concept_alignment_records,
    concept_pair_identity,
    concept_pairs,
    normalize_rows,
    procrustes_scores,
    read_pair,
    require_concept_ks,
    resolve_splits,
    split_indices,
    split_spaces,
)
from .data.vlca import FREQUENCY_BIN_NAMES, frequency_bin
from .ranking import CPU, CandidateScores, Placement, job_placement
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
# What a breakdown bins and scores: test concepts (by their head alias) or test (concept, alias) pairs.
BREAKDOWN_UNITS = ("concept", "pair")
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


def store_dispersion(store, rows: Sequence[int]) -> np.ndarray | None:
    """:func:`dispersion` of a store's per-occurrence items for ``rows``, read from the file in blocks;
    None without items.

    ``store`` is the store as :func:`~synesthesia.store.read_embeddings` returned it. Its items pass
    the same checks (:func:`~synesthesia.store.check_embeddings`: shape, owners, every occurrence
    finite), read lazily in blocks, since a corpus-wide store's items need not fit in memory: a
    non-finite occurrence would otherwise make its owner's dispersion NaN and drop it from the
    tertiles without a word.
    """
    from .store import CorruptStoreError, check_embeddings, open_hdf5

    with open_hdf5(store.path, "r") as f:
        if "items" not in f:
            return None
        missing = [name for name in ("embeddings", "owner") if name not in f["items"]]
        if missing:
            raise CorruptStoreError(f"{store.path}: an `items` group without {missing}; delete it and rerun the "
                                    "workflow to re-extract it")
        checked = replace(store, items=f["items/embeddings"], owner=f["items/owner"][:])
        check_embeddings(checked)
        return dispersion(checked.items, checked.owner, len(store.ids), rows)


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


def _word_bins(alias_rows: Sequence[int], alias_ids: Sequence[str], alias_metadata: Mapping[str, dict],
               frequency: str | None, binned: str) -> dict[str, np.ndarray]:
    """The polysemy and frequency bins of each alias row; ``binned`` says whose aliases, for the log."""
    metadata = [alias_metadata[alias_ids[row]] for row in alias_rows]
    source = frequency_source(alias_metadata, frequency)
    if source == "study":
        counts = [m.get("count") for m in metadata]
        log.info("frequency bins from the study's corpus counts; %d of %d %s have none",
                 sum(count is None for count in counts), len(counts), binned)
        frequency_labels = count_frequency_bins(counts)
    else:
        log.info("frequency bins from wordfreq's Zipf frequencies")
        frequency_labels = frequency_bins([m.get("zipf") for m in metadata])
    return {"polysemy": polysemy_bins([m.get("polysemy") for m in metadata]), "frequency": frequency_labels}


def _defined(bins: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {factor: labels for factor, labels in bins.items() if any(label is not None for label in labels)}


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
    bins = _word_bins(heads, alias_ids, alias_metadata, frequency, "concepts' head aliases")
    if vision_dispersion is not None:
        bins["vision_dispersion"] = tertile_bins(vision_dispersion[pairs.vision_rows])
    if language_dispersion is not None:
        bins["language_dispersion"] = tertile_bins(language_dispersion[heads])
    return _defined(bins)


def pair_concepts(gold: Sequence[np.ndarray]) -> np.ndarray:
    """The concept (index into ``gold``) of each (concept, alias) pair: concept by concept, aliases in gold order."""
    return np.repeat(np.arange(len(gold)), [len(g) for g in gold])


def pair_positions(gold: Sequence[np.ndarray], concepts: np.ndarray) -> np.ndarray:
    """Where the pairs of ``concepts`` are in :func:`pair_concepts`' order, concept by concept as given."""
    sizes = np.array([len(g) for g in gold])
    starts = np.cumsum(sizes) - sizes
    return np.concatenate([starts[c] + np.arange(sizes[c]) for c in concepts] or [np.zeros(0, dtype=np.int64)])


def pair_bins(pairs: ConceptPairs, alias_ids: Sequence[str], alias_metadata: Mapping[str, dict],
              vision_dispersion: np.ndarray | None = None,
              language_dispersion: np.ndarray | None = None,
              frequency: str | None = None) -> dict[str, np.ndarray]:
    """Each (concept, alias) pair's bin per factor, in :func:`pair_concepts`' order, as the study binned its pairs.

    Polysemy, frequency and language dispersion are the pair's alias's (tertiles cut
    over every alias of the scored concepts); vision dispersion is its concept's
    (tertiles over concepts, as in :func:`concept_bins`). Arguments as for
    :func:`concept_bins`.
    """
    aliases = np.concatenate(pairs.gold)
    bins = _word_bins(aliases, alias_ids, alias_metadata, frequency, "pairs' aliases")
    if vision_dispersion is not None:
        bins["vision_dispersion"] = tertile_bins(vision_dispersion[pairs.vision_rows])[pair_concepts(pairs.gold)]
    if language_dispersion is not None:
        bins["language_dispersion"] = tertile_bins(language_dispersion[aliases])
    return _defined(bins)


# --------------------------------------------------------------------- binned P@k


def _precision_interval(hits: np.ndarray, half_samples: int, seed: int,
                        level: float) -> tuple[float | None, float | None]:
    if not half_samples or len(hits) < 2:
        return None, None
    members = draw_half_samples(len(hits), half_samples, seed)
    low, high = half_sample_interval(float(hits.mean()), members @ hits / members.sum(axis=1), len(hits), level)
    # A precision lies in [0, 1]; the interval's symmetric construction can step outside it.
    return max(low, 0.0), min(high, 1.0)


def _bin_row(label: str, k: int, scores: np.ndarray, chance: np.ndarray, n_bin: int, permutations: int,
             half_samples: int, level: float, seed: int) -> dict:
    """One bin's P@k: the mean of its concepts' ``scores`` (a hit, or the share of their pairs that hit)."""
    low, high = _precision_interval(scores, half_samples, seed, level)
    return {
        "bin": label, "k": int(k), "value": float(scores.mean()) if len(scores) else None,
        "n_bin": n_bin, "n_bin_concepts": len(scores), "ci_low": low, "ci_high": high,
        "level": level if half_samples else None, "half_samples": half_samples,
        "null_mean": float(chance.mean()) if len(chance) else None,
        "null_std": float(chance.std(ddof=1)) if len(chance) > 1 else None,
        "permutations": permutations,
    }


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
            rows.append(_bin_row(label, k, hits, chance, int(inside.sum()), len(null_ranks), half_samples, level,
                                 seed))
    return rows


def _hit_shares(hits: np.ndarray, concept_of_pair: np.ndarray, n_concepts: int) -> np.ndarray:
    """Per concept, the share of its pairs that hit (``concept_of_pair`` numbers the concepts 0..n-1)."""
    return np.bincount(concept_of_pair, weights=hits, minlength=n_concepts) / np.bincount(
        concept_of_pair, minlength=n_concepts)


def binned_pair_precision(ranks: np.ndarray, concepts: np.ndarray, labels: np.ndarray, ks: Sequence[int],
                          order: Sequence[str], null_ranks: Sequence[np.ndarray] = (), half_samples: int = 0,
                          level: float = 0.95, seed: int = 0) -> list[dict]:
    """P@k of the test (concept, alias) pairs in each bin, as the study scored them (in ``order``, empty bins too).

    ``ranks``, ``concepts`` and ``labels`` are per test pair: the rank of the pair's
    alias for its concept (:func:`pair_ranks`), the concept, the bin. A bin's P@k
    is the mean, over the concepts with pairs in it, of the share of those pairs
    ranked below k; ``n_bin`` counts its pairs, ``n_bin_concepts`` their concepts,
    over which the half-sample interval is drawn. ``null_ranks``: per test pair, as
    for :func:`binned_precision`.
    """
    rows = []
    for label in order:
        inside = labels == label
        owners, concept_of_pair = np.unique(concepts[inside], return_inverse=True)
        for k in ks:
            shares = _hit_shares(ranks[inside] < k, concept_of_pair, len(owners))
            chance = np.array([_hit_shares(null[inside] < k, concept_of_pair, len(owners)).mean()
                               for null in null_ranks]) if inside.any() else np.array([])
            rows.append(_bin_row(label, k, shares, chance, int(inside.sum()), len(null_ranks), half_samples, level,
                                 seed))
    return rows


def pair_ranks(scores: CandidateScores, gold: Sequence[np.ndarray], test: np.ndarray) -> dict[str, np.ndarray]:
    """Per retrieval, the rank of each test (concept, alias) pair's own alias among all candidates for its concept.

    Pairs come concept by concept in ``test`` order, aliases in ``gold`` order
    (:func:`pair_positions`). A pair is ranked as a concept whose only gold alias
    is that one (the concept's other aliases are candidates like any word): the
    study's per-pair hit. ``scores``: the test concepts' scores under one map
    (:func:`~synesthesia.align.procrustes_scores`); one ranking per alias position
    (up to 7 in the study's dictionary) from those same scores.
    """
    sizes = np.array([len(gold[i]) for i in test])
    starts = np.cumsum(sizes) - sizes
    ranks: dict[str, np.ndarray] = {}
    for position in range(int(sizes.max())):
        has = sizes > position
        ranked = scores.ranks([gold[concept][position:position + 1] for concept in test[has]],
                              rows=np.flatnonzero(has))
        for retrieval, rank in ranked.items():
            ranks.setdefault(retrieval, np.empty(int(sizes.sum()), dtype=np.int64))[starts[has] + position] = rank
    return ranks


def unit_ranks(vision_z, language_z, gold: Sequence[np.ndarray], train: np.ndarray, test: np.ndarray, csls_k: int,
               unit: str, shuffle_seed: int | None = None) -> dict[str, np.ndarray]:
    """Ranks per retrieval after the Procrustes map (with ``shuffle_seed``: a shuffled-pairing one), per test concept
    (``unit="concept"``) or per test pair (``"pair"``, :func:`pair_ranks`)."""
    scores = procrustes_scores(vision_z, language_z, gold, train, test, csls_k, shuffle_seed)
    return scores.ranks([gold[i] for i in test]) if unit == "concept" else pair_ranks(scores, gold, test)


def shuffled_ranks(vision_z, language_z, gold: Sequence[np.ndarray], train: np.ndarray, test: np.ndarray,
                   csls_k: int, permutations: int, seed: int, unit: str = "concept") -> list[dict[str, np.ndarray]]:
    """Test ranks (per retrieval and ``unit``) after maps fitted on shuffled pairings of the training concepts:
    the chance level, on spaces already shared (:func:`~synesthesia.align.shared_spaces`)."""
    seeds = np.random.default_rng(seed).integers(2 ** 31, size=permutations)
    return [unit_ranks(vision_z, language_z, gold, train, test, csls_k, unit, int(s)) for s in seeds]


def require_unit(unit: str) -> None:
    """Refuse a ``unit`` setting that is not one of :data:`BREAKDOWN_UNITS`, naming the config key."""
    if unit not in BREAKDOWN_UNITS:
        raise ValueError(f"config: experiments.concepts.factors.unit: {unit!r} is not one of {BREAKDOWN_UNITS} "
                         "(`concept`: each test concept by its head alias; `pair`: each test (concept, alias) "
                         "pair, as the study did)")


def breakdown_records(pairs: ConceptPairs, bins: Mapping[str, np.ndarray], ks: Sequence[int], splits,
                      train_fraction: float, csls_k: int, seed: int, half_samples: int = DEFAULT_HALF_SAMPLES,
                      permutations: int = DEFAULT_PERMUTATIONS, level: float = 0.95,
                      preprocess: str = "project", unit: str = "concept",
                      placement: Placement = CPU) -> list[dict]:
    """P@k of the fitted map per split, retrieval, factor and bin (factor ``all``: every test concept or pair).

    ``splits``: a number of seeded splits or published folds (:func:`synesthesia.align.concept_splits`).
    ``unit``: ``concept`` with ``bins`` per concept (:func:`concept_bins`), ``pair`` with
    ``bins`` per (concept, alias) pair (:func:`pair_bins`); every record carries it.
    """
    require_unit(unit)
    unknown = sorted(set(bins) - set(FACTOR_BINS))
    if unknown:
        raise ValueError(f"unknown factors {unknown}; known: {sorted(FACTOR_BINS)}")
    require_concept_ks(pairs, ks, csls_k)
    n_units = len(pairs.concepts) if unit == "concept" else sum(len(g) for g in pairs.gold)
    misfit = sorted(factor for factor, labels in bins.items() if len(labels) != n_units)
    if misfit:
        maker = "concept_bins" if unit == "concept" else "pair_bins"
        raise ValueError(f"bins of {misfit} have {len(bins[misfit[0]])} labels, but unit {unit!r} needs one per "
                         f"{unit} ({n_units}): make them with {maker}")
    factors = {"all": (np.full(n_units, "all", dtype=object), ("all",)),
               **{factor: (labels, FACTOR_BINS[factor]) for factor, labels in bins.items()}}
    concept_of_pair = pair_concepts(pairs.gold)
    records = []
    for split, train, test, vision_z, language_z in split_spaces(pairs, splits, train_fraction, seed, preprocess,
                                                                  placement):
        log.info(f"split {split}: the fitted map and {permutations} shuffled pairings, {len(test)} test concepts "
                 f"among {len(pairs.language)} candidates, on {placement.device}")
        ranks = unit_ranks(vision_z, language_z, pairs.gold, train, test, csls_k, unit)
        null = shuffled_ranks(vision_z, language_z, pairs.gold, train, test, csls_k, permutations, seed + split, unit)
        test_pairs = pair_positions(pairs.gold, test)
        for retrieval, rank in ranks.items():
            null_rank = [n[retrieval] for n in null]
            for factor, (labels, order) in factors.items():
                if unit == "concept":
                    rows = binned_precision(rank, labels[test], ks, order, null_rank, half_samples, level,
                                            seed + split)
                else:
                    rows = binned_pair_precision(rank, concept_of_pair[test_pairs], labels[test_pairs], ks, order,
                                                 null_rank, half_samples, level, seed + split)
                for row in rows:
                    records.append({"split": split, "control": "none", "retrieval": retrieval, "factor": factor,
                                    "metric": "precision", "unit": unit, **row, "n_test": int(len(test)),
                                    "n_test_pairs": int(len(test_pairs))})
    return records


# --------------------------------------------------------------------- training-set ratio and model size


def train_fraction_records(vision: np.ndarray, vision_ids: list[str], language: np.ndarray, alias_ids: list[str],
                           dictionary: dict[str, list[str]], ks: Sequence[int], splits: int, csls_k: int, seed: int,
                           fractions: Sequence[float] = TRAIN_FRACTIONS, preprocess: str = "project",
                           placement: Placement = CPU) -> list[dict]:
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
                                                    fraction, csls_k, seed, preprocess, placement)]


# --------------------------------------------------------------------- rule entry points


def score_factors(text_path: str, vision_path: str, dictionary_path: str, out: str, spec: dict,
                  tables: Sequence[str] | None = None) -> list[dict]:
    """Binned P@k of one (language model, vision model) pair into a long-format JSON.

    ``spec``: ``ks``, ``splits``, ``train_fraction``, ``csls_k``, ``seed`` as for the
    alignment, and optionally ``half_samples``, ``permutations``, ``level``, ``frequency``
    (``study`` or ``wordfreq``, :func:`frequency_source`) and ``unit`` (``concept``, the
    default, or ``pair``: :data:`BREAKDOWN_UNITS`). Dispersion factors need the stores'
    per-occurrence items; without them they are left out.
    """
    from .data.concepts import read_dictionary

    unit = spec.get("unit", "concept")
    require_unit(unit)
    text, vision = read_pair(text_path, vision_path, tables)
    dictionary = read_dictionary(dictionary_path)
    pairs = concept_pairs(vision.vectors, vision.ids, text.vectors, text.ids, dictionary.concepts)
    unit_bins = concept_bins if unit == "concept" else pair_bins
    # Word properties of the aliases binned: each concept's head alias, or every alias of a pair.
    binned_aliases = [g[0] for g in pairs.gold] if unit == "concept" else np.concatenate(pairs.gold)
    bins = unit_bins(
        pairs, text.ids, dictionary.aliases,
        vision_dispersion=store_dispersion(vision, pairs.vision_rows),
        language_dispersion=store_dispersion(text, binned_aliases),
        frequency=spec.get("frequency"),
    )
    records = breakdown_records(pairs, bins, spec["ks"], resolve_splits(spec["splits"], dictionary, dictionary_path),
                                spec["train_fraction"], spec["csls_k"], spec["seed"], unit=unit,
                                placement=job_placement(),
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
                                     spec.get("train_fractions", TRAIN_FRACTIONS), spec.get("preprocess", "project"),
                                     job_placement())
    return write_records(out, concept_pair_identity(text, vision, dictionary.name, "procrustes"), records)
