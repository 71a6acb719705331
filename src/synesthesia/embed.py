"""Batched extraction of embeddings into the HDF5 store, resumable after a kill."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from tqdm import tqdm

from .models.base import Encoder
from .store import PartialStore
from .versions import EMBED_VERSION


log = logging.getLogger(__name__)


class NonFiniteEmbeddingError(FloatingPointError):
    pass


def length_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Index batches of similar token length (longest first), so little padding is computed.

    The plan depends only on the lengths and batch size, so a resumed run
    rebuilds exactly the batches of the interrupted one.
    """
    order = np.argsort(-np.asarray(lengths), kind="stable")
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


def sequential_batches(n: int, batch_size: int) -> list[np.ndarray]:
    return [np.arange(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]


def check_finite(vectors: torch.Tensor, model: str, item_ids: Sequence[str]) -> None:
    bad = ~torch.isfinite(vectors).all(dim=1)
    if bool(bad.any()):
        first = item_ids[int(bad.nonzero()[0])]
        raise NonFiniteEmbeddingError(
            f"model {model!r} produced non-finite vectors for {int(bad.sum())} items (first: {first!r}); "
            "with float16 this is usually an overflow: use dtype bfloat16 or float32"
        )


def _progress(total: int, done: int, desc: str):
    # mininterval keeps job logs short when tqdm writes to a file instead of a terminal.
    return tqdm(total=total, initial=done, desc=desc, unit="item", mininterval=10, miniters=1)


def extract_texts(
    encoder: Encoder,
    ids: Sequence[str],
    texts: Sequence[str],
    out: str | Path,
    spec: dict,
    batch_size: int,
    owners: Sequence[int] | None = None,
    spans: Sequence[tuple[int, int]] | None = None,
    text_pairs: Sequence[str] | None = None,
) -> Path:
    """Embed ``texts`` (one per unit; per-occurrence items when ``owners`` is given).

    With ``spans`` (character start and end of a word in each text) each vector
    pools the word's own tokens in its context instead of the whole text. With
    ``text_pairs`` each unit is a sentence pair in the encoder's native pair input.
    """
    store = PartialStore(out, ids, spec, owners=owners, log=log.info)
    try:
        lengths = encoder.token_lengths(texts, text_pairs)
        truncated = int((lengths > encoder.max_length).sum())
        if truncated:
            log.warning("%s: %d of %d texts exceed %d tokens and are truncated",
                        encoder.name, truncated, len(texts), encoder.max_length)
        done = store.done_mask()
        batches = [b for b in length_batches(lengths, batch_size) if not done[b].all()]
        unit_ids = list(ids) if owners is None else [ids[o] for o in owners]
        with _progress(len(texts), int(done.sum()), f"embed {encoder.name}") as bar:
            for batch in batches:
                batch_texts = [texts[i] for i in batch]
                if spans is not None:
                    vectors = encoder.encode_spans(batch_texts, [spans[i] for i in batch])
                elif text_pairs is not None:
                    vectors = encoder.encode_texts(batch_texts, [text_pairs[i] for i in batch])
                else:
                    vectors = encoder.encode_texts(batch_texts)
                check_finite(vectors, encoder.name, [unit_ids[i] for i in batch])
                store.write(batch, vectors.numpy())
                bar.update(len(batch))
        attrs = {**encoder.provenance(), **_spec_attrs(spec), "max_length": encoder.max_length,
                 "truncated": truncated, "n_units": len(texts)}
        if spans is not None:
            attrs["word_pooling"] = encoder.word_pooling
        return store.finalize(attrs)
    finally:
        store.close()


class _ImageDataset(torch.utils.data.Dataset):
    def __init__(self, paths: Sequence[str], transform, dataset: str | None = None):
        self.paths, self.transform, self.dataset = list(paths), transform, dataset

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        from .images import load_image

        return index, self.transform(load_image(self.paths[index], self.dataset))


def extract_images(
    encoder: Encoder,
    ids: Sequence[str],
    paths: Sequence[str],
    out: str | Path,
    spec: dict,
    batch_size: int,
    workers: int = 0,
    owners: Sequence[int] | None = None,
) -> Path:
    """Embed images, decoded by ``workers`` DataLoader processes, in file order."""
    store = PartialStore(out, ids, spec, owners=owners, log=log.info)
    try:
        done = store.done_mask()
        todo = [b for b in sequential_batches(len(paths), batch_size) if not done[b].all()]
        unit_ids = list(ids) if owners is None else [ids[o] for o in owners]
        loader = torch.utils.data.DataLoader(
            _ImageDataset(paths, encoder.image_transform(), spec.get("dataset")),
            batch_sampler=[b.tolist() for b in todo],
            num_workers=workers,
        )
        with _progress(len(paths), int(done.sum()), f"embed {encoder.name}") as bar:
            for index, pixels in loader:
                vectors = encoder.encode_images(pixels)
                check_finite(vectors, encoder.name, [unit_ids[i] for i in index.tolist()])
                store.write(index.numpy(), vectors.numpy())
                bar.update(len(index))
        attrs = {**encoder.provenance(), **_spec_attrs(spec), "n_units": len(paths)}
        return store.finalize(attrs)
    finally:
        store.close()


def _spec_attrs(spec: dict) -> dict:
    return {"dataset": spec.get("dataset", ""), "dataset_hash": spec.get("dataset_hash", ""),
            "embed_version": EMBED_VERSION}


def embed_dataset(table: str | Path, out: str | Path, model: str, spec: dict, dataset: str,
                  workers: int = 0, occurrences_allowed: bool = False, blank_texts_allowed: bool = False) -> Path:
    """Embed a prepared dataset's text table (text model) or image table (vision model) with one model.

    ``occurrences_allowed`` (a concept dataset) and ``blank_texts_allowed`` (GLUE): see ``read_table``.
    """
    from .data.tables import occurrences, read_table, table_hash
    from .models import load_encoder

    rows = read_table(table, occurrences_allowed, blank_texts_allowed)
    ids, owners = occurrences(rows)
    encoder = load_encoder(model, spec, device=spec.get("device", "auto"), dtype=spec.get("dtype", "auto"))
    log.info("%s: %d ids, %d rows of %s on %s in %s", model, len(ids), len(rows), dataset, encoder.device,
             encoder.dtype)
    store_spec = {"model": spec, "dataset": dataset, "dataset_hash": table_hash(table), "embed_version": EMBED_VERSION}
    if encoder.modality == "text":
        spans = list(zip(rows["start"], rows["end"])) if "start" in rows else None
        pairs = rows["text_pair"].tolist() if "text_pair" in rows else None
        return extract_texts(encoder, ids, rows["text"].tolist(), out, store_spec, spec["batch_size"], owners,
                             spans, pairs)
    return extract_images(encoder, ids, rows["image"].tolist(), out, store_spec, spec["batch_size"], workers, owners)
