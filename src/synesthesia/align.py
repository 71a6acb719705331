"""Maps between embedding spaces and retrieval scores.

Convention: every similarity is "higher = more similar" (cosine), rows are
mean-centred on the training part and L2-normalised explicitly before a map is
fitted or a neighbour is searched.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .ranking import (
    CPU,
    CandidateScores,
    Placement,
    best_gold_ranks,
    job_placement,
    matmul,
    pca_basis,
    procrustes,
    query_block,
    unit_rows,
)
from .records import write_records

log = logging.getLogger(__name__)

PREPROCESSING = ("project", "study")
# What an alignment ranks: the fitted map, and two chance levels (see :func:`align_concepts`).
CONTROLS = ("none", "shuffled", "random_map")
# What the alignment at every layer pair ranks (:func:`alignment_by_layer`): the fitted map and its null.
LAYER_CONTROLS = ("none", "shuffled")


def normalize_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def ridge_map(source: np.ndarray, target: np.ndarray, alpha: float) -> np.ndarray:
    """W minimising ||source W - target||^2 + alpha ||W||^2 (closed form, float64)."""
    source, target = source.astype(np.float64), target.astype(np.float64)
    gram = source.T @ source
    gram[np.diag_indices_from(gram)] += alpha
    return np.linalg.solve(gram, source.T @ target)


def retrieval_ranks(queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Rank (0 = best) of candidate ``i`` among all candidates for query ``i``, by cosine.

    Ties count against the query (a constant map cannot score above chance).
    """
    placement = Placement(dtype="float64")  # the ridge map's precision; retrieval test sets are small
    queries, candidates = unit_rows(placement.put(queries)), unit_rows(placement.put(candidates))
    gold = [np.array([i]) for i in range(len(queries))]
    return best_gold_ranks(lambda start, stop: queries[start:stop] @ candidates.T, len(queries), gold, len(candidates))


def recall_at_k(ranks: np.ndarray, ks: Sequence[int]) -> dict[int, float]:
    return {int(k): float((ranks < k).mean()) for k in ks}


def require_below(values: Sequence[int], limit: int, key: str, what: str) -> None:
    """Refuse a k that leaves nothing to rank: at k >= ``limit`` every query is a hit (1.0) whatever the model."""
    too_large = sorted({int(v) for v in values if v >= limit})
    if too_large:
        raise ValueError(f"config: {key}: {too_large} must be below the {limit} {what}, or every query scores "
                         "a hit whatever the model; lower it or use more data")


