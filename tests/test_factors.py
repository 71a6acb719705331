import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synesthesia import factors
from synesthesia.align import concept_pairs, procrustes_scores, random_orthogonal, shared_spaces, split_indices
from synesthesia.data.concepts import ConceptDictionary, write_dictionary
from synesthesia.factors import (
    FACTOR_BINS,
    FREQUENCY_BINS,
    binned_pair_precision,
    binned_precision,
    breakdown_records,
    concept_bins,
    count_frequency_bins,
    dispersion,
    frequency_bins,
    pair_bins,
    pair_concepts,
    pair_positions,
    pair_ranks,
    polysemy_bins,
    score_factors,
    tertile_bins,
    train_fraction_records,
)
from synesthesia.report import size_summary
from synesthesia.store import PartialStore


def _planted(n_concepts=120, dim=12, noise=0.05, seed=0):
    """Concepts whose aliases are a rotation of their vision rows: synset ``s{i}``, aliases ``w{i}_{j}``."""
    rng = np.random.default_rng(seed)
    vision = rng.normal(size=(n_concepts, dim))
    rotation = random_orthogonal(dim, seed + 1)
    dictionary, alias_ids, rows = {}, [], []
    for i in range(n_concepts):
        dictionary[f"s{i}"] = [f"w{i}_{j}" for j in range(1 + i % 2)]
        for alias in dictionary[f"s{i}"]:
            alias_ids.append(alias)
            rows.append(vision[i] @ rotation + noise * rng.normal(size=dim))
    return vision, [f"s{i}" for i in range(n_concepts)], np.array(rows), alias_ids, dictionary


def test_dispersion_matches_a_hand_computation_in_any_item_order(monkeypatch):
    monkeypatch.setattr(factors, "_ITEM_BLOCK", 2)
    items = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [7.0, 7.0], [1.0, 0.0], [0.0, 3.0]])
    owner = np.array([1, 1, 0, 1, 0, 2])
    # owner 0: [0,1] and [1,0] are orthogonal -> distance 1
    # owner 1: [1,0], [1,0], [.71,.71]: distances 0, 1 - 1/sqrt(2), 1 - 1/sqrt(2) -> their mean
    # owner 2: one occurrence -> NaN; owner 3: none -> NaN
    expected = [1.0, 2 * (1 - 1 / np.sqrt(2)) / 3, np.nan, np.nan]
    np.testing.assert_allclose(dispersion(items, owner, 4), expected)


def test_dispersion_refuses_owners_outside_the_rows():
    with pytest.raises(ValueError, match="index the 2 rows"):
        dispersion(np.ones((3, 2)), [0, 1, 2], 2)


def test_bins_of_known_values():
    assert tertile_bins([5, 1, 9, np.nan, 2, 8, 4, 3, 7, 6]).tolist() == [
        "medium", "low", "high", None, "low", "high", "medium", "low", "high", "medium"]
    assert polysemy_bins([1, 2, 3, 4, 17, 0, None]).tolist() == ["1", "2-3", "2-3", "4+", "4+", None, None]
    assert frequency_bins([7.0, 3.77, 3.76, 1.96, 1.95, 0.0, None]).tolist() == [
        "1-10000", "1-10000", "10001-100000", "10001-100000", ">100000", ">100000", None]
    # The study's corpus counts: above 23,928 / 727 to 23,928 / below 727.
    assert count_frequency_bins([10**6, 23_929, 23_928, 727, 726, 0, None]).tolist() == [
        "1-10000", "1-10000", "10001-100000", "10001-100000", ">100000", ">100000", None]


def test_frequency_floors_are_wordfreqs_ranks_10000_and_100000():
    pytest.importorskip("wordfreq")
    from synesthesia.data.concepts import zipf_to_rank_bin

    zipfs = np.round(np.arange(0, 8.005, 0.01), 2)
    assert frequency_bins(zipfs).tolist() == [zipf_to_rank_bin(z) for z in zipfs]


