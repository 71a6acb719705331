"""Models bigger than one GPU: accelerate placement (device_map, max_memory, disk offload), GPUs per
job, and batches halved on CUDA out-of-memory errors. All on the CPU with the tiny models."""

from __future__ import annotations

import fcntl
import gc
import json
import os
import re
from contextlib import contextmanager

import numpy as np
import pytest
import torch
import yaml
from conftest import ROOT, SCHEMA, run_snakemake
from test_embed import IDS, SPEC, TEXTS, HashEncoder

from synesthesia import gpu
from synesthesia.config import ConfigError, validate_config
from synesthesia.embed import extract_images, extract_texts
from synesthesia.models import load_encoder
from synesthesia.store import read_embeddings

# float32 on the CPU: placement only moves weights, so the vectors agree to rounding.
ATOL = 1e-5
WORDS = ["a red circle on a grey field", "two blue squares", "the green star", "one", "an orange heart shape"]


def offloaded(tiny_models, tmp_path, arch: str, modality: str):
    """The tiny model whole, and the same model with a CPU budget of 80% of its weights: accelerate
    keeps the input embeddings on the CPU and sends the blocks that do not fit to disk."""
    entry = {"source": "hf", "id": str(tiny_models / arch), "modality": modality}
    whole = load_encoder(arch, entry, device="cpu", dtype="float32")
    budget = int(whole.parameter_count() * 4 * 0.8)
    split = load_encoder(arch, {**entry, "device_map": "sequential", "max_memory": {"cpu": budget},
                                "offload_folder": str(tmp_path / "offload")}, device="cpu", dtype="float32")
    return whole, split


@pytest.mark.parametrize("arch", ["opt", "gpt2"])
def test_offloaded_text_model_gives_the_unsplit_vectors(tiny_models, tmp_path, arch):
    whole, split = offloaded(tiny_models, tmp_path, arch, "text")
    assert set(split.model.hf_device_map.values()) == {"cpu", "disk"}
    assert split.device == torch.device("cpu")
    np.testing.assert_allclose(split.encode_texts(WORDS).numpy(), whole.encode_texts(WORDS).numpy(), atol=ATOL)
    spans = [(2, 5), (4, 8), (4, 9), (0, 3), (3, 9)]
    np.testing.assert_allclose(split.encode_spans(WORDS, spans).numpy(), whole.encode_spans(WORDS, spans).numpy(),
                               atol=ATOL)

    store = read_embeddings(extract_texts(split, [f"w{i}" for i in range(5)], WORDS, tmp_path / "split.h5",
                                          {"model": arch}, batch_size=2))
    np.testing.assert_allclose(store.vectors, whole.encode_texts(WORDS).numpy(), atol=ATOL)
    assert json.loads(store.attrs["device_map"]) == {"strategy": "sequential", "devices": ["cpu", "disk"]}
    assert store.attrs["gpus"] == 1
    # Each job offloads into a folder of its own, removed with its encoder.
    del split
    gc.collect()
    assert not list((tmp_path / "offload").iterdir())


def test_inputs_go_where_accelerate_runs_the_offloaded_embeddings(tiny_models, tmp_path):
    entry = {"source": "hf", "id": str(tiny_models / "opt"), "modality": "text", "device_map": "auto",
             "max_memory": {"cpu": 1000}, "offload_folder": str(tmp_path)}
    on_disk = load_encoder("opt", entry, device="cpu", dtype="float32")
    assert on_disk.model.hf_device_map == {"": "disk"}
    assert on_disk.model.get_input_embeddings().weight.device == torch.device("meta")
    assert on_disk.device == torch.device("cpu")
    assert torch.isfinite(on_disk.encode_texts(WORDS)).all()


def test_offloaded_vision_model_gives_the_unsplit_vectors(tiny_models, tmp_path):
    whole, split = offloaded(tiny_models, tmp_path, "vit", "vision")
    assert "disk" in split.model.hf_device_map.values()
    size = whole.model.config.image_size
    pixels = torch.rand(3, 3, size, size)
    np.testing.assert_allclose(split.encode_images(pixels).numpy(), whole.encode_images(pixels).numpy(), atol=ATOL)


# --- CUDA out of memory: halve the batch and retry ------------------------------------


