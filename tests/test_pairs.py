"""Sentence pairs in each encoder's native pair input."""

import pytest
import torch

from synesthesia.models import load_encoder

FIRST = ["a red circle on the left", "the sky"]
SECOND = ["a blue square", "is blue today and every day"]


def _encoder(tiny_models, arch, family, pooling, source="hf"):
    entry = {"source": source, "id": str(tiny_models / arch), "modality": "text", "family": family,
             "pooling": pooling}
    return load_encoder(arch, entry, device="cpu")


def test_bert_uses_its_pair_template(tiny_models):
    bert = _encoder(tiny_models, "bert", "bert", "cls")
    batch = bert.tokenizer(FIRST[:1], SECOND[:1])
    assert bert.tokenizer.convert_ids_to_tokens(batch["input_ids"][0]).count("[SEP]") == 2
    assert batch["token_type_ids"][0][-1] == 1
    expected = bert.model(**bert.tokenizer(FIRST[:1], SECOND[:1], return_tensors="pt")).last_hidden_state[:, 0]
    torch.testing.assert_close(bert.encode_texts(FIRST[:1], SECOND[:1]), expected.detach(), atol=1e-5, rtol=0)


@pytest.mark.parametrize("pooling", ["projection", "pooler"])
def test_clip_pairs_join_by_the_end_token_and_pool_at_the_last_one(tiny_models, pooling):
    clip = _encoder(tiny_models, "clip", "clip", pooling)
    joined = f"{FIRST[1]}{clip.tokenizer.eos_token}{SECOND[1]}"
    ids = clip.tokenizer(joined)["input_ids"]
    assert ids.count(clip.tokenizer.eos_token_id) == 2 and ids[-1] == clip.tokenizer.eos_token_id
    batch = clip.tokenizer([joined], return_tensors="pt")
    hidden = clip.model(**batch).last_hidden_state[0, -1]
    expected = clip.model.text_projection(hidden) if pooling == "projection" else hidden
    torch.testing.assert_close(clip.encode_texts(FIRST[1:], SECOND[1:])[0], expected.detach(), atol=1e-5, rtol=0)


def test_pairs_in_a_batch_equal_pairs_one_at_a_time(tiny_models):
    for encoder in (_encoder(tiny_models, "gpt2", "causal", "eos"), _encoder(tiny_models, "clip", "clip", "projection"),
                    _encoder(tiny_models, "open-clip", "clip", "projection", source="open_clip")):
        batch = encoder.encode_texts(FIRST, SECOND)
        one_by_one = torch.cat([encoder.encode_texts([a], [b]) for a, b in zip(FIRST, SECOND)])
        torch.testing.assert_close(batch, one_by_one, atol=1e-5, rtol=0)


def test_open_clip_last_token_pooling_equals_its_own_for_single_texts(tiny_models):
    encoder = _encoder(tiny_models, "open-clip", "clip", "projection", source="open_clip")
    tokens = encoder.tokenizer(FIRST)
    with torch.inference_mode():
        torch.testing.assert_close(encoder._encode_at_last_token(tokens), encoder.model.encode_text(tokens))
    assert (encoder.token_lengths(FIRST, SECOND) > encoder.token_lengths(FIRST)).all()
