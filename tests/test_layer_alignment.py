"""Concept alignment at every layer pair, as the similarity stage adds it when asked."""

import numpy as np

from synesthesia.align import alignment_by_layer, concept_pairs, random_orthogonal
from synesthesia.similarity.scoring import ALIGNMENT_METRIC, alignment_layer_records


def test_the_planted_layer_pair_aligns_and_the_others_score_chance():
    rng = np.random.default_rng(0)
    n, dim = 200, 16
    vision = rng.normal(size=(n, dim))
    words = {"0": rng.normal(size=(n, dim)),                                        # unrelated
             "1": vision @ random_orthogonal(dim, 1) + 0.05 * rng.normal(size=(n, dim))}   # vision, rotated
    vision_layers = {"last": vision, "2": rng.normal(size=(n, dim))}
    concepts = [f"c{i}" for i in range(n)]
    aliases = [f"w{i}" for i in range(n)]
    pairs = concept_pairs(vision, concepts, words["0"], aliases, {c: [a] for c, a in zip(concepts, aliases)})
    read = []
    values = alignment_by_layer(pairs, ["0", "1"], lambda layer: read.append(layer) or words[layer], vision_layers,
                                k=1, splits=2, train_fraction=0.7, csls_k=10, seed=0)
    assert read == ["0", "1"]                                    # each text layer read once
    assert values["1", "last"]["value"] > 0.95
    for pair in (("0", "last"), ("0", "2"), ("1", "2")):
        assert values[pair]["value"] < 0.1, pair
    assert all(v["null_mean"] < 0.1 for v in values.values())   # the shuffled dictionary: chance

    records = alignment_layer_records(values, k=1, n_concepts=n)
    assert [(r["text_layer"], r["vision_layer"], r["selection"]) for r in records] == [
        ("0", "last", "layer_pair"), ("0", "2", "layer_pair"), ("1", "last", "layer_pair"), ("1", "2", "layer_pair"),
        ("1", "last", "best")]
    assert {r["metric"] for r in records} == {ALIGNMENT_METRIC} and {r["k"] for r in records} == {1}
    assert records[-1]["value"] == values["1", "last"]["value"]
    assert records[-1]["null_mean"] == values["1", "last"]["null_mean"]


def test_similarity_asked_for_the_alignment_finds_it_on_the_shifted_diagonal(tmp_path):
    from test_similarity import _layered_store

    from synesthesia.data.concepts import ConceptDictionary, write_dictionary
    from synesthesia.similarity import score_similarity

    # the vision model's layer j+1 is a rotation of the language model's layer j (as in test_similarity)
    rng = np.random.default_rng(3)
    depth = [rng.normal(size=(60, 8)) for _ in range(4)]
    rotation = random_orthogonal(8, 4)
    concepts, aliases = [f"c{i}" for i in range(60)], [f"w{i}" for i in range(60)]
    text = _layered_store(tmp_path / "t.h5", aliases, depth[2], {i: depth[i] for i in (0, 1, 2)}, "txt")
    vision = _layered_store(tmp_path / "v.h5", concepts, rng.normal(size=(60, 8)),
                            {j: depth[j - 1] @ rotation for j in (1, 2, 3)}, "vis")
    dictionary = write_dictionary(ConceptDictionary("planted", "test", {c: [a] for c, a in zip(concepts, aliases)},
                                                    {a: {"polysemy": 1} for a in aliases}), tmp_path / "d.json")
    alignment = {"k": 1, "splits": 2, "train_fraction": 0.7, "csls_k": 5, "seed": 0, "preprocess": "project"}
    records = score_similarity(str(text), str(vision), str(dictionary), str(tmp_path / "out.json"),
                               {"metrics": ["cka"], "k": 5, "half_samples": 0, "permutations": 0,
                                "alignment": alignment})
    values = {(r["text_layer"], r["vision_layer"]): r["value"] for r in records
              if r["metric"] == ALIGNMENT_METRIC and r["selection"] == "layer_pair"}
    assert len(values) == 16
    for text_layer in ("0", "1", "2"):
        row = {vision_layer: value for (t, vision_layer), value in values.items() if t == text_layer}
        assert row[str(int(text_layer) + 1)] == 1.0
        assert sorted(row.values())[-2] < 0.3, row
    (best,) = [r for r in records if r["metric"] == ALIGNMENT_METRIC and r["selection"] == "best"]
    # the text store's main vector is its layer 2, so ("last", "3") is a shifted pair too
    assert best["value"] == 1.0
    assert (best["text_layer"], best["vision_layer"]) in {("0", "1"), ("1", "2"), ("2", "3"), ("last", "3")}