class OutOfMemoryAbove(HashEncoder):
    """Raises CUDA's out-of-memory error for batches larger than ``fits``."""

    def __init__(self, fits: int, error=torch.cuda.OutOfMemoryError):
        super().__init__()
        self.fits, self.error = fits, error

    def encode_texts(self, texts):
        if len(texts) > self.fits:
            raise self.error("CUDA out of memory. Tried to allocate 20.00 GiB")
        return super().encode_texts(texts)


@pytest.mark.parametrize("error", [torch.cuda.OutOfMemoryError, RuntimeError])
def test_out_of_memory_halves_the_batch_and_the_file_equals_an_uninterrupted_run(tmp_path, error):
    encoder = OutOfMemoryAbove(fits=2, error=error)
    halved = read_embeddings(extract_texts(encoder, IDS, TEXTS, tmp_path / "halved.h5", SPEC, batch_size=8))
    whole = read_embeddings(extract_texts(HashEncoder(), IDS, TEXTS, tmp_path / "whole.h5", SPEC, batch_size=8))
    at_two = HashEncoder()
    extract_texts(at_two, IDS, TEXTS, tmp_path / "two.h5", SPEC, batch_size=2)
    assert halved.ids == whole.ids == IDS
    np.testing.assert_array_equal(halved.vectors, whole.vectors)
    # Halved from the start, the parts are the batches of a run at the size that fitted.
    assert encoder.encoded == at_two.encoded
    assert (halved.attrs["batch_size"], halved.attrs["batch_size_used"]) == (8, 2)
    assert (whole.attrs["batch_size"], whole.attrs["batch_size_used"]) == (8, 8)


def test_out_of_memory_on_one_item_names_model_and_item(tmp_path):
    with pytest.raises(torch.cuda.OutOfMemoryError, match=r"model 'hash'.*one item \('s\d{3}'\).*device_map"):
        extract_texts(OutOfMemoryAbove(fits=0), IDS, TEXTS, tmp_path / "none.h5", SPEC, batch_size=8)


def test_other_runtime_errors_are_not_retried(tmp_path):
    class Broken(HashEncoder):
        def encode_texts(self, texts):
            raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        extract_texts(Broken(), IDS, TEXTS, tmp_path / "broken.h5", SPEC, batch_size=8)


def test_out_of_memory_halves_image_batches(tiny_models, shapes_dir, tmp_path, monkeypatch):
    from synesthesia.data.tables import read_table

    table = read_table(shapes_dir / "images.tsv")
    ids, paths = table["id"].tolist(), table["image"].tolist()
    encoder = load_encoder("tiny-vit", {"source": "hf", "id": str(tiny_models / "vit"), "modality": "vision"},
                           device="cpu")
    whole = read_embeddings(extract_images(encoder, ids, paths, tmp_path / "whole.h5", SPEC, batch_size=8))
    encode = encoder.encode_images_with_layers  # what extraction calls: the main vectors and any stored layers

    def fits_three(pixels):
        if len(pixels) > 3:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return encode(pixels)

    monkeypatch.setattr(encoder, "encode_images_with_layers", fits_three)
    halved = read_embeddings(extract_images(encoder, ids, paths, tmp_path / "halved.h5", SPEC, batch_size=8))
    assert halved.ids == whole.ids
    np.testing.assert_allclose(halved.vectors, whole.vectors, atol=ATOL)
    assert halved.attrs["batch_size_used"] == 2


# --- GPUs per job -----------------------------------------------------------------------


def test_gpus_set_the_embed_jobs_gpu_resource(tmp_path):
    config = {
        "embed": {"device": "auto"},
        "datasets": {"shapes": {"source": "shapes", "size": 12, "image_size": 32}},
        "models": {
            "big-opt": {"source": "hf", "id": "resources/tiny-models/opt", "tiny": "opt", "modality": "text",
                        "pooling": "eos", "gpus": 2, "device_map": "sequential"},
            "tiny-vit": {"source": "hf", "id": "resources/tiny-models/vit", "tiny": "vit", "modality": "vision"},
            "cpu-bert": {"source": "hf", "id": "resources/tiny-models/bert", "tiny": "bert", "modality": "text",
                         "device": "cpu"},
        },
        "experiments": {"retrieval": {"datasets": ["shapes"], "text_models": ["big-opt", "cpu-bert"],
                                      "vision_models": ["tiny-vit"]}},
    }
    result = run_snakemake(tmp_path, config, "-n", "--resources", "gpu=2")
    log = result.stdout + result.stderr
    planned = re.findall(r"output: results/embeddings/shapes/(\S+)\.h5\n(?:.*\n)*?\s+resources: (.*)", log)
    gpus = {model: dict(re.findall(r"(\w+)=([^,]+)", resources)).get("gpu") for model, resources in planned}
    assert gpus == {"big-opt": "2", "tiny-vit": "1", "cpu-bert": "0"}


