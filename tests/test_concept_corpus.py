"""The study's sentence corpus layout, candidates = the corpus vocabulary, published folds, study preprocessing."""

import json

import datasets
import numpy as np
import pytest
import torch

from synesthesia import align, ranking
from synesthesia.align import (
    align_concepts,
    concept_pairs,
    concept_splits,
    fold_indices,
    random_orthogonal,
    recall_at_k,
    resolve_splits,
    split_indices,
)
from synesthesia.data.concepts import ConceptDictionary, make_dictionary, read_dictionary, write_dictionary
from synesthesia.data.sentences import (
    candidate_words,
    corpus_vocabulary,
    join_final_punctuation,
    prepare_sentences,
    read_corpus,
)
from synesthesia.data.tables import read_table
from synesthesia.ranking import best_gold_ranks

STUDY_LAYOUT = datasets.Features({"alias": datasets.Value("string"),
                                  "sentences": datasets.Sequence(datasets.Value("string"))})


def study_corpus_folder(root, words: dict[str, list[str]]):
    """A local dataset folder laid out as jaagli/common-words-79k: split `whole`, `alias` and `sentences`."""
    data = datasets.Dataset.from_dict({"alias": list(words), "sentences": list(words.values())},
                                      features=STUDY_LAYOUT)
    data.to_parquet(str(root / "data" / "whole-00000-of-00001.parquet"))
    return root


STUDY_SPEC = {"source": "hf", "split": "whole", "word_column": "alias", "sentence_column": "sentences",
              "join_final_punctuation": True}


@pytest.mark.parametrize("sentence, cleaned", [
    ("there is a cat .", "there is a cat."),
    ("is it a cat ?! ", "is it a cat?! "),
    ("a cat , a dog", "a cat , a dog"),        # only final punctuation moves
    ("a cat.", "a cat."),
])
def test_the_study_joins_final_punctuation_to_the_last_word(sentence, cleaned):
    assert join_final_punctuation(sentence) == cleaned


def test_the_corpus_reads_the_study_layout_with_its_clean_up(tmp_path):
    folder = study_corpus_folder(tmp_path, {"cat": ["a cat .", "the cat sat"], "ice_cream": ["ice cream melts ."]})
    corpus = read_corpus({**STUDY_SPEC, "id": str(folder)})
    assert corpus == {"cat": ["a cat.", "the cat sat"], "ice_cream": ["ice cream melts."]}


def test_a_missing_corpus_column_names_the_dataset_and_its_columns(tmp_path):
    folder = study_corpus_folder(tmp_path, {"cat": ["a cat"]})
    with pytest.raises(KeyError, match="no column 'word'.*'alias', 'sentences'"):
        read_corpus({**STUDY_SPEC, "id": str(folder), "word_column": "word"})


def test_candidates_are_every_corpus_word_with_a_sentence_or_only_the_aliases(tmp_path):
    corpus = {"cat": ["a cat ."], "dog": ["a dog"], "ice_cream": ["i like ice cream"], "hat": ["no match here"]}
    assert candidate_words("dictionary", ["cat", "tiger"], corpus) == ["cat", "tiger"]
    assert candidate_words("corpus", ["cat", "tiger"], corpus) == ["cat", "tiger", "dog", "hat", "ice_cream"]
    folder = study_corpus_folder(tmp_path / "corpus", corpus)
    dictionary = write_dictionary(make_dictionary(None, "d", "test", {"n1": ["cat"], "n2": ["tiger"]}),
                                  tmp_path / "d.json")
    spec = {"candidates": "corpus", "per_alias": None, "max_words": None,
            "sentences": {**STUDY_SPEC, "id": str(folder)}}
    table = read_table(prepare_sentences(tmp_path / "out", dictionary, spec), occurrences_allowed=True)
    # `tiger` has no sentence and `hat` none that contains it: both left out
    assert table["id"].tolist() == ["cat", "dog", "ice_cream"]
    assert [t[s:e] for t, s, e in zip(table["text"], table["start"], table["end"])] == ["cat", "dog", "ice cream"]
    vocabulary = corpus_vocabulary({**STUDY_SPEC, "id": str(folder)}, tmp_path / "vocabulary.txt")
    assert vocabulary.read_text().split() == ["cat", "dog", "ice_cream"]


