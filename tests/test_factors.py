import json

import numpy as np
import pandas as pd
import pytest

from synesthesia import factors
from synesthesia.align import concept_pairs, random_orthogonal
from synesthesia.data.concepts import ConceptDictionary, write_dictionary
from synesthesia.factors import (
    FACTOR_BINS,
    binned_precision,
    breakdown_records,
    concept_bins,
    count_frequency_bins,
    dispersion,
    frequency_bins,
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


def test_score_factors_writes_binned_records_from_stores(tmp_path):
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
    records = score_factors(str(text_path), str(vision_path), str(dictionary_path), str(tmp_path / "out.json"), spec)
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