def test_binned_precision_counts_hits_per_bin_with_sizes_and_chance():
    ranks = np.array([0, 5, 20, 1])
    labels = np.array(["a", "a", "b", None], dtype=object)
    null = [np.array([30, 0, 0, 0]), np.array([30, 30, 30, 0])]
    rows = binned_precision(ranks, labels, [1, 10], ("a", "b", "c"), null_ranks=null)
    got = {(r["bin"], r["k"]): (r["value"], r["n_bin"], r["null_mean"]) for r in rows}
    assert got == {("a", 1): (0.5, 2, 0.25), ("a", 10): (1.0, 2, 0.25), ("b", 1): (0.0, 1, 0.5),
                   ("b", 10): (0.0, 1, 0.5), ("c", 1): (None, 0, None), ("c", 10): (None, 0, None)}


def test_head_alias_is_the_first_one_with_a_language_row():
    vision, vision_ids, language, alias_ids, dictionary = _planted(n_concepts=6)
    dictionary["s0"] = ["missing", *dictionary["s0"]]
    pairs = concept_pairs(vision, vision_ids, language, alias_ids, dictionary)
    metadata = {alias: {"polysemy": 1, "zipf": 5.0} for alias in alias_ids}
    metadata["w0_0"] = {"polysemy": 4, "zipf": 1.0}
    bins = concept_bins(pairs, alias_ids, metadata)
    assert bins["polysemy"][0] == "4+" and bins["frequency"][0] == ">100000"
    assert set(bins) == {"polysemy", "frequency"}


def test_frequency_bins_come_from_the_studys_counts_when_the_dictionary_has_them():
    vision, vision_ids, language, alias_ids, dictionary = _planted(n_concepts=4)
    pairs = concept_pairs(vision, vision_ids, language, alias_ids, dictionary)
    heads = [alias_ids[g[0]] for g in pairs.gold]
    zipf_only = {alias: {"polysemy": 1, "zipf": 5.0} for alias in alias_ids}
    counted = {alias: {**meta, "count": 100} for alias, meta in zipf_only.items()}
    counted[heads[1]]["count"] = None  # not in the study's table: no bin
    assert concept_bins(pairs, alias_ids, zipf_only)["frequency"].tolist() == ["1-10000"] * 4
    assert concept_bins(pairs, alias_ids, counted)["frequency"].tolist() == [">100000", None, ">100000", ">100000"]
    assert concept_bins(pairs, alias_ids, counted, frequency="wordfreq")["frequency"].tolist() == ["1-10000"] * 4
    assert concept_bins(pairs, alias_ids, counted, frequency="study")["frequency"][0] == ">100000"
    with pytest.raises(ValueError, match="frequency: study needs .*`frequencies: "):
        concept_bins(pairs, alias_ids, zipf_only, frequency="study")
    with pytest.raises(ValueError, match="frequency must be one of"):
        concept_bins(pairs, alias_ids, counted, frequency="zipf")


def test_planted_rotation_scores_every_bin_near_one_and_chance_near_zero():
    vision, vision_ids, language, alias_ids, dictionary = _planted()
    pairs = concept_pairs(vision, vision_ids, language, alias_ids, dictionary)
    bins = {"polysemy": polysemy_bins([1 + i % 5 for i in range(120)]),
            "vision_dispersion": tertile_bins(np.arange(120.0))}
    records = breakdown_records(pairs, bins, ks=[1, 10], splits=2, train_fraction=0.7, csls_k=5, seed=0,
                                half_samples=30, permutations=3)
    assert {r["factor"] for r in records} == {"all", "polysemy", "vision_dispersion"}
    for r in records:
        if r["n_bin"]:
            assert r["value"] >= 0.9 and r["null_mean"] < 0.3 and r["ci_low"] <= r["value"] <= r["ci_high"]
    for factor in ("all", "polysemy"):
        sizes = [r["n_bin"] for r in records if r["factor"] == factor and r["split"] == 0 and r["k"] == 1
                 and r["retrieval"] == "nn"]
        assert sum(sizes) == 36 and len(sizes) == len(FACTOR_BINS.get(factor, ("all",)))
    json.dumps(records)