@contextmanager
def slot_held_elsewhere(lock_dir, slot: int):
    # flock locks belong to the open file, so a second open in this process stands in for another job.
    with open(lock_dir / f"gpu-{slot}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield


def test_a_job_claims_as_many_slots_as_its_model_has_gpus(clean_env, tmp_path):
    clean_env.setenv(gpu.SLOTS_ENV, "4")
    clean_env.setenv("CUDA_VISIBLE_DEVICES", "4,5,6,7")
    with slot_held_elsewhere(tmp_path, 1):
        assert gpu.claim_gpu(tmp_path, count=2) == "4,6"
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "4,6"
    assert gpu.claim_gpu(tmp_path, count=2) == "4,6"  # a second claim keeps the first slots


def test_more_gpus_than_slots_is_refused(clean_env, tmp_path):
    clean_env.setenv(gpu.SLOTS_ENV, "1")
    with pytest.raises(RuntimeError, match="needs 2 GPUs.*--resources gpu=2"):
        gpu.claim_gpu(tmp_path, count=2)


def test_too_few_free_slots_releases_what_it_took(clean_env, tmp_path):
    clean_env.setenv(gpu.SLOTS_ENV, "2")
    with slot_held_elsewhere(tmp_path, 1):
        with pytest.raises(RuntimeError, match="only 1 of 2 GPU slots.*needs 2"):
            gpu.claim_gpu(tmp_path, count=2)
    assert gpu._held_slots == []
    assert gpu.claim_gpu(tmp_path, count=2) == "0,1"


# --- config refusals ---------------------------------------------------------------------


def with_opt(**model) -> dict:
    """The demo config with its tiny OPT entry changed (``source`` given: replaced)."""
    config = yaml.safe_load((ROOT / "demo" / "config.yaml").read_text())
    entry = config["models"]["tiny-opt"]
    config["models"]["tiny-opt"] = {"modality": "text", **model} if "source" in model else {**entry, **model}
    return config


@pytest.mark.parametrize("model, message", [
    ({"source": "open_clip", "id": "ViT-B-32", "device_map": "auto"},
     "models.tiny-opt: device_map: only hf models are spread over devices; open_clip models run on one"),
    ({"source": "open_clip", "id": "ViT-B-32", "gpus": 2},
     "models.tiny-opt: gpus: only hf models"),
    ({"gpus": 2}, "models.tiny-opt: gpus needs device_map"),
    ({"max_memory": {"cpu": "1GiB"}}, "models.tiny-opt: max_memory needs device_map"),
    ({"offload_folder": "/tmp/offload"}, "models.tiny-opt: offload_folder needs device_map"),
    ({"gpus": 1, "device": "cpu"}, "models.tiny-opt.gpus: the model runs on device cpu"),
    ({"device_map": "balanced"}, "models.tiny-opt.device_map"),
    ({"device_map": "auto", "max_memory": {"gpu0": "1GiB"}}, "models.tiny-opt.max_memory"),
    ({"gpus": 0}, "models.tiny-opt.gpus"),
])
def test_placement_refusals(model, message, tmp_path):
    with pytest.raises(ConfigError) as caught:
        validate_config(with_opt(**model), SCHEMA, root=tmp_path, missing_data="warn")
    assert message in str(caught.value)


def test_placement_is_accepted_for_hf(tmp_path):
    config = with_opt(gpus=2, device_map="sequential", max_memory={"0": "70GiB", 1: "70GiB", "cpu": 10 ** 11},
                         offload_folder="/tmp/offload")
    validated = validate_config(config, SCHEMA, root=tmp_path, missing_data="warn")
    assert validated["models"]["tiny-opt"]["gpus"] == 2
