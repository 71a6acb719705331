"""Text-to-image on a tiny random Stable Diffusion-layout checkpoint, on the CPU.

The tiny UNet cross-attends to 32 dimensions, its VAE turns 32-pixel images into
16 x 16 latents; the text encoders are the tiny BERT and the checkpoint's own tiny CLIP.
"""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest
import torch

from synesthesia.data.shapes import make_shapes
from synesthesia.images import BadImageError, load_image
from synesthesia.models import load_encoder
from synesthesia.models.tiny import build_inception_weights, build_tiny_model
from synesthesia.store import CorruptStoreError, IncompleteStoreError
from synesthesia.t2i.adapter import TokenAdapter, build_adapter
from synesthesia.t2i.cache import EMPTY_CAPTION_ID, TensorCache, cache_latents, cache_token_states
from synesthesia.t2i.data import image_array, read_pairs, read_split, split_pairs
from synesthesia.t2i.generate import caption_seed, generate_images, heldout_images, sample
from synesthesia.t2i.generator import load_checkpoint_text_encoder, load_generator
from synesthesia.t2i.metrics import (
    Scorers,
    clip_scores,
    fid_and_inception_score,
    inception_extractor,
    load_clip,
    read_pngs,
    score_images,
    to_uint8,
)
from synesthesia.t2i.train import _Batches, denoising_loss, train_adapter, training_spec

MAX_TOKENS = 16
RESOLUTION = 32


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("t2i")


@pytest.fixture(scope="module")
def sd_dir(root):
    return build_tiny_model("sd", root / "sd")


@pytest.fixture(scope="module")
def generator(sd_dir):
    return load_generator({"id": str(sd_dir), "resolution": RESOLUTION, "steps": 4, "guidance_scale": 3.0, "seed": 7})


@pytest.fixture(scope="module")
def bert(root):
    folder = build_tiny_model("bert", root / "bert")
    return load_encoder("tiny-bert", {"source": "hf", "id": str(folder), "modality": "text", "family": "bert"},
                        device="cpu", dtype="float32")


@pytest.fixture(scope="module")
def dataset(root):
    """Six rendered shapes with captions: four train, two held out."""
    folder = make_shapes(root / "shapes", n=6, image_size=48, seed=0)
    return folder, split_pairs(folder, root / "split.json", n_heldout=2, seed=0)


@pytest.fixture(scope="module")
def caches(root, generator, bert, dataset):
    folder, split = dataset
    latents = cache_latents(generator, folder, split, root / "latents.h5", "shapes", batch_size=3)
    tokens = cache_token_states(bert, folder, root / "tokens.h5", "shapes", MAX_TOKENS, batch_size=4)
    with TensorCache(latents) as latent_cache, TensorCache(tokens) as token_cache:
        yield latent_cache, token_cache