def test_train_fractions_rerun_the_alignment_and_refuse_fractions_without_training_concepts():
    vision, vision_ids, language, alias_ids, dictionary = _planted()
    records = train_fraction_records(vision, vision_ids, language, alias_ids, dictionary, ks=[1], splits=1,
                                     csls_k=5, seed=0, fractions=(0.1, 0.7))
    assert {(r["train_fraction"], r["n_test"]) for r in records} == {(0.1, 108), (0.7, 36)}
    with pytest.raises(ValueError, match="train_fraction 0.001"):
        train_fraction_records(vision, vision_ids, language, alias_ids, dictionary, ks=[1], splits=1, csls_k=5,
                               seed=0, fractions=(0.7, 0.001))


def test_size_summary_orders_each_family_by_parameters():
    table = pd.DataFrame({
        "text_family": ["opt", "opt", "opt", "bert"], "text_model": ["opt-1b", "opt-125m", "opt-1b", "bert"],
        "text_parameters": [1_000, 125, 1_000, 110], "vision_model": ["a", "a", "b", "a"],
        "control": "none", "retrieval": "nn", "k": 1, "mean": [0.3, 0.1, 0.5, 0.2],
    })
    summary = size_summary(table)
    assert summary[["family", "model", "precision"]].values.tolist() == [
        ["bert", "bert", 0.2], ["opt", "opt-125m", 0.1], ["opt", "opt-1b", 0.4]]
    with pytest.raises(ValueError, match="no parameter count"):
        size_summary(table.assign(text_parameters=0))


def _store(path, ids, items, owner, attrs):
    store = PartialStore(path, ids, {"model": attrs["model"]}, owners=owner)
    store.write(np.arange(len(items)), items)
    return store.finalize(attrs)


def _planted_stores(tmp_path):
    """A vision store (two images per concept) and a language store (two sentences per alias) of
    :func:`_planted` concepts (half with two aliases), their dictionary, and a scoring spec."""
    vision, vision_ids, language, alias_ids, dictionary = _planted(n_concepts=40, dim=6)
    rng = np.random.default_rng(1)
    # two occurrences per row, scattered around it by a row-specific amount
    spread = rng.uniform(0.01, 0.5, size=len(vision))
    vision_items = np.repeat(vision, 2, axis=0) + np.repeat(spread, 2)[:, None] * rng.normal(size=(80, 6))
    language_items = np.repeat(language, 2, axis=0) + 0.1 * rng.normal(size=(2 * len(language), 6))
    common = {"dataset": "concepts", "revision": "r", "layer": "last"}
    vision_path = _store(tmp_path / "v.h5", vision_ids, vision_items, np.repeat(np.arange(40), 2),
                         {**common, "model": "vis"})
    text_path = _store(tmp_path / "t.h5", alias_ids, language_items, np.repeat(np.arange(len(alias_ids)), 2),
                       {**common, "model": "txt"})
    metadata = {alias: {"polysemy": 1 + len(alias) % 4, "zipf": 2.0 + len(alias) % 3, "count": 10 ** (9 - len(alias))}
                for alias in alias_ids}
    dictionary_path = write_dictionary(ConceptDictionary("planted", "test", dictionary, metadata),
                                       tmp_path / "dictionary.json")
    spec = {"ks": [1, 5], "splits": 2, "train_fraction": 0.7, "csls_k": 5, "seed": 0, "half_samples": 10,
            "permutations": 2}
    return str(text_path), str(vision_path), str(dictionary_path), spec


def test_score_factors_writes_binned_records_from_stores(tmp_path):
    text_path, vision_path, dictionary_path, spec = _planted_stores(tmp_path)
    records = score_factors(str(text_path), str(vision_path), str(dictionary_path), str(tmp_path / "out.json"), spec)
    assert {r["unit"] for r in records} == {"concept"}
    assert {r["factor"] for r in records} == {"all", "polysemy", "frequency", "vision_dispersion",
                                              "language_dispersion"}
    assert all(r["text_model"] == "txt" and r["dictionary"] == "planted" for r in records)
    assert json.loads((tmp_path / "out.json").read_text()) == json.loads(json.dumps(records))
    # Counts (the study's bins) by default; `frequency: wordfreq` bins the same concepts by Zipf instead.
    sizes = {}
    for source in (None, "wordfreq"):
        records = score_factors(str(text_path), str(vision_path), str(dictionary_path), str(tmp_path / "out.json"),
                                {**spec, "half_samples": 0, "permutations": 0, "splits": 1,
                                 **({"frequency": source} if source else {})})
        sizes[source] = {r["bin"]: r["n_bin"] for r in records
                         if r["factor"] == "frequency" and r["k"] == 1 and r["retrieval"] == "nn"}
    assert sizes[None] != sizes["wordfreq"] and sum(sizes[None].values()) == sum(sizes["wordfreq"].values())