def split_indices(n: int, train_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random split of ``n`` pairs; no test pair is ever in training."""
    order = np.random.default_rng(seed).permutation(n)
    n_train = int(round(n * train_fraction))
    if n_train < 1 or n_train >= n:
        raise ValueError(f"train_fraction {train_fraction} leaves no training or no test pairs among {n}")
    return np.sort(order[:n_train]), np.sort(order[n_train:])


def mapped_retrieval(
    source: np.ndarray,
    target: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    alpha: float,
    shuffle_seed: int | None = None,
) -> np.ndarray:
    """Fit source->target on ``train`` pairs, return test ranks of each true target.

    With ``shuffle_seed`` the training pairs are permuted first: the map then
    learns nothing about which item is which, which gives the chance level.
    """
    source_train, target_train = source[train], target[train]
    if shuffle_seed is not None:
        target_train = target_train[np.random.default_rng(shuffle_seed).permutation(len(train))]
    source_mean, target_mean = source_train.mean(axis=0), target_train.mean(axis=0)
    x = normalize_rows(source_train - source_mean)
    y = normalize_rows(target_train - target_mean)
    weights = ridge_map(x, y, alpha)
    queries = normalize_rows(source[test] - source_mean) @ weights
    return retrieval_ranks(queries, target[test] - target_mean)


def retrieval_records(
    text: np.ndarray,
    vision: np.ndarray,
    ks: Sequence[int],
    splits: int,
    train_fraction: float,
    alpha: float,
    seed: int,
) -> list[dict]:
    """Image->caption retrieval through a vision->text map, per split, in long format."""
    if len(text) != len(vision):
        raise ValueError(f"{len(text)} captions but {len(vision)} images: pairs must align row by row")
    records = []
    for split in range(splits):
        train, test = split_indices(len(text), train_fraction, seed + split)
        require_below(ks, len(test), "experiments.retrieval.ks", "test pairs (the candidates)")
        for control, shuffle_seed in (("none", None), ("shuffled", seed + split + 10_000)):
            ranks = mapped_retrieval(vision, text, train, test, alpha, shuffle_seed)
            for k, value in recall_at_k(ranks, ks).items():
                records.append({"split": split, "control": control, "metric": "recall", "k": k,
                                "value": value, "n_test": int(len(test))})
            records.append({"split": split, "control": control, "metric": "median_rank", "k": None,
                            "value": float(np.median(ranks) + 1), "n_test": int(len(test))})
    return records


def score_retrieval(text_path: str, vision_path: str, out: str, spec: dict,
                    tables: Sequence[str] | None = None) -> list[dict]:
    """Score one (text model, vision model) pair of a dataset into a long-format JSON."""
    from .store import require_same_ids

    text, vision = read_pair(text_path, vision_path, tables)
    require_same_ids(text, vision)
    records = retrieval_records(
        text.vectors, vision.vectors, spec["ks"], spec["splits"], spec["train_fraction"], spec["ridge"], spec["seed"]
    )
    return write_records(out, {**pair_identity(text, vision), "method": "ridge"}, records)


# --- Concept alignment (second study): PCA + orthogonal Procrustes, NN and CSLS retrieval ---
# Tensors from here on (see synesthesia.ranking): on the job's device, in its precision.


def random_orthogonal(dim: int, seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(dim, dim)))
    return q * np.sign(np.diag(r))


class _Space:
    """Centring (on training rows), unit norm and an optional PCA basis, applied identically to any rows."""

    def __init__(self, train_rows, dim: int):
        self.mean = train_rows.mean(dim=0)
        centred = unit_rows(train_rows - self.mean)
        self.basis = pca_basis(centred - centred.mean(dim=0), dim) if dim < train_rows.shape[1] else None

    def __call__(self, rows):
        if self.basis is None:
            return unit_rows(rows - self.mean)
        # Normalising before the projection only rescales each row, which the last normalisation undoes; blocks
        # keep the centred copy of a 79k-word corpus from existing whole.
        out = rows.new_empty((len(rows), self.basis.shape[1]))
        step = query_block(rows.shape[1])
        for start in range(0, len(rows), step):
            out[start:start + step] = unit_rows(matmul(rows[start:start + step] - self.mean, self.basis))
        return out


def _study_space(rows, dim: int):
    """The study's preprocessing of one space: PCA to ``dim`` fitted on all rows, then centred.

    As its code ran it: scikit-learn's PCA (centred, not whitened) over every row of
    the embedding file, test concepts and all corpus words included, then MUSE's
    ``normalize_embeddings="center"``; rows keep their norms until retrieval.
    """
    centred = rows - rows.mean(dim=0)
    if dim < rows.shape[1]:
        centred = matmul(centred, pca_basis(centred, dim))
    return centred - centred.mean(dim=0)


def shared_spaces(vision, language, gold: list[np.ndarray], train: np.ndarray, preprocess: str = "project",
                  placement: Placement = CPU, language_spaces: dict | None = None):
    """Both spaces in a common dimension, the larger one reduced by PCA, as tensors of ``placement``.

    ``project``: centred and normalised on the training concepts, PCA fitted on the
    training concepts' rows and their aliases' rows only, so no test concept shapes
    the spaces; the common dimension is the smaller space's (or the number of
    training rows, if fewer). ``study``: as the study's code did (:func:`_study_space`);
    it does not depend on ``train``. ``language_spaces``: the language side's spaces
    by dimension, filled and reused by a caller that pairs the same language rows
    and split with several vision spaces.
    """
    if preprocess not in PREPROCESSING:
        raise ValueError(f"preprocess must be one of {PREPROCESSING}, not {preprocess!r}")
    train_aliases = np.unique(np.concatenate([gold[i] for i in train]))
    if preprocess == "study":
        dim = min(vision.shape[1], language.shape[1], len(vision), len(language))
    else:
        dim = min(vision.shape[1], language.shape[1], len(train), len(train_aliases))

    def space(rows, fitted_on):
        rows = placement.put(rows)
        return _study_space(rows, dim) if preprocess == "study" else _Space(rows[fitted_on], dim)(rows)

    language_spaces = {} if language_spaces is None else language_spaces
    if dim not in language_spaces:
        language_spaces[dim] = space(language, train_aliases)
    return space(vision, train), language_spaces[dim]


def training_pairs(gold: list[np.ndarray], train: np.ndarray, shuffle_seed: int | None = None):
    """(concept row, alias row) index pairs: each training concept with each of its aliases.

    With ``shuffle_seed`` each training concept gets another training concept's
    aliases: the shuffled-dictionary control.
    """
    train_gold = [gold[i] for i in train]
    if shuffle_seed is not None:
        train_gold = [train_gold[j] for j in np.random.default_rng(shuffle_seed).permutation(len(train_gold))]
    return np.repeat(train, [len(g) for g in train_gold]), np.concatenate(train_gold)


def rank_aliases(mapped, candidates, gold: list[np.ndarray], test: np.ndarray, csls_k: int) -> dict[str, np.ndarray]:
    """Best-gold-alias rank of each test concept among all aliases, by nearest neighbour and CSLS.

    CSLS (Conneau et al., 2018) discounts hubs near many queries; as in MUSE, a
    candidate's neighbourhood is taken among all mapped concepts
    (:class:`~synesthesia.ranking.CandidateScores`). Rows are compared by cosine.
    """
    return CandidateScores(mapped, candidates, test, csls_k).ranks([gold[i] for i in test])


def procrustes_scores(vision_z, language_z, gold: list[np.ndarray], train: np.ndarray, test: np.ndarray,
                      csls_k: int, shuffle_seed: int | None = None) -> CandidateScores:
    """The test concepts' scores after a Procrustes map fitted on the training pairs of the shared spaces.

    With ``shuffle_seed`` the training concepts are paired with other concepts'
    aliases first (see :func:`training_pairs`): one draw of the chance level.
    """
    import torch

    source_rows, target_rows = (torch.as_tensor(rows, device=vision_z.device)
                                for rows in training_pairs(gold, train, shuffle_seed))
    mapping = procrustes(vision_z[source_rows], language_z[target_rows])
    return CandidateScores(matmul(vision_z, mapping), language_z, test, csls_k)


def procrustes_ranks(vision_z, language_z, gold: list[np.ndarray], train: np.ndarray, test: np.ndarray,
                     csls_k: int, shuffle_seed: int | None = None) -> dict[str, np.ndarray]:
    """Test ranks (per retrieval) after a Procrustes map: :func:`procrustes_scores`, ranked by ``gold``."""
    scores = procrustes_scores(vision_z, language_z, gold, train, test, csls_k, shuffle_seed)
    return scores.ranks([gold[i] for i in test])


def align_concepts(vision, language, gold: list[np.ndarray], train: np.ndarray, test: np.ndarray, csls_k: int,
                   seed: int = 0, preprocess: str = "project",
                   placement: Placement = CPU) -> dict[str, dict[str, np.ndarray]]:
    """Procrustes from vision to language on ``train``, and the two controls; ranks per control and retrieval.

    ``vision`` has one row per concept, ``language`` one per alias, ``gold[i]`` the
    alias rows of concept ``i``. Controls: ``shuffled`` fits the map on training
    concepts paired with other concepts' aliases, ``random_map`` uses a random
    orthogonal map; both give the chance level.
    """
    vision_z, language_z = shared_spaces(vision, language, gold, train, preprocess, placement)
    return align_shared(vision_z, language_z, gold, train, test, csls_k, seed)


def align_shared(vision_z, language_z, gold: list[np.ndarray], train: np.ndarray, test: np.ndarray, csls_k: int,
                 seed: int, controls: Sequence[str] = CONTROLS) -> dict[str, dict[str, np.ndarray]]:
    """:func:`align_concepts` on spaces already shared (:func:`shared_spaces`), for the ``controls`` asked."""
    ranks = {}
    if "none" in controls:
        ranks["none"] = procrustes_ranks(vision_z, language_z, gold, train, test, csls_k)
    if "shuffled" in controls:
        ranks["shuffled"] = procrustes_ranks(vision_z, language_z, gold, train, test, csls_k,
                                             shuffle_seed=seed + 10_000)
    if "random_map" in controls:
        random_map = placement_of(vision_z).put(random_orthogonal(vision_z.shape[1], seed))
        ranks["random_map"] = rank_aliases(matmul(vision_z, random_map), language_z, gold, test, csls_k)
    return ranks


def placement_of(tensor) -> Placement:
    """The placement a tensor lives in."""
    return Placement(str(tensor.device), str(tensor.dtype).removeprefix("torch."))


@dataclass(frozen=True)
class ConceptPairs:
    """The dictionary's concepts that have a vision row and at least one alias row.

    ``vision`` has one row per concept (row ``vision_rows[i]`` of the vision store),
    ``language`` one per alias (all of the language store's rows), ``gold[i]`` the
    alias rows of concept ``i`` in dictionary order.
    """

    concepts: list[str]
    vision: np.ndarray
    language: np.ndarray
    gold: list[np.ndarray]
    vision_rows: np.ndarray


def concept_pairs(vision: np.ndarray, vision_ids: list[str], language: np.ndarray, alias_ids: list[str],
                  dictionary: dict[str, list[str]]) -> ConceptPairs:
    """Match a dictionary to a vision store (rows per synset) and a language store (rows per alias)."""
    alias_index = {alias: i for i, alias in enumerate(alias_ids)}
    vision_index = {synset: i for i, synset in enumerate(vision_ids)}
    concepts = [s for s in dictionary if s in vision_index and any(a in alias_index for a in dictionary[s])]
    if len(concepts) < 2:
        raise ValueError(f"only {len(concepts)} dictionary concepts have both a vision row and an alias row")
    gold = [np.array([alias_index[a] for a in dictionary[s] if a in alias_index]) for s in concepts]
    vision_rows = np.array([vision_index[s] for s in concepts])
    # float32 halves the cost of the SVDs and products; cosines need no more precision.
    return ConceptPairs(concepts, vision[vision_rows].astype(np.float32), language.astype(np.float32), gold,
                        vision_rows)


def require_concept_ks(pairs: ConceptPairs, ks: Sequence[int], csls_k: int) -> None:
    """Refuse a precision@k or CSLS neighbourhood as large as the candidate words (or the mapped concepts)."""
    require_below(ks, len(pairs.language), "experiments.concepts.ks", "candidate words")
    neighbours = min(len(pairs.language), len(pairs.concepts))
    if csls_k > neighbours:
        raise ValueError(f"config: experiments.concepts.csls_k: {csls_k} neighbours asked, but there are only "
                         f"{len(pairs.language)} candidate words and {len(pairs.concepts)} concepts; lower it")


def fold_indices(concepts: list[str], fold: tuple[Sequence[str], Sequence[str]], where: str):
    """A published fold's training and test concepts as indices into ``concepts``.

    Concepts the stores lack are left out of the fold; a scored concept the fold does
    not place is an error, since it would silently leave the test set.
    """
    train_keys, test_keys = set(fold[0]), set(fold[1])
    unplaced = [key for key in concepts if key not in train_keys and key not in test_keys]
    if unplaced:
        raise ValueError(f"{where}: {len(unplaced)} scored concepts are in neither its training nor its test "
                         f"part, e.g. {unplaced[:3]}: the folds belong to another dictionary")
    train = np.array([i for i, key in enumerate(concepts) if key in train_keys], dtype=np.int64)
    test = np.array([i for i, key in enumerate(concepts) if key in test_keys], dtype=np.int64)
    if not len(train) or not len(test):
        raise ValueError(f"{where}: no training or no test concept has both a vision and an alias row")
    return train, test


def concept_splits(pairs: ConceptPairs, splits, train_fraction: float, seed: int):
    """``(split, train, test)`` per split: ``splits`` seeded random splits (an int), or published folds.

    Folds are a list of ``(training keys, test keys)``, as a dictionary with the
    study's folds carries them (:attr:`synesthesia.data.concepts.ConceptDictionary.folds`).
    """
    if isinstance(splits, int):
        for split in range(splits):
            yield (split, *split_indices(len(pairs.concepts), train_fraction, seed + split))
        return
    for split, fold in enumerate(splits):
        yield (split, *fold_indices(pairs.concepts, fold, f"published fold {split + 1}"))


def split_spaces(pairs: ConceptPairs, splits, train_fraction: float, seed: int, preprocess: str = "project",
                 placement: Placement = CPU):
    """Per split: ``(split, train, test, vision_z, language_z)``, the shared spaces as tensors of ``placement``.

    ``study`` spaces do not depend on the split and are computed once.
    """
    shared = None
    for split, train, test in concept_splits(pairs, splits, train_fraction, seed):
        if shared is None or preprocess != "study":
            shared = shared_spaces(pairs.vision, pairs.language, pairs.gold, train, preprocess, placement)
        yield split, train, test, *shared


def split_ranks(pairs: ConceptPairs, splits, train_fraction: float, csls_k: int, seed: int,
                preprocess: str = "project", placement: Placement = CPU):
    """Per split: ``(split, train, test, ranks)``, ranks as :func:`align_concepts` returns them.

    ``train`` and ``test`` index ``pairs.concepts``; ``ranks[control][retrieval][j]``
    is the best-gold rank of test concept ``pairs.concepts[test[j]]``.
    """
    for split, train, test, vision_z, language_z in split_spaces(pairs, splits, train_fraction, seed, preprocess,
                                                                  placement):
        log.info(f"split {split}: {len(train)} training and {len(test)} test concepts, "
                 f"{len(pairs.language)} candidates, on {placement.device}")
        yield split, train, test, align_shared(vision_z, language_z, pairs.gold, train, test, csls_k, seed + split)


def concept_alignment_records(
    vision: np.ndarray,
    vision_ids: list[str],
    language: np.ndarray,
    alias_ids: list[str],
    dictionary: dict[str, list[str]],
    ks: Sequence[int],
    splits: int,
    train_fraction: float,
    csls_k: int,
    seed: int,
    preprocess: str = "project",
    placement: Placement = CPU,
) -> list[dict]:
    """P@k of vision->language concept retrieval per split, retrieval and control, in long format.

    Concepts are the dictionary's synsets that have a vision row and at least one
    alias row; a hit at k is any of the synset's aliases among the k best of all the
    language store's words (the candidates: the dictionary's aliases, or every word
    of the sentence corpus). ``splits``: a number of seeded splits, or published folds.
    """
    pairs = concept_pairs(vision, vision_ids, language, alias_ids, dictionary)
    require_concept_ks(pairs, ks, csls_k)
    records = []
    for split, _, test, ranks in split_ranks(pairs, splits, train_fraction, csls_k, seed, preprocess, placement):
        for control, by_retrieval in ranks.items():
            for retrieval, rank in by_retrieval.items():
                for k, value in recall_at_k(rank, ks).items():
                    records.append({
                        "split": split, "control": control, "retrieval": retrieval, "metric": "precision",
                        "k": k, "value": value, "n_test": int(len(test)), "n_candidates": len(alias_ids),
                    })
    return records


def alignment_by_layer(pairs: ConceptPairs, text_layers: Sequence[str], word_rows,
                       vision_layers: dict[str, np.ndarray], k: int, splits, train_fraction: float, csls_k: int,
                       seed: int, preprocess: str = "project",
                       placement: Placement = CPU) -> dict[tuple[str, str], dict[str, float]]:
    """Concept alignment at every (text layer, vision layer) pair: CSLS P@k of the fitted map and of the shuffled
    control, each the mean over splits.

    ``word_rows(layer)``: one row per candidate word (as ``pairs.language``) at a text
    layer, read once per layer; ``vision_layers[v]``: one row per concept (as ``pairs.vision``).
    """
    values = {}
    vision_layers = {layer: rows.astype(np.float32) for layer, rows in vision_layers.items()}
    for text_layer in text_layers:
        language = word_rows(text_layer).astype(np.float32)
        hits = {layer: {control: [] for control in LAYER_CONTROLS} for layer in vision_layers}
        language_spaces = {}
        for split, train, test in concept_splits(pairs, splits, train_fraction, seed):
            # a split's language space depends on the text layer alone (and on the split, unless study's)
            if preprocess != "study":
                language_spaces = {}
            for vision_layer, vision in vision_layers.items():
                log.info(f"alignment at text layer {text_layer}, vision layer {vision_layer}, split {split}")
                vision_z, language_z = shared_spaces(vision, language, pairs.gold, train, preprocess, placement,
                                                     language_spaces)
                ranks = align_shared(vision_z, language_z, pairs.gold, train, test, csls_k, seed + split,
                                     controls=LAYER_CONTROLS)
                for control, scores in hits[vision_layer].items():
                    scores.append(recall_at_k(ranks[control]["csls"], [k])[k])
        for vision_layer, scores in hits.items():
            values[text_layer, vision_layer] = {"value": float(np.mean(scores["none"])),
                                                "null_mean": float(np.mean(scores["shuffled"]))}
    return values


def score_concepts(text_path: str, vision_path: str, dictionary_path: str, out: str, spec: dict,
                   tables: Sequence[str] | None = None) -> list[dict]:
    """Score one (language model, vision model) pair of a concept dataset into a long-format JSON."""
    from .data.concepts import read_dictionary

    text, vision = read_pair(text_path, vision_path, tables)
    dictionary = read_dictionary(dictionary_path)
    records = concept_alignment_records(
        vision.vectors, vision.ids, text.vectors, text.ids, dictionary.concepts,
        spec["ks"], resolve_splits(spec["splits"], dictionary, dictionary_path), spec["train_fraction"],
        spec["csls_k"], spec["seed"], spec["preprocess"], job_placement(),
    )
    return write_records(out, concept_pair_identity(text, vision, dictionary.name, "procrustes"), records)


def resolve_splits(setting, dictionary, dictionary_path: str):
    """The ``splits`` setting as :func:`concept_splits` takes it: a count, or the dictionary's published folds."""
    if isinstance(setting, int):
        return setting
    if not dictionary.folds:
        raise ValueError(f"{dictionary_path}: `splits: {{source: published}}` needs the study's folds, and "
                         f"dictionary {dictionary.name!r} has none (use a `source: study` dictionary, or `splits: 5`)")
    return dictionary.folds