class RecordingFeatures(torch.nn.Module):
    """A test double of the Inception network: records its input; features are per-channel pixel statistics."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features
        self.seen: list[torch.Tensor] = []
        self.register_buffer("projection", torch.randn(6, num_features, generator=torch.Generator().manual_seed(0)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.seen.append(images.clone())
        pixels = images.float().flatten(2) / 255
        return torch.cat([pixels.mean(-1), pixels.std(-1)], dim=1) @ self.projection


def recording_scorers(clip=(None, None)) -> Scorers:
    return Scorers(RecordingFeatures(4), RecordingFeatures(10), *clip)


# Adapter


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_adapter_maps_tokens_to_the_unets_cross_attention_width(kind, generator):
    adapter = build_adapter({"kind": kind}, in_dim=20, out_dim=generator.cross_attention_dim)
    out = adapter(torch.randn(3, MAX_TOKENS, 20))
    assert out.shape == (3, MAX_TOKENS, generator.unet.config.cross_attention_dim)
    with pytest.raises(ValueError, match="width 20"):
        adapter(torch.randn(1, MAX_TOKENS, 21))


def test_adapter_file_keeps_weights_architecture_and_provenance(tmp_path):
    adapter = TokenAdapter(12, 8, kind="mlp", hidden_dim=5)
    path = adapter.save(tmp_path / "adapter.safetensors", {"model": "tiny-bert", "steps": 5})
    loaded = TokenAdapter.load(path)
    states = torch.randn(2, 4, 12)
    assert loaded.config == {"in_dim": 12, "out_dim": 8, "kind": "mlp", "hidden_dim": 5}
    assert loaded.metadata == {"model": "tiny-bert", "steps": 5}
    torch.testing.assert_close(loaded(states), adapter(states))


def test_unknown_adapter_kind_is_refused():
    with pytest.raises(ValueError, match="kind 'conv'"):
        build_adapter({"kind": "conv"}, 4, 4)


# Token states


def test_token_states_are_the_encoders_hidden_states_padded_to_a_fixed_length(bert):
    texts = ["a red circle", "a large blue square on the left of the picture"]
    states, mask = bert.token_states(texts, MAX_TOKENS)
    assert states.shape == (2, MAX_TOKENS, 32) and mask.shape == (2, MAX_TOKENS)
    lengths = bert.token_lengths(texts)
    assert mask.sum(dim=1).tolist() == lengths.tolist()
    for row, text in enumerate(texts):  # a batch gives each text's own states, at its real tokens
        alone, _ = bert.token_states([text], MAX_TOKENS)
        real = mask[row].bool()
        torch.testing.assert_close(states[row, real], alone[0, real], atol=1e-5, rtol=0)
    longer, longer_mask = bert.token_states(texts, 200)  # past the encoder's own limit: zero padding
    assert longer.shape[1] == 200 and not longer[:, 128:].any() and not longer_mask[:, 128:].any()


def test_open_clip_token_states_are_the_towers_final_token_states(root):
    folder = build_tiny_model("open-clip", root / "open-clip")
    encoder = load_encoder("tiny-open-clip", {"source": "open_clip", "id": str(folder), "modality": "text"},
                           device="cpu", dtype="float32")
    states, mask = encoder.token_states(["a red circle", ""], MAX_TOKENS)
    assert states.shape == (2, MAX_TOKENS, 32)
    assert mask.sum(dim=1).tolist() == encoder.token_lengths(["a red circle", ""]).tolist()
    model, tokens = encoder.model, encoder.tokenizer(["a red circle"])
    with torch.inference_mode():
        x = model.token_embedding(tokens) + model.positional_embedding
        expected = model.ln_final(model.transformer(x, attn_mask=model.attn_mask))[0, :MAX_TOKENS]
    torch.testing.assert_close(states[0], expected, atol=1e-5, rtol=0)


def test_checkpoint_text_encoder_reads_the_sd_folders_tokenizer(sd_dir):
    encoder = load_checkpoint_text_encoder("sd-clip", {"id": str(sd_dir)}, device="cpu")
    states, mask = encoder.token_states(["", "a red circle"], MAX_TOKENS)
    assert states.shape == (2, MAX_TOKENS, 32)
    assert mask[0].sum() == 2  # the empty caption is its start and end tokens
    with torch.inference_mode():
        ids = encoder.tokenizer(["a red circle"], return_tensors="pt")
        expected = encoder.model(**ids).last_hidden_state[0]
    torch.testing.assert_close(states[1, : len(expected)], expected, atol=1e-5, rtol=0)


# Caches


def test_split_holds_out_a_fixed_set_in_dataset_order(dataset, tmp_path):
    folder, split_file = dataset
    split = read_split(split_file)
    ids = list(read_pairs(folder)["id"])
    assert len(split["heldout"]) == 2 and sorted(split["train"] + split["heldout"]) == sorted(ids)
    assert split["heldout"] == [i for i in ids if i in split["heldout"]]
    again = read_split(split_pairs(folder, tmp_path / "again.json", n_heldout=2, seed=0))
    assert again["heldout"] == split["heldout"]


def test_caches_hold_every_training_latent_and_every_caption_with_the_empty_one(caches, dataset, generator):
    latents, tokens = caches
    split = read_split(dataset[1])
    assert latents.ids == split["train"]
    assert latents.file["mean"].shape == (4, 4, 16, 16)
    assert tokens.ids[-1] == EMPTY_CAPTION_ID and len(tokens.ids) == 7
    assert tokens.file["states"].shape == (7, MAX_TOKENS, 32)
    assert float(latents.attrs["scaling_factor"]) == generator.vae.config.scaling_factor
    assert tokens.attrs["model"] == "tiny-bert" and tokens.attrs["complete"]
    picked = [split["train"][2], split["train"][0]]
    torch.testing.assert_close(latents.rows("mean", picked)[0], latents.rows("mean", [picked[0]])[0])


def test_cache_reader_refuses_an_incomplete_file_and_unknown_ids(caches, tmp_path):
    import h5py

    with h5py.File(tmp_path / "broken.h5", "w") as f:
        f.attrs["complete"] = False
    with pytest.raises(IncompleteStoreError, match="broken.h5"):
        TensorCache(tmp_path / "broken.h5")
    with pytest.raises(KeyError, match="not cached"):
        caches[1].rows("states", ["no-such-id"])


def test_an_undecodable_training_image_is_refused_naming_it_and_its_dataset(generator, dataset, tmp_path):
    import shutil

    folder = shutil.copytree(dataset[0], tmp_path / "shapes")
    broken = read_pairs(folder).set_index("id").loc[read_split(dataset[1])["train"][1], "image"]
    with open(broken, "r+b") as image:
        image.truncate(40)
    with pytest.raises(BadImageError, match=re.escape(f"image {broken} of dataset 'my-shapes' cannot be read")):
        cache_latents(generator, folder, dataset[1], tmp_path / "latents.h5", "my-shapes", batch_size=3)
    assert not (tmp_path / "latents.h5").exists()


def _crafted_cache(path, ids, **arrays):
    import h5py

    with h5py.File(path, "w") as f:
        f["ids"] = np.array(ids, dtype=object)
        for name, values in arrays.items():
            f[name] = values
        f.attrs["complete"] = True
    return path


LATENT = np.ones((3, 4, 2, 2), dtype=np.float32)


@pytest.mark.parametrize("ids, arrays, refusal", [
    (["a", "b", "c"], {"mean": LATENT[:2], "std": LATENT[:2]},
     r"bad\.h5: 'mean' has shape \(2, 4, 2, 2\), expected one row per each of the 3 ids; delete it and rerun"),
    (["a", "b", "a"], {"mean": LATENT, "std": LATENT}, r"bad\.h5: id 'a' occurs more than once"),
    (["a", "b", "c"], {"mean": LATENT, "std": LATENT[:, :2]},
     r"bad\.h5: 'mean' has shape \(3, 4, 2, 2\) but 'std' has \(3, 2, 2, 2\)"),
    (["a", "b", "c"], {"states": np.ones((3, 5, 8), np.float32), "mask": np.ones((3, 4), np.uint8)},
     r"bad\.h5: 'states' has shape \(3, 5, 8\) but 'mask' has \(3, 4\); they must agree in their first 2"),
    (["a", "b", "c"], {}, r"bad\.h5: no 'ids' or no arrays \(it holds \['ids'\]\)"),
])
def test_cache_reader_refuses_a_cache_whose_arrays_do_not_match_its_ids(tmp_path, ids, arrays, refusal):
    with pytest.raises(CorruptStoreError, match=refusal):
        TensorCache(_crafted_cache(tmp_path / "bad.h5", ids, **arrays))


def test_cache_reader_refuses_a_truncated_file_by_name(caches, tmp_path):
    truncated = tmp_path / "latents.h5"
    data = caches[0].path.read_bytes()
    truncated.write_bytes(data[:len(data) // 2])
    with pytest.raises(CorruptStoreError, match=r"latents\.h5: not a readable HDF5 file .*truncated or damaged"):
        TensorCache(truncated)


def test_cache_reader_refuses_non_finite_rows_naming_the_id_and_reads_the_finite_ones(tmp_path):
    mean = np.arange(48, dtype=np.float32).reshape(3, 4, 2, 2)
    std = np.where(np.arange(3)[:, None, None, None] == 1, np.inf, mean)
    with TensorCache(_crafted_cache(tmp_path / "latents.h5", ["a", "b", "c"], mean=mean, std=std)) as cache:
        torch.testing.assert_close(cache.rows("std", ["c", "a"]), torch.from_numpy(mean[[2, 0]]))
        with pytest.raises(CorruptStoreError, match=r"latents\.h5: 'std' of id 'b' is not finite \(1 of the 2 rows"):
            cache.rows("std", ["c", "b", "c"])
        with pytest.raises(KeyError, match=r"latents\.h5: no 'states' array \(it holds \['mean', 'std'\]\)"):
            cache.rows("states", ["a"])


def test_an_interrupted_token_cache_resumes_where_it_stopped(bert, dataset, caches, tmp_path, monkeypatch):
    encode, batches = bert.token_states, []

    def killed_at_the_second_batch(texts, length):
        batches.append(list(texts))
        if len(batches) == 2:
            raise RuntimeError("killed")
        return encode(texts, length)

    monkeypatch.setattr(bert, "token_states", killed_at_the_second_batch)
    out = tmp_path / "tokens.h5"
    with pytest.raises(RuntimeError, match="killed"):
        cache_token_states(bert, dataset[0], out, "shapes", MAX_TOKENS, batch_size=2)
    assert not out.exists()
    monkeypatch.setattr(bert, "token_states", lambda texts, length: batches.append(texts) or encode(texts, length))
    batches.clear()
    cache_token_states(bert, dataset[0], out, "shapes", MAX_TOKENS, batch_size=2)
    assert len(batches) == 3  # 7 captions in batches of 2: the first was kept
    with TensorCache(out) as resumed:
        torch.testing.assert_close(resumed.rows("states", resumed.ids), caches[1].rows("states", resumed.ids))


# Training


def test_a_training_step_lowers_the_loss_on_a_fixed_batch(caches, generator, dataset):
    latents, tokens = caches
    spec = training_spec({"batch_size": 4, "empty_caption_rate": 0.0})
    batch = next(_Batches(read_split(dataset[1])["train"], latents, tokens, generator, spec))
    torch.manual_seed(0)
    adapter = build_adapter({"kind": "mlp"}, 32, generator.cross_attention_dim)
    optimizer = torch.optim.AdamW(adapter.parameters(), lr=1e-3)
    before = denoising_loss(generator, adapter, *batch)
    before.backward()
    optimizer.step()
    with torch.no_grad():
        after = denoising_loss(generator, adapter, *batch)
    assert after < before


def test_gradient_checkpointing_gives_the_same_adapter_gradients(caches, generator, dataset):
    latents, tokens = caches
    spec = training_spec({"batch_size": 2})
    batch = next(_Batches(read_split(dataset[1])["train"], latents, tokens, generator, spec))
    adapter = build_adapter({"kind": "linear"}, 32, generator.cross_attention_dim)
    gradients = []
    for checkpointing in (False, True):
        if checkpointing:
            generator.unet.enable_gradient_checkpointing()
        adapter.zero_grad()
        denoising_loss(generator, adapter, *batch).backward()
        gradients.append(adapter.net.weight.grad.clone())
    generator.unet.disable_gradient_checkpointing()
    assert gradients[0].abs().sum() > 0
    torch.testing.assert_close(gradients[1], gradients[0])


def test_training_is_seeded_and_refuses_caches_of_another_generator(caches, generator, dataset):
    latents, tokens = caches
    train = read_split(dataset[1])["train"]
    spec = {"steps": 2, "batch_size": 2, "gradient_checkpointing": False}
    first = train_adapter(generator, latents, tokens, train, {"kind": "linear"}, spec)[1]
    second = train_adapter(generator, latents, tokens, train, {"kind": "linear"}, spec)[1]
    assert first == second
    latents.attrs["resolution"] = 64
    try:
        with pytest.raises(ValueError, match="latents.h5 holds latents"):
            train_adapter(generator, latents, tokens, train, {"kind": "linear"}, spec)
    finally:
        latents.attrs["resolution"] = RESOLUTION


# Generation


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])  # deterministic, and drawing noise at every step
def test_generation_is_reproducible_for_a_seed_and_independent_of_the_batch(sampler, caches, generator):
    generator = dataclasses.replace(generator, spec={**generator.spec, "sampler": sampler})
    tokens = caches[1]
    torch.manual_seed(0)
    adapter = build_adapter({"kind": "linear"}, 32, generator.cross_attention_dim)
    ids = tokens.ids[:2]
    args = (tokens.rows("states", ids), tokens.rows("mask", ids), tokens.rows("states", [EMPTY_CAPTION_ID]),
            tokens.rows("mask", [EMPTY_CAPTION_ID]))
    seeds = [caption_seed(7, 0), caption_seed(7, 1)]
    both = sample(generator, adapter, *args, seeds=seeds)
    assert both.shape == (2, 3, RESOLUTION, RESOLUTION)
    torch.testing.assert_close(sample(generator, adapter, *args, seeds=seeds), both, atol=0, rtol=0)
    alone = sample(generator, adapter, args[0][1:], args[1][1:], *args[2:], seeds=seeds[1:])
    torch.testing.assert_close(alone[0], both[1], atol=1e-5, rtol=0)
    assert not torch.allclose(both[0], sample(generator, adapter, *args, seeds=[caption_seed(8, 0), seeds[1]])[0])


def test_caption_seeds_differ_by_index_and_run_seed():
    seeds = {caption_seed(run, index) for run in range(3) for index in range(50)}
    assert len(seeds) == 150 and all(0 <= seed < 2**63 for seed in seeds)


def test_an_adapter_trained_on_another_encoder_is_refused(caches, generator, tmp_path):
    adapter = build_adapter({"kind": "linear"}, 32, generator.cross_attention_dim)
    adapter.metadata = {"model": "another-model"}
    with pytest.raises(ValueError, match="another-model"):
        generate_images(generator, adapter, caches[1], caches[1].ids[:1], tmp_path, batch_size=1)


# Metrics


def test_to_uint8_scales_rounds_half_up_and_clips():
    grey = torch.full((1, 3, 4, 4), 0.5)
    assert to_uint8(grey).unique().tolist() == [128]
    values = torch.tensor([0.0, 1.0, 0.2, -0.1, 1.7])
    assert to_uint8(values).tolist() == [0, 255, 51, 0, 255]
    assert to_uint8(torch.tensor([-1.0, 0.0, 1.0]), value_range=(-1.0, 1.0)).tolist() == [0, 128, 255]
    as_bytes = torch.tensor([3, 200], dtype=torch.uint8)
    assert to_uint8(as_bytes) is as_bytes
    with pytest.raises(TypeError):
        to_uint8(torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="non-finite"):
        to_uint8(torch.tensor([float("nan")]))


def test_fid_and_inception_score_see_the_real_pixel_values():
    grey = to_uint8(torch.full((2, 3, 8, 8), 0.5))
    noise = to_uint8(torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(0)))
    scorers = recording_scorers()
    values = fid_and_inception_score(noise, grey, scorers.fid_features, scorers.is_logits, splits=2, batch_size=2)
    fed = torch.cat(scorers.fid_features.seen)
    assert fed.dtype == torch.uint8 and torch.equal(fed, torch.cat([noise, grey]))
    assert torch.equal(torch.cat(scorers.is_logits.seen), grey)
    assert grey.unique().tolist() == [128]
    assert values["fid"] > 0 and values["inception_score"] >= 1.0
    with pytest.raises(TypeError, match="uint8"):
        fid_and_inception_score(noise, torch.full((2, 3, 8, 8), 0.5), scorers.fid_features, scorers.is_logits, 1, 2)


@pytest.fixture(scope="module")
def inception_weights(root):
    return build_inception_weights(root / "inception.pth")


def test_inception_loads_its_weights_from_a_local_file(root, inception_weights):
    weights = inception_weights
    network = inception_extractor(weights, "2048")
    saved = torch.load(weights)
    torch.testing.assert_close(network.fc.weight, saved["fc.weight"])
    features = network(torch.randint(0, 256, (2, 3, RESOLUTION, RESOLUTION), dtype=torch.uint8))
    assert features.shape == (2, 2048) and torch.isfinite(features).all()
    with pytest.raises(FileNotFoundError, match="inception_weights"):
        inception_extractor(root / "missing.pth", "2048")


@pytest.fixture(scope="module")
def tiny_clip(root):
    folder = build_tiny_model("clip", root / "clip")
    return load_clip({"source": "hf", "id": str(folder)}, device="cpu")


def test_clip_score_is_100_times_the_clipped_cosine(tiny_clip):
    text, vision = tiny_clip
    images = to_uint8(torch.rand(2, 3, RESOLUTION, RESOLUTION, generator=torch.Generator().manual_seed(1)))
    captions = ["a red circle", "a blue square"]
    scores = clip_scores(images, captions, text, vision, batch_size=1)
    from PIL import Image

    transform = vision.image_transform()
    pixels = torch.stack([transform(Image.fromarray(image.permute(1, 2, 0).numpy())) for image in images])
    cosine = torch.nn.functional.cosine_similarity(vision.encode_images(pixels), text.encode_texts(captions))
    torch.testing.assert_close(scores, 100 * cosine.clamp(min=0))
    with pytest.raises(TypeError, match="uint8"):
        clip_scores(images.float(), captions, text, vision, batch_size=1)


# The whole chain


def test_end_to_end_tiny_run(root, generator, caches, dataset, tiny_clip):
    latents, tokens = caches
    folder, split_file = dataset
    split = read_split(split_file)
    adapter, losses = train_adapter(generator, latents, tokens, split["train"], {"kind": "mlp"},
                                    {"steps": 5, "batch_size": 2, "log_every": 1})
    assert len(losses) == 5 and all(loss > 0 for loss in losses)
    path = adapter.save(root / "adapter.safetensors", {"model": tokens.attrs["model"]})
    paths = generate_images(generator, TokenAdapter.load(path), tokens, split["heldout"], root / "images", batch_size=2)
    assert [p.name for p in paths] == [f"{i}.png" for i in split["heldout"]]
    fake = read_pngs(paths)
    assert fake.shape == (2, 3, RESOLUTION, RESOLUTION) and fake.dtype == torch.uint8
    again = generate_images(generator, TokenAdapter.load(path), tokens, split["heldout"], root / "again", batch_size=1)
    # The same caption gives the same image in any batch, up to the rounding of batched CPU kernels,
    # which on some CPUs moves a rare pixel by one grey level (seen: 0.016% of pixels).
    difference = (read_pngs(again).int() - fake.int()).abs()
    assert difference.max() <= 1 and (difference > 0).float().mean() < 1e-3

    pairs = read_pairs(folder).set_index("id")
    real = torch.from_numpy(np.stack([image_array(pairs.loc[i, "image"], RESOLUTION) for i in split["heldout"]]))
    scorers = recording_scorers(tiny_clip)
    records = score_images(real, fake, [pairs.loc[i, "caption"] for i in split["heldout"]], scorers, {})
    assert [r["metric"] for r in records] == ["fid", "inception_score", "clip_score"]
    assert all(r["n_images"] == 2 for r in records)
    assert torch.equal(scorers.is_logits.seen[0], fake)
    json.dumps(records)

    captions, images = heldout_images({"tiny-bert": root / "images", "again": root / "again"}, folder, split_file)
    assert captions == [pairs.loc[i, "caption"] for i in split["heldout"]][:8]
    assert [len(images["tiny-bert"]), len(images["again"])] == [len(captions)] * 2
    assert np.array_equal(images["again"][0], np.asarray(load_image(root / "again" / f"{split['heldout'][0]}.png")))


def test_job_entry_points_write_the_adapter_images_and_metrics_files(root, sd_dir, caches, dataset, tiny_clip,
                                                                     inception_weights):
    from synesthesia.t2i.generate import generate_heldout
    from synesthesia.t2i.metrics import score_generated
    from synesthesia.t2i.train import train_from_caches

    latents, tokens = caches
    folder, split = dataset
    generator_spec = {"id": str(sd_dir), "resolution": RESOLUTION, "steps": 2, "seed": 7}
    jobs = root / "jobs"
    adapter = train_from_caches(generator_spec, {"kind": "linear"}, {"steps": 2, "batch_size": 2}, latents.path,
                                tokens.path, split, jobs / "adapter.safetensors", jobs / "losses.json")
    assert TokenAdapter.load(adapter).metadata["model"] == "tiny-bert"
    assert len(json.loads((jobs / "losses.json").read_text())["loss"]) == 2
    images = generate_heldout(generator_spec, adapter, tokens.path, split, jobs / "images", batch_size=2)
    spec = {"inception_weights": str(inception_weights),
            "clip_model": {"source": "hf", "id": str(root / "clip")}}
    records = score_generated(jobs / "images", folder, split, spec, "tiny-bert", jobs / "metrics.json")
    assert len(images) == 2
    assert json.loads((jobs / "metrics.json").read_text()) == records
    assert {r["model"] for r in records} == {"tiny-bert"}