def test_the_concept_stages_run_on_a_corpus_in_the_study_layout(tmp_path, tiny_models):
    """Corpus folder -> text table -> tiny BERT store; shapes images -> tiny ViT store; alignment records."""
    from synesthesia.data.shapes import concept_images, shapes_dictionary
    from synesthesia.data.tables import write_image_table
    from synesthesia.embed import embed_dataset

    concepts = dict(list(shapes_dictionary().items())[:12])
    aliases = sorted({a for names in concepts.values() for a in names})
    distractors = ["purple hexagon", "grey star", "tall tree", "old boat", "warm soup", "blue moon"]
    words = {**{a: [f"i saw a {a.replace('_', ' ')} today .", f"the {a.replace('_', ' ')} was here ."]
                for a in aliases},
             **{w.replace(" ", "_"): [f"look at the {w} !"] for w in distractors}}
    folder = study_corpus_folder(tmp_path / "corpus", words)
    dictionary = write_dictionary(make_dictionary(None, "shapes12", "test", concepts), tmp_path / "shapes12.json")
    data = tmp_path / "data"
    spec = {"candidates": "corpus", "per_alias": None, "max_words": None,
            "sentences": {**STUDY_SPEC, "id": str(folder)}}
    text_table = prepare_sentences(data, dictionary, spec)
    assert read_table(text_table, occurrences_allowed=True)["text"][0].endswith("today.")
    images = [row for row in concept_images(data, 2, 32, 0) if row[0] in concepts]
    image_table = write_image_table(data, images)

    def store(table, model, tiny, modality, family):
        entry = {"source": "hf", "id": str(tiny_models / tiny), "modality": modality, "family": family,
                 "device": "cpu", "dtype": "float32", "batch_size": 8}
        return embed_dataset(table, tmp_path / f"{model}.h5", model, entry, "shapes12", occurrences_allowed=True)

    text = store(text_table, "tiny-bert", "bert", "text", "bert")
    vision = store(image_table, "tiny-vit", "vit", "vision", "vit")
    out = tmp_path / "align.json"
    records = align.score_concepts(str(text), str(vision), str(dictionary), str(out),
                                   {"ks": [1, 5], "splits": 2, "train_fraction": 0.7, "csls_k": 3, "seed": 0,
                                    "preprocess": "project"})
    assert {r["n_candidates"] for r in records} == {len(aliases) + len(distractors)}
    assert all(0 <= r["value"] <= 1 for r in records)
    assert {r["n_test"] for r in json.loads(out.read_text())} == {4}   # 30% of 12 concepts


def _planted(n_concepts, distractors, noise, seed=0, dim=16):
    """Concepts whose language rows are a rotation of their vision rows, plus unrelated corpus words."""
    rng = np.random.default_rng(seed)
    vision = rng.normal(size=(n_concepts, dim))
    language = vision @ random_orthogonal(dim, seed + 1) + noise * rng.normal(size=(n_concepts, dim))
    language = np.vstack([language, rng.normal(size=(distractors, dim))])
    return vision, language, [np.array([i]) for i in range(n_concepts)]


@pytest.mark.parametrize("preprocess", ["project", "study"])
def test_more_candidates_lower_precision_and_a_planted_rotation_stays_near_one(preprocess):
    train, test = split_indices(300, 0.7, seed=0)

    def p_at_1(distractors, noise):
        vision, language, gold = _planted(300, distractors, noise)
        ranks = align_concepts(vision, language, gold, train, test, csls_k=10, preprocess=preprocess)
        return recall_at_k(ranks["none"]["nn"], [1])[1]

    aliases_only, corpus = p_at_1(0, 0.6), p_at_1(3000, 0.6)
    assert corpus < aliases_only - 0.1, (aliases_only, corpus)
    assert p_at_1(3000, 0.01) >= 0.98


def test_blocks_shrink_with_the_candidates_and_give_the_same_ranks(monkeypatch):
    assert ranking.query_block(7_194) == 2048 and ranking.query_block(79_000) == 212
    assert ranking.query_block(10**9) == 1
    rng = np.random.default_rng(4)
    scores = torch.as_tensor(rng.normal(size=(50, 300)))
    gold = [rng.choice(300, size=1 + i % 3, replace=False) for i in range(50)]
    whole = best_gold_ranks(lambda a, b: scores[a:b], 50, gold, 300)
    monkeypatch.setattr(ranking, "BLOCK_ENTRIES", 7 * 300)
    seen = []
    blocked = best_gold_ranks(lambda a, b: seen.append(b - a) or scores[a:b], 50, gold, 300)
    np.testing.assert_array_equal(whole, blocked)
    assert max(seen) == 7


def test_study_preprocessing_is_pca_over_every_row_then_centring():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(5)
    large, small = rng.normal(size=(80, 12)) @ rng.normal(size=(12, 12)), rng.normal(size=(80, 5))
    _, reduced = align.shared_spaces(small, large, [np.array([i]) for i in range(80)], np.arange(40), "study",
                                     ranking.Placement(dtype="float64"))
    reduced = reduced.numpy()
    expected = PCA(n_components=5).fit_transform(large)
    np.testing.assert_allclose(np.abs(reduced), np.abs(expected), atol=1e-8)   # signs are PCA's choice
    np.testing.assert_allclose(reduced.mean(axis=0), 0, atol=1e-12)