def _planted_with_decoys(n_train=36, dim=16, seed=0):
    """Test concepts A-D whose real aliases are their rotated vision rows and whose decoys point the other way.

    Training concepts ``s{i}`` have one real alias each (and nothing else), so the map is
    the rotation exactly: each real alias ranks first for its concept (rank 0) and each
    decoy (the negated row) near last. Test concepts and their aliases, with polysemy:
    A: real (1); B: real (1), decoy (5); C: decoy (5), real (2), so C's head alias is a
    decoy; D: real (1), decoy (1).
    """
    rng = np.random.default_rng(seed)
    test = {"A": ["real"], "B": ["real", "decoy"], "C": ["decoy", "real"], "D": ["real", "decoy"]}
    polysemy = {"A": [1], "B": [1, 5], "C": [5, 2], "D": [1, 1]}
    keys = [f"s{i}" for i in range(n_train)] + list(test)
    vision = rng.normal(size=(len(keys), dim))
    rotation = random_orthogonal(dim, seed + 1)
    dictionary, alias_ids, rows, metadata = {}, [], [], {}
    for row, key in enumerate(keys):
        kinds = test.get(key, ["real"])
        dictionary[key] = [f"{key}_{kind}" for kind in kinds]
        for alias, kind, senses in zip(dictionary[key], kinds, polysemy.get(key, [1])):
            alias_ids.append(alias)
            rows.append((1 if kind == "real" else -1) * vision[row] @ rotation)
            metadata[alias] = {"polysemy": senses, "zipf": 5.0}
    fold = (keys[:n_train], list(test))
    return concept_pairs(vision, keys, np.array(rows), alias_ids, dictionary), alias_ids, metadata, fold


def test_pair_ranks_rank_each_alias_of_a_test_concept_on_its_own():
    pairs, *_ = _planted_with_decoys()
    train, test = np.arange(36), np.arange(36, 40)
    vision_z, language_z = shared_spaces(pairs.vision, pairs.language, pairs.gold, train)
    ranks = pair_ranks(procrustes_scores(vision_z, language_z, pairs.gold, train, test, csls_k=5), pairs.gold, test)
    n_candidates = len(pairs.language)
    for retrieval, rank in ranks.items():
        # pairs A-real, B-real, B-decoy, C-decoy, C-real, D-real, D-decoy: reals first, decoys in the last few
        assert rank[[0, 1, 4, 5]].tolist() == [0, 0, 0, 0], retrieval
        assert (rank[[2, 3, 6]] >= n_candidates - 5).all(), (retrieval, rank)
    assert pair_positions(pairs.gold, test).tolist() == list(range(36, 43))


def test_concept_and_pair_units_bin_and_score_differently_each_as_computed_by_hand():
    pairs, alias_ids, metadata, fold = _planted_with_decoys()
    results = {}
    for unit, unit_bins in (("concept", concept_bins), ("pair", pair_bins)):
        bins = unit_bins(pairs, alias_ids, metadata)
        records = breakdown_records(pairs, {"polysemy": bins["polysemy"]}, ks=[1, 5], splits=[fold],
                                    train_fraction=0.7, csls_k=5, seed=0, half_samples=0, permutations=0, unit=unit)
        assert {r["unit"] for r in records} == {unit}
        assert {(r["n_test"], r["n_test_pairs"]) for r in records} == {(4, 7)}
        assert {r["retrieval"] for r in records} == {"nn", "csls"}
        results[unit] = {(r["retrieval"], r["factor"], r["bin"], r["k"]):
                         (r["value"], r["n_bin"], r["n_bin_concepts"]) for r in records}
    for retrieval in ("nn", "csls"):
        for k in (1, 5):
            concept = {key[1:3]: value for key, value in results["concept"].items() if key[::3] == (retrieval, k)}
            pair = {key[1:3]: value for key, value in results["pair"].items() if key[::3] == (retrieval, k)}
            # Concepts, binned by their head alias: every one retrieves a real alias first, so every bin is a
            # hit, C (head: its decoy, 5 senses) in 4+.
            assert concept == {("all", "all"): (1.0, 4, 4), ("polysemy", "1"): (1.0, 3, 3),
                               ("polysemy", "2-3"): (None, 0, 0), ("polysemy", "4+"): (1.0, 1, 1)}
            # Pairs, binned by their own alias: a decoy never hits. Per bin the mean over its concepts of the
            # share of their pairs that hit: 1: A 1/1, B 1/1, D 1/2 -> 5/6; 2-3: C's real alias; 4+: the
            # decoys of B and C; all: A 1, B 1/2, C 1/2, D 1/2 -> 5/8.
            assert pair == {("all", "all"): (5 / 8, 7, 4), ("polysemy", "1"): (5 / 6, 4, 3),
                            ("polysemy", "2-3"): (1.0, 1, 1), ("polysemy", "4+"): (0.0, 2, 2)}


