"""Similarity records: every metric for every layer pair, and the concept-similarity rule's entry point."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ..records import write_records
from ..resampling import DEFAULT_HALF_SAMPLES, DEFAULT_PERMUTATIONS, half_sample_interval
from .metrics import CKA_METRICS, KNN_METRICS, Comparison, check_metrics, grams_pay_off
from .spaces import DEFAULT_K, DEFAULT_KEEP, Space

_NO_UNCERTAINTY = {"ci_low": None, "ci_high": None, "level": None, "half_samples": 0,
                   "null_mean": None, "null_std": None, "null_p": None, "permutations": 0}


def _uncertainty(comparison: Comparison, metrics: Sequence[str], values: Mapping[str, float], half_samples: int,
                 permutations: int, level: float, seed: int) -> dict[str, dict]:
    """Half-sample interval and shuffled-pairing null of each metric, as record fields."""
    halves = comparison.half_samples(metrics, half_samples, seed) if half_samples else {}
    null = comparison.null(metrics, permutations, seed + 1) if permutations else {}
    fields = {}
    for metric in metrics:
        fields[metric] = dict(_NO_UNCERTAINTY)
        if half_samples:
            low, high = half_sample_interval(values[metric], halves[metric], comparison.n, level)
            fields[metric].update(ci_low=low, ci_high=high, level=level, half_samples=half_samples)
        if permutations:
            chance = null[metric]
            fields[metric].update(
                null_mean=float(chance.mean()),
                null_std=float(chance.std(ddof=1)) if permutations > 1 else None,
                # the share of pairings (the observed one counted) scoring at least the observed value
                null_p=float((1 + (chance >= values[metric]).sum()) / (1 + permutations)),
                permutations=permutations,
            )
    return fields


def layer_pair_records(
    text_layers: Mapping[str, np.ndarray],
    vision_layers: Mapping[str, np.ndarray],
    metrics: Sequence[str] | None = None,
    k: int = DEFAULT_K,
    keep: float | int = DEFAULT_KEEP,
    half_samples: int = DEFAULT_HALF_SAMPLES,
    permutations: int = DEFAULT_PERMUTATIONS,
    level: float = 0.95,
    seed: int = 0,
    uncertainty: str = "best",
    device: str | None = None,
) -> list[dict]:
    """Every metric for every (text layer, vision layer) pair, then the best pair per metric, in long format.

    Each side's rows are scaled to unit length first, the project's cosine
    convention (Huh et al. normalise before every metric too); X is the text side,
    Y the vision side. Records have ``selection`` ``"layer_pair"`` (one per pair and
    metric) or ``"best"`` (one per metric: its highest-scoring pair). ``uncertainty``:
    ``"best"`` adds half-sample intervals and the shuffled-pairing null to each
    metric's best pair, ``"all"`` to every pair. The best pair is chosen on the
    concepts it is scored on, so with many layers its value is optimistic.

    Each layer's own work (neighbour lists, components) is done once; CKA comes
    from centred Gram matrices, each vision layer's held throughout, where
    :func:`.metrics.grams_pay_off` finds them cheaper than per-pair cross-scatters.
    ``device``: a torch device for the spaces' products (see :mod:`.spaces`).
    """
    from ..align import normalize_rows

    metrics = check_metrics(metrics)
    if uncertainty not in ("best", "all"):
        raise ValueError(f"uncertainty must be 'best' or 'all', not {uncertainty!r}")
    text_rows = {str(layer): rows for layer, rows in text_layers.items()}
    sizes = {len(rows) for rows in (*text_rows.values(), *vision_layers.values())}
    if len(sizes) != 1:
        raise ValueError(f"layers hold different numbers of concepts: {sorted(sizes)}")
    (n_concepts,) = sizes

    def text_space(layer: str) -> Space:
        return Space(normalize_rows(text_rows[layer]), k, keep, f"text layer {layer}", device)

    vision_spaces = {str(layer): Space(normalize_rows(rows), k, keep, f"vision layer {layer}", device)
                     for layer, rows in vision_layers.items()}
    # the features' precision once normalised: float16 is widened to float32, integers to float64
    itemsize = max(np.result_type(rows.dtype, np.float32).itemsize
                   for rows in (*text_rows.values(), *vision_layers.values()))
    via_grams = bool(set(metrics) & set(CKA_METRICS)) and grams_pay_off(
        n_concepts, [rows.shape[-1] for rows in text_rows.values()],
        [space.dim for space in vision_spaces.values()], itemsize)
    values, fields = {}, {}
    for text_layer in text_rows:
        space = text_space(text_layer)
        for vision_layer, vision_space in vision_spaces.items():
            comparison = Comparison(space, vision_space, via_grams)
            values[text_layer, vision_layer] = comparison.values(metrics)
            if uncertainty == "all":
                fields[text_layer, vision_layer] = _uncertainty(comparison, metrics, values[text_layer, vision_layer],
                                                                half_samples, permutations, level, seed)
    best = {metric: max(values, key=lambda pair: np.nan_to_num(values[pair][metric], nan=-np.inf))
            for metric in metrics}
    if uncertainty == "best":
        for pair in dict.fromkeys(best.values()):
            comparison = Comparison(text_space(pair[0]), vision_spaces[pair[1]], via_grams)
            chosen = [metric for metric in metrics if best[metric] == pair]
            fields[pair] = _uncertainty(comparison, chosen, values[pair], half_samples, permutations, level, seed)

    def record(metric: str, pair: tuple[str, str], selection: str) -> dict:
        return {"metric": metric, "value": values[pair][metric], "selection": selection,
                "text_layer": pair[0], "vision_layer": pair[1], "n_concepts": n_concepts,
                "k": k if metric in KNN_METRICS else None, "keep": keep if metric == "svcca" else None,
                **fields.get(pair, {}).get(metric, _NO_UNCERTAINTY)}

    return ([record(metric, pair, "layer_pair") for pair in values for metric in metrics]
            + [record(metric, best[metric], "best") for metric in metrics])


ALIGNMENT_METRIC = "alignment"


def alignment_layer_records(values: Mapping[tuple[str, str], Mapping[str, float]], k: int,
                            n_concepts: int) -> list[dict]:
    """Records of the concept alignment's CSLS P@k at every layer pair (:func:`synesthesia.align.alignment_by_layer`)
    beside the similarity metrics', metric ``alignment``: one per pair, then the best pair, each with the
    shuffled-dictionary control's mean as its null."""
    best = max(values, key=lambda pair: values[pair]["value"])

    def record(pair: tuple[str, str], selection: str) -> dict:
        return {"metric": ALIGNMENT_METRIC, "value": values[pair]["value"], "selection": selection,
                "text_layer": pair[0], "vision_layer": pair[1], "n_concepts": n_concepts, "k": k, "keep": None,
                **_NO_UNCERTAINTY, "null_mean": values[pair]["null_mean"]}

    return [record(pair, "layer_pair") for pair in values] + [record(best, "best")]