def require_same_dataset(text, vision) -> None:
    if text.attrs["dataset"] != vision.attrs["dataset"]:
        raise ValueError(f"{text.path} embeds dataset {str(text.attrs['dataset'])!r} but {vision.path} embeds "
                         f"{str(vision.attrs['dataset'])!r}")


def require_current_table(store, table: str) -> None:
    """Refuse a store made from another version of its dataset table than the one on disk now.

    Each store records ``dataset_hash``, the hash of the table it embedded; a table
    rewritten since (a new corpus, other images) with the old store kept would pair
    vectors with the wrong items and still give plausible numbers.
    """
    from .data.tables import table_hash
    from .store import StoreMismatchError

    recorded, current = str(store.attrs.get("dataset_hash", "")), table_hash(table)
    if recorded != current:
        raise StoreMismatchError(
            f"{store.path} was extracted from another version of {table} (dataset_hash {recorded or 'missing'}, "
            f"the table now {current}); delete the store and rerun the workflow to re-extract it"
        )


def read_pair(text_path: str, vision_path: str, tables: Sequence[str] | None = None):
    """A pair's two stores, refused unless they embed the same dataset, each as its ``tables`` entry is now.

    ``tables``: the (text table, image table) the stores were extracted from; the
    workflow always passes them.
    """
    from .store import read_embeddings

    text, vision = read_embeddings(text_path), read_embeddings(vision_path)
    require_same_dataset(text, vision)
    for store, table in zip((text, vision), tables or ()):
        require_current_table(store, table)
    return text, vision


def concept_pair_identity(text, vision, dictionary: str, method: str) -> dict:
    """What a concept pair's score records carry: the pair, the dictionary, both families and sizes."""
    return {
        **pair_identity(text, vision),
        "dictionary": dictionary,
        "text_family": str(text.attrs.get("family", "")),
        "vision_family": str(vision.attrs.get("family", "")),
        "text_parameters": int(text.attrs.get("n_parameters", 0)),
        "vision_parameters": int(vision.attrs.get("n_parameters", 0)),
        "method": method,
    }


def pair_identity(text, vision) -> dict:
    """The dataset, both models, their revisions and layers: what a pair's score records carry."""
    return {
        "dataset": str(text.attrs["dataset"]),
        "text_model": str(text.attrs["model"]),
        "vision_model": str(vision.attrs["model"]),
        "text_revision": str(text.attrs["revision"]),
        "vision_revision": str(vision.attrs["revision"]),
        "text_layer": str(text.attrs["layer"]),
        "vision_layer": str(vision.attrs["layer"]),
    }
