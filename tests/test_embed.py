import hashlib
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from synesthesia.embed import extract_images, extract_texts, length_batches
from synesthesia.models.base import Encoder
from synesthesia.store import partial_path, read_embeddings


class HashEncoder(Encoder):
    """Deterministic text vectors from a hash; counts what it encodes; can die after some batches."""

    def __init__(self, die_after_batches=None):
        self.die_after_batches = die_after_batches
        self.encoded = []
        super().__init__("hash", {"source": "hf", "id": "hash", "modality": "text"}, device="cpu")

    def _load(self):
        self.max_length = 6
        self.model = torch.nn.Linear(16, 16)

    def default_pooling(self):
        return "mean"

    def token_lengths(self, texts, text_pairs=None):
        return np.array([len(t.split()) for t in texts])

    def encode_texts(self, texts):
        if self.die_after_batches is not None and len(self.encoded) == self.die_after_batches:
            import os
            import signal

            os.kill(os.getpid(), signal.SIGKILL)
        self.encoded.append(list(texts))
        digests = [np.frombuffer(hashlib.sha256(t.encode()).digest()[:16], dtype=np.uint8) for t in texts]
        return torch.tensor(np.stack(digests), dtype=torch.float32)


TEXTS = [" ".join(["word"] * (1 + i % 9)) + f" {i}" for i in range(40)]
IDS = [f"s{i:03d}" for i in range(40)]
SPEC = {"model": "hash", "dataset": "toy"}


def test_length_batches_group_similar_lengths_and_cover_everything():
    lengths = [5, 1, 9, 3, 9, 1]
    batches = length_batches(lengths, 2)
    assert [sorted(np.asarray(lengths)[b].tolist()) for b in batches] == [[9, 9], [3, 5], [1, 1]]
    assert sorted(np.concatenate(batches).tolist()) == list(range(6))


def test_text_rows_follow_ids_not_batch_order(tmp_path):
    encoder = HashEncoder()
    path = extract_texts(encoder, IDS, TEXTS, tmp_path / "hash.h5", SPEC, batch_size=8)
    got = read_embeddings(path)
    reference = HashEncoder().encode_texts(TEXTS).numpy()
    np.testing.assert_array_equal(got.vectors, reference)
    assert got.attrs["truncated"] == sum(len(t.split()) > 6 for t in TEXTS)
    assert got.attrs["pooling"] == "mean" and got.attrs["dataset"] == "toy"


def test_killed_extraction_resumes_and_ends_with_the_uninterrupted_file(tmp_path):
    whole = read_embeddings(extract_texts(HashEncoder(), IDS, TEXTS, tmp_path / "whole.h5", SPEC, 8))

    out = tmp_path / "resumed.h5"
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_embed import HashEncoder, IDS, TEXTS, SPEC
        from synesthesia.embed import extract_texts
        extract_texts(HashEncoder(die_after_batches=3), IDS, TEXTS, {str(out)!r}, SPEC, 8)
    """)
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr
    assert partial_path(out).exists() and not out.exists()

    encoder = HashEncoder()
    resumed = read_embeddings(extract_texts(encoder, IDS, TEXTS, out, SPEC, 8))
    assert sum(len(batch) for batch in encoder.encoded) == len(TEXTS) - 3 * 8
    np.testing.assert_array_equal(resumed.vectors, whole.vectors)
    assert resumed.ids == whole.ids and resumed.attrs == whole.attrs


def test_non_finite_vectors_stop_extraction_naming_model_and_item(tmp_path):
    class NaNEncoder(HashEncoder):
        def encode_texts(self, texts):
            vectors = super().encode_texts(texts)
            vectors[[i for i, t in enumerate(texts) if t.endswith(" 7")]] = float("nan")
            return vectors

    with pytest.raises(FloatingPointError, match=r"'hash'.*'s007'"):
        extract_texts(NaNEncoder(), IDS, TEXTS, tmp_path / "nan.h5", SPEC, 8)


def test_images_are_embedded_in_file_order_by_workers(tmp_path, shapes_dir, tiny_models):
    from synesthesia.data.tables import read_table
    from synesthesia.models import load_encoder

    table = read_table(shapes_dir / "images.tsv")
    encoder = load_encoder("tiny-vit", {"source": "hf", "id": str(tiny_models / "vit"), "modality": "vision",
                                        "pooling": "cls"})
    path = extract_images(encoder, table["id"].tolist(), table["image"].tolist(), tmp_path / "vit.h5",
                          SPEC, batch_size=5, workers=2)
    got = read_embeddings(path)
    from PIL import Image

    transform = encoder.image_transform()
    one = encoder.encode_images(torch.stack([transform(Image.open(table["image"][7]))])).numpy()
    np.testing.assert_allclose(got.vectors[7], one[0], atol=1e-5)
    assert got.ids == table["id"].tolist()