def test_bins_made_for_the_other_unit_are_refused():
    pairs, alias_ids, metadata, fold = _planted_with_decoys()
    with pytest.raises(ValueError, match=r"bins of \['polysemy'\] have 40 labels, but unit 'pair' needs one per "
                                         r"pair \(43\): make them with pair_bins"):
        breakdown_records(pairs, {"polysemy": concept_bins(pairs, alias_ids, metadata)["polysemy"]}, ks=[1],
                          splits=[fold], train_fraction=0.7, csls_k=5, seed=0, permutations=0, unit="pair")


def test_binned_pair_precision_averages_pair_hits_per_concept_then_over_concepts():
    # concept 7: two pairs in bin a (one hit at k=1); concept 9: one in a (a hit), one in b (a miss)
    ranks = np.array([0, 3, 0, 8])
    concepts = np.array([7, 7, 9, 9])
    labels = np.array(["a", "a", "a", "b"], dtype=object)
    null = [np.array([0, 0, 9, 9]), np.array([9, 9, 9, 0])]
    rows = binned_pair_precision(ranks, concepts, labels, [1, 5], ("a", "b", "c"), null_ranks=null)
    got = {(r["bin"], r["k"]): (r["value"], r["n_bin"], r["n_bin_concepts"], r["null_mean"]) for r in rows}
    # bin a at k=1: concept 7 hits 1 of 2, concept 9 1 of 1 -> (0.5 + 1) / 2; chance: (1 + 0) / 2 and (0 + 0) / 2
    assert got == {("a", 1): (0.75, 3, 2, 0.25), ("a", 5): (1.0, 3, 2, 0.25), ("b", 1): (0.0, 1, 1, 0.5),
                   ("b", 5): (0.0, 1, 1, 0.5), ("c", 1): (None, 0, 0, None), ("c", 5): (None, 0, 0, None)}


def test_pair_bins_reproduce_the_studys_frequency_bin_of_every_test_pair_and_head_alias_bins_do_not():
    from synesthesia.data import vlca
    from synesthesia.data.concepts import load_published

    root = Path(__file__).parent / "data" / "vlca"
    dictionary = load_published(root / "data" / "imagenet-ul-ex-1k.json")
    alias_ids = [alias for aliases in dictionary.values() for alias in aliases]
    counts = vlca.alias_counts(alias_ids, vlca.read_frequencies(root / "data" / "aliases_freq.json"))
    metadata = {alias: {"count": count} for alias, count in counts.items()}
    pairs = concept_pairs(np.ones((len(dictionary), 2)), list(dictionary), np.ones((len(alias_ids), 2)), alias_ids,
                          dictionary)
    by_pair = dict(zip(((pairs.concepts[c], alias_ids[a]) for c, a in zip(pair_concepts(pairs.gold),
                                                                           np.concatenate(pairs.gold))),
                       pair_bins(pairs, alias_ids, metadata)["frequency"]))
    by_head = dict(zip(pairs.concepts, concept_bins(pairs, alias_ids, metadata)["frequency"]))
    ours = dict(zip(vlca.FREQUENCY_BIN_NAMES, FREQUENCY_BINS))
    study = {(fold, *pair): ours[name] for fold in vlca.FOLDS
             for pair, name in vlca.read_study_bins(root, "frequency", fold).items()}
    assert len(study) == 10_815
    assert sum(by_pair[wnid, alias] == label for (_, wnid, alias), label in study.items()) == 10_815
    # Binned by its concept's head alias instead, a test pair of a concept with several aliases (3,430 of them)
    # lands in another bin than the study's whenever its alias's count is in another range than the head's.
    assert sum(by_head[wnid] == label for (_, wnid, _), label in study.items()) == 10_008