def test_published_folds_become_indices_and_a_foreign_fold_is_refused():
    concepts = ["n1", "n2", "n3", "n4"]
    train, test = fold_indices(concepts, (["n1", "n3", "n9"], ["n2", "n4"]), "fold 1")
    assert train.tolist() == [0, 2] and test.tolist() == [1, 3]
    with pytest.raises(ValueError, match=r"fold 1: 1 scored concepts .*\['n4'\]"):
        fold_indices(concepts, (["n1", "n3"], ["n2"]), "fold 1")
    vision, language, gold = _planted(4, 0, 0.0, dim=3)
    pairs = concept_pairs(vision, concepts, language, ["a", "b", "c", "d"],
                          {"n1": ["a"], "n2": ["b"], "n3": ["c"], "n4": ["d"]})
    folds = [(["n1", "n2"], ["n3", "n4"]), (["n3", "n4"], ["n1", "n2"])]
    assert [(s, tr.tolist(), te.tolist()) for s, tr, te in concept_splits(pairs, folds, 0.7, 0)] == [
        (0, [0, 1], [2, 3]), (1, [2, 3], [0, 1])]


def test_published_splits_need_a_dictionary_with_folds(tmp_path):
    plain = ConceptDictionary("plain", "test", {"n1": ["a"]}, {"a": {}})
    with pytest.raises(ValueError, match="dictionary 'plain' has none"):
        resolve_splits({"source": "published"}, plain, "plain.json")
    folds = [(["n1"], ["n2"])]
    with_folds = make_dictionary(None, "study", "test", {"n1": ["a"], "n2": ["b"]})
    path = write_dictionary(ConceptDictionary(**{**with_folds.__dict__, "folds": folds}), tmp_path / "s.json")
    assert resolve_splits({"source": "published"}, read_dictionary(path), str(path)) == folds
    assert resolve_splits(5, plain, "plain.json") == 5


def test_scoring_refuses_a_store_made_from_another_version_of_its_table(tmp_path):
    from synesthesia.align import read_pair
    from synesthesia.store import StoreMismatchError

    def store(name, table, dataset="d"):
        path = tmp_path / f"{name}.h5"
        import h5py

        from synesthesia.data.tables import table_hash

        with h5py.File(path, "w") as f:
            f["ids"] = ["a", "b"]
            f["embeddings"] = np.eye(2, dtype=np.float32)
            f.attrs.update({"dataset": dataset, "dataset_hash": table_hash(table), "complete": True})
        return path

    text_table, image_table = tmp_path / "text.tsv", tmp_path / "images.tsv"
    text_table.write_text("id\ttext\na\tan apple\nb\ta bee\n")
    image_table.write_text("id\timage\na\ta.png\nb\tb.png\n")
    text, vision = store("text", text_table), store("vision", image_table)
    read_pair(text, vision, (text_table, image_table))
    image_table.write_text("id\timage\na\ta.png\nb\tc.png\n")
    with pytest.raises(StoreMismatchError, match=r"vision.h5 was extracted from another version of .*images.tsv"):
        read_pair(text, vision, (text_table, image_table))
    with pytest.raises(ValueError, match=r"text.h5 embeds dataset 'd' but .*other.h5 embeds 'e'"):
        read_pair(text, store("other", image_table, dataset="e"))


def test_the_study_dictionary_carries_its_folds_and_corpus_counts(tmp_path):
    from pathlib import Path

    from synesthesia.data.concepts import prepare_dictionary

    shipped = Path(__file__).parent / "data" / "vlca"
    path = prepare_dictionary("imagenet-ul-ex-1k", {"source": "study", "name": "imagenet-ul-ex-1k",
                                                    "local": str(shipped)},
                              tmp_path / "d.json", tmp_path / "nltk", study_dir=tmp_path / "vlca")
    dictionary = read_dictionary(path)
    assert len(dictionary.concepts) == 5_942 and sum(map(len, dictionary.concepts.values())) == 7_194
    assert [(len(train), len(test)) for train, test in dictionary.folds] == [(4_160, 1_782)] * 5
    assert all(set(train) | set(test) == set(dictionary.concepts) for train, test in dictionary.folds)
    assert dictionary.aliases["thrush"]["count"] > 0
    assert (tmp_path / "vlca" / "data" / "dicts" / "imagenet" / "base" / "test_5_cleaned.txt").is_file()


def test_dispersion_of_some_owners_equals_the_full_one_and_skips_blocks_without_them(monkeypatch):
    from synesthesia import factors

    rng = np.random.default_rng(6)
    owner = np.repeat(np.arange(30), 4)                 # 30 words, 4 sentences each, grouped as in a text table
    items = rng.normal(size=(len(owner), 5))
    full = factors.dispersion(items, owner, 30)
    monkeypatch.setattr(factors, "_ITEM_BLOCK", 8)      # two words per block

    class Counted:
        shape, reads = items.shape, []

        def __len__(self):
            return len(items)

        def __getitem__(self, block):
            self.reads.append(block.start)
            return items[block]

    counted = Counted()
    some = factors.dispersion(counted, owner, 30, rows=[1, 3])
    np.testing.assert_allclose(some[[1, 3]], full[[1, 3]])
    assert np.isnan(np.delete(some, [1, 3])).all()
    assert counted.reads == [0, 8]                      # words 1 and 3 live in the first two blocks only