def concept_language_rows(language: np.ndarray, gold: Sequence[np.ndarray]) -> np.ndarray:
    """One language row per concept: the mean of its aliases' unit-length rows, so each alias weighs the same."""
    from ..align import normalize_rows

    rows = np.concatenate(gold)
    starts = np.concatenate([[0], np.cumsum([len(g) for g in gold])[:-1]])
    sums = np.add.reduceat(normalize_rows(language[rows].astype(np.float64)), starts, axis=0)
    return (sums / np.array([len(g) for g in gold])[:, None]).astype(np.float32)


def layer_alignment(pairs, text_layers: Sequence[str], word_rows, vision_layers: Mapping[str, np.ndarray],
                    setting: Mapping, dictionary, dictionary_path: str,
                    placement) -> dict[tuple[str, str], dict[str, float]]:
    """The concept alignment at every layer pair, as the experiment's ``setting`` (its ``k``, and the alignment's
    ``splits``, ``train_fraction``, ``csls_k``, ``seed``, ``preprocess``) asks, in ``placement``;
    ``word_rows(layer)``: every candidate word's row at a text layer."""
    from ..align import alignment_by_layer, require_concept_ks, resolve_splits

    require_concept_ks(pairs, [setting["k"]], setting["csls_k"])
    return alignment_by_layer(pairs, text_layers, word_rows, dict(vision_layers), setting["k"],
                              resolve_splits(setting["splits"], dictionary, dictionary_path),
                              setting["train_fraction"], setting["csls_k"], setting["seed"], setting["preprocess"],
                              placement)


def score_similarity(text_path: str, vision_path: str, dictionary_path: str, out: str, spec: dict,
                     tables: Sequence[str] | None = None) -> list[dict]:
    """Similarity metrics of one (language model, vision model) pair on a dictionary's shared concepts.

    A concept's vision row is its store row, its language row the mean of its
    aliases' rows (:func:`concept_language_rows`). Every layer a store holds
    (a model entry's ``layers``) is a side of its own beside the main vector,
    so two multi-layer stores give every layer pair and the best one per
    metric. ``spec`` may set ``metrics``, ``k``, ``keep``, ``half_samples``,
    ``permutations``, ``level``, ``seed`` and ``uncertainty`` (see
    :func:`layer_pair_records`), and ``alignment`` to add the concept alignment's
    P@k at every layer pair (:func:`layer_alignment`). Both run on the job's device
    (:func:`~synesthesia.ranking.job_placement`).
    """
    from ..align import concept_pair_identity, concept_pairs, read_pair
    from ..data.concepts import read_dictionary
    from ..ranking import job_placement
    from ..store import read_layer, stored_layers

    text, vision = read_pair(text_path, vision_path, tables)
    dictionary = read_dictionary(dictionary_path)
    pairs = concept_pairs(vision.vectors, vision.ids, text.vectors, text.ids, dictionary.concepts)
    # Stored layers share the main vector's ids, row for row: the same rows are the concepts'.
    main_layer = str(text.attrs["layer"])

    def word_rows(layer: str) -> np.ndarray:
        """Every candidate word's row at ``layer``, read when needed: all layers of a corpus may not fit at once."""
        return pairs.language if layer == main_layer else read_layer(text_path, int(layer)).vectors

    text_layers = {layer: concept_language_rows(word_rows(layer), pairs.gold)
                   for layer in (main_layer, *map(str, stored_layers(text_path)))}
    vision_layers = {str(vision.attrs["layer"]): pairs.vision}
    vision_layers |= {str(index): read_layer(vision_path, index).vectors[pairs.vision_rows]
                      for index in stored_layers(vision_path)}
    placement = job_placement()
    records = layer_pair_records(
        text_layers,
        vision_layers,
        device=None if placement.device == "cpu" else placement.device,
        **{key: spec[key] for key in ("metrics", "k", "keep", "half_samples", "permutations", "level", "seed",
                                      "uncertainty") if key in spec},
    )
    if "alignment" in spec:
        records += alignment_layer_records(layer_alignment(pairs, list(text_layers), word_rows, vision_layers,
                                                           spec["alignment"], dictionary, dictionary_path, placement),
                                           spec["alignment"]["k"], len(pairs.concepts))
    return write_records(out, concept_pair_identity(text, vision, dictionary.name, "similarity"), records)