def test_score_factors_with_unit_pair_bins_every_test_pair_and_records_the_unit(tmp_path):
    text_path, vision_path, dictionary_path, spec = _planted_stores(tmp_path)
    spec = {**spec, "half_samples": 0, "permutations": 1, "splits": 1}
    by_unit = {unit: score_factors(text_path, vision_path, dictionary_path, str(tmp_path / f"{unit}.json"),
                                   {**spec, **({"unit": unit} if unit else {})})
               for unit in (None, "concept", "pair")}
    assert by_unit[None] == by_unit["concept"]  # the default keeps the concept unit
    pair = by_unit["pair"]
    assert {r["unit"] for r in pair} == {"pair"}
    assert json.loads((tmp_path / "pair.json").read_text())[0]["unit"] == "pair"
    assert {r["factor"] for r in pair} == {"all", "polysemy", "frequency", "vision_dispersion", "language_dispersion"}
    # 40 concepts, every odd one with two aliases: 12 test concepts (the seeded 70/30 split) and their aliases
    test = split_indices(40, 0.7, 0)[1]
    n_test, n_test_pairs = {(r["n_test"], r["n_test_pairs"]) for r in pair}.pop()
    assert (n_test, n_test_pairs) == (12, 12 + int(np.sum(test % 2)))
    for records in by_unit.values():
        assert all(r["value"] is None or 0 <= r["value"] <= 1 for r in records)
    for factor in ("all", "polysemy", "frequency", "language_dispersion", "vision_dispersion"):
        sizes = [(r["n_bin"], r["n_bin_concepts"]) for r in pair
                 if r["factor"] == factor and r["k"] == 1 and r["retrieval"] == "nn"]
        # every test pair in exactly one bin; a concept whose aliases fall in two bins counts in both
        assert sum(n for n, _ in sizes) == n_test_pairs, factor
        assert n_test <= sum(c for _, c in sizes) <= n_test_pairs, factor
    vision_sizes = [r["n_bin_concepts"] for r in pair if r["factor"] == "vision_dispersion" and r["k"] == 1
                    and r["retrieval"] == "nn"]
    assert sum(vision_sizes) == n_test  # a concept's pairs share its vision bin


def test_an_unknown_unit_is_refused_naming_the_key_and_the_choices(tmp_path):
    text_path, vision_path, dictionary_path, spec = _planted_stores(tmp_path)
    with pytest.raises(ValueError, match=r"factors.unit: 'pairs' is not one of \('concept', 'pair'\)"):
        score_factors(text_path, vision_path, dictionary_path, str(tmp_path / "out.json"), {**spec, "unit": "pairs"})


def test_dispersion_items_pass_the_store_checks_naming_the_file(tmp_path):
    import h5py

    from synesthesia.store import CorruptStoreError, read_embeddings

    text_path, vision_path, dictionary_path, spec = _planted_stores(tmp_path)
    with h5py.File(text_path, "r+") as f:  # rows stay finite: they were averaged before the damage
        f["items/embeddings"][3] = np.nan
    text = read_embeddings(text_path)
    with pytest.raises(CorruptStoreError, match=r"t\.h5 \(model 'txt'\): 1 occurrence vectors are not finite "
                                                r"\(first: an occurrence of id 'w1_0'\)"):
        factors.store_dispersion(text, [0, 1])
    with pytest.raises(CorruptStoreError, match="occurrence vectors are not finite"):
        score_factors(text_path, vision_path, dictionary_path, str(tmp_path / "out.json"), spec)
    vision = read_embeddings(vision_path, items=True)
    np.testing.assert_array_equal(factors.store_dispersion(vision, [0, 2]),
                                  dispersion(vision.items, vision.owner, 40, [0, 2]))
