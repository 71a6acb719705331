"""Concept datasets: sentences with word spans, images per concept, tables, span pooling."""

import numpy as np
import pytest
import torch
from PIL import Image

from synesthesia.data.concept_images import folder_rows
from synesthesia.data.sentences import select_sentences, template_corpus, word_pattern, word_table
from synesthesia.data.shapes import concept_images, shapes_dictionary
from synesthesia.data.tables import occurrences, read_table, write_text_table
from synesthesia.models.hf import span_token_mask


def test_word_pattern_matches_whole_words_case_insensitively_and_multiword_aliases():
    assert word_pattern("lime_juice").search("The Lime  juice was sour").span() == (4, 15)
    assert word_pattern("lime_juice").search("a sublime juice") is None
    assert word_pattern("cat").search("cats and a cat").span() == (11, 14)


def test_select_sentences_respects_length_and_count():
    corpus = ["a dog barks", "one two three four five six dog", "the dog sleeps", "dog", "no match here"]
    chosen = select_sentences("dog", corpus, per_alias=2, max_words=5)
    assert chosen == [("a dog barks", 2, 5), ("the dog sleeps", 4, 7)]


def test_word_table_has_one_row_per_sentence_and_drops_aliases_without_any(tmp_path):
    corpus = template_corpus(["red_circle", "blue_square"], per_alias=3)
    corpus.pop("blue_square")
    path = word_table(tmp_path, ["red_circle", "blue_square"], corpus, per_alias=3, max_words=15)
    table = read_table(path, occurrences_allowed=True)
    assert table["id"].tolist() == ["red_circle"] * 3
    for text, start, end in zip(table["text"], table["start"], table["end"]):
        assert text[start:end] == "red circle"


def test_occurrences_give_owners_when_ids_repeat_or_spans_exist(tmp_path):
    table = read_table(write_text_table(tmp_path, [("a", "x a", 2, 3), ("b", "b y", 0, 1), ("a", "a z", 0, 1)]),
                       occurrences_allowed=True)
    assert occurrences(table) == (["a", "b"], [0, 1, 0])
    plain = read_table(write_text_table(tmp_path / "plain", [("a", "x"), ("b", "y")]))
    assert occurrences(plain) == (["a", "b"], None)


def test_shapes_concepts_have_synonym_aliases_and_rendered_images(tmp_path):
    dictionary = shapes_dictionary()
    assert len(dictionary) == 40 and sum(map(len, dictionary.values())) == 56
    assert dictionary["shape.red_circle"] == ["red_circle", "red_disc"]
    rows = concept_images(tmp_path, per_concept=2, image_size=16, seed=0)
    assert len(rows) == 80 and all((tmp_path / image).is_file() for _, image in rows)


def test_folder_rows_take_the_first_sorted_images_per_concept(tmp_path):
    for concept, names in {"n001": ["b.JPEG", "a.JPEG", "c.txt"], "n002": ["x.png"]}.items():
        (tmp_path / concept).mkdir()
        for name in names:
            Image.new("RGB", (4, 4)).save(tmp_path / concept / name, format="PNG")  # each file is decoded
    rows = folder_rows(tmp_path, ["n001", "n002", "n003"], per_concept=1)
    assert [(c, p.split("/")[-1]) for c, p in rows] == [("n001", "a.JPEG"), ("n002", "x.png")]


def test_span_mask_selects_the_word_tokens_only():
    # tokens: [CLS] the lime juice [SEP] [PAD]; the word "lime juice" is characters 4-14
    offsets = torch.tensor([[[0, 0], [0, 3], [4, 8], [9, 14], [0, 0], [0, 0]]])
    mask = span_token_mask(offsets, torch.tensor([[4, 14]]), torch.tensor([[1, 1, 1, 1, 1, 0]]))
    assert mask.tolist() == [[False, False, True, True, False, False]]


@pytest.fixture(scope="module")
def bert(tiny_models):
    from synesthesia.models import load_encoder

    return load_encoder("tiny-bert", {"source": "hf", "id": str(tiny_models / "bert"), "modality": "text",
                                      "family": "bert"}, device="cpu")


def test_word_in_context_is_the_mean_of_its_subword_states(bert):
    text, span = "we saw the lime juice today", (11, 21)
    vector = bert.encode_spans([text, "a much longer sentence so that the first one is padded here"],
                               [span, (2, 6)])[0]
    encoded = bert.tokenizer(text, return_offsets_mapping=True, return_tensors="pt")
    positions = [i for i, (a, b) in enumerate(encoded.pop("offset_mapping")[0].tolist()) if b > a and a < 21 and b > 11]
    with torch.inference_mode():
        hidden = bert.model(**encoded).last_hidden_state[0]
    np.testing.assert_allclose(vector.numpy(), hidden[positions].mean(dim=0).numpy(), atol=1e-5)


def test_causal_models_pool_the_last_subword(tiny_models):
    from synesthesia.models import load_encoder

    gpt2 = load_encoder("tiny-gpt2", {"source": "hf", "id": str(tiny_models / "gpt2"), "modality": "text",
                                      "family": "causal"}, device="cpu")
    text, span = "we saw the lime juice today", (11, 21)
    vector = gpt2.encode_spans([text], [span])[0]
    encoded = gpt2.tokenizer(text, return_offsets_mapping=True, return_tensors="pt")
    last = max(i for i, (a, b) in enumerate(encoded.pop("offset_mapping")[0].tolist()) if b > a and a < 21 and b > 11)
    with torch.inference_mode():
        hidden = gpt2.model(**encoded).last_hidden_state[0]
    np.testing.assert_allclose(vector.numpy(), hidden[last].numpy(), atol=1e-5)
    assert gpt2.word_pooling == "last"


def test_a_span_outside_the_tokens_is_an_error_naming_the_model_and_text(bert):
    with pytest.raises(ValueError, match="tiny-bert.*'short'"):
        bert.encode_spans(["short"], [(50, 60)])
