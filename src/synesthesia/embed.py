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


def check_finite(vectors: torch.Tensor, model: str, item_ids: Sequence[str], layer: int | None = None) -> None:
    bad = ~torch.isfinite(vectors).all(dim=1)
    if bool(bad.any()):
        first = item_ids[int(bad.nonzero()[0])]
        at_layer = "" if layer is None else f" at layer {layer}"
        raise NonFiniteEmbeddingError(
            f"model {model!r} produced non-finite vectors{at_layer} for {int(bad.sum())} items (first: {first!r}); "
            "with float16 this is usually an overflow: use dtype bfloat16 or float32"
        )


def layer_arrays(encoder: Encoder, layer_vectors: dict[int, torch.Tensor], item_ids: Sequence[str]
                 ) -> dict[int, np.ndarray]:
    """Each stored layer's vectors, checked finite, in the entry's ``store_dtype`` (float32 unless set)."""
    store_dtype = np.dtype(encoder.entry.get("store_dtype", "float32"))
    arrays = {}
    for index, vectors in layer_vectors.items():
        check_finite(vectors, encoder.name, item_ids, layer=index)
        on_disk = vectors.numpy().astype(store_dtype)
        # float16 tops out at 65504: a large LM's hidden states can exceed it where float32 holds them.
        beyond = ~np.isfinite(on_disk).all(axis=1)
        if beyond.any():
            raise NonFiniteEmbeddingError(
                f"model {encoder.name!r}: layer {index} has values beyond the {store_dtype} range for "
                f"{int(beyond.sum())} items (first: {item_ids[int(np.flatnonzero(beyond)[0])]!r}); "
                "set store_dtype float32 in the model entry"
            )
        arrays[index] = on_disk
    return arrays


def is_out_of_memory(error: BaseException) -> bool:
    return isinstance(error, torch.cuda.OutOfMemoryError) or (
        isinstance(error, RuntimeError) and "out of memory" in str(error))


class FittingBatches:
    """Encodes each planned batch in parts of the largest size that fitted in GPU memory so far.

    A CUDA out-of-memory error halves that size and retries the part, down to one item. Parts are
    consecutive slices of the planned batch, so every item keeps its row and, with the size halved
    from the start, the parts are the batches an uninterrupted run at the smaller size makes.
    """

    def __init__(self, model: str, batch_size: int):
        self.model, self.configured, self.size = model, batch_size, batch_size

    def parts(self, encode, item_ids: Sequence[str]):
        """Yield (part, ``encode(part)``) for slices ``part`` covering the batch of ``item_ids``."""
        start = 0
        while start < len(item_ids):
            part = slice(start, min(start + self.size, len(item_ids)))
            try:
                vectors = encode(part)
            except RuntimeError as error:
                if not is_out_of_memory(error):
                    raise
                if part.stop - part.start == 1:
                    raise torch.cuda.OutOfMemoryError(
                        f"model {self.model!r} runs out of GPU memory on one item ({item_ids[start]!r}) alone: "
                        "spread it over more GPUs (gpus, device_map) or offload part of it (max_memory, "
                        f"offload_folder); {(str(error).strip().splitlines() or [''])[0]}") from error
                vectors = None
            if vectors is None:
                self.size = (part.stop - part.start) // 2
                log.warning("%s: out of GPU memory at batch size %d; retrying at %d",
                            self.model, part.stop - part.start, self.size)
                # After the handler, so the failed try's tensors (held by its traceback) are freed.
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                continue
            yield part, vectors
            start = part.stop

    def attrs(self) -> dict:
        if self.size < self.configured:
            log.warning("%s: batch size %d used instead of the configured %d (GPU memory)",
                        self.model, self.size, self.configured)
        return {"batch_size": self.configured, "batch_size_used": self.size}


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
    store = PartialStore(out, ids, spec, owners=owners, log=log.info, layers=encoder.stored_layers)
    try:
        lengths = encoder.token_lengths(texts, text_pairs)
        truncated = int((lengths > encoder.max_length).sum())
        if truncated:
            log.warning("%s: %d of %d texts exceed %d tokens and are truncated",
                        encoder.name, truncated, len(texts), encoder.max_length)
        done = store.done_mask()
        batches = [b for b in length_batches(lengths, batch_size) if not done[b].all()]
        unit_ids = list(ids) if owners is None else [ids[o] for o in owners]

        def encode(units: np.ndarray) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
            unit_texts = [texts[i] for i in units]
            if spans is not None:
                return encoder.encode_spans_with_layers(unit_texts, [spans[i] for i in units])
            if text_pairs is not None:
                return encoder.encode_texts_with_layers(unit_texts, [text_pairs[i] for i in units])
            return encoder.encode_texts_with_layers(unit_texts)

        fitting = FittingBatches(encoder.name, batch_size)
        with _progress(len(texts), int(done.sum()), f"embed {encoder.name}") as bar:
            for batch in batches:
                batch_ids = [unit_ids[i] for i in batch]
                for part, (vectors, by_layer) in fitting.parts(lambda part, batch=batch: encode(batch[part]),
                                                               batch_ids):
                    check_finite(vectors, encoder.name, batch_ids[part])
                    store.write(batch[part], vectors.numpy(), layer_arrays(encoder, by_layer, batch_ids[part]))
                    bar.update(len(vectors))
        attrs = {**encoder.provenance(), **_spec_attrs(spec), **fitting.attrs(), "max_length": encoder.max_length,
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
    store = PartialStore(out, ids, spec, owners=owners, log=log.info, layers=encoder.stored_layers)
    try:
        done = store.done_mask()
        todo = [b for b in sequential_batches(len(paths), batch_size) if not done[b].all()]
        unit_ids = list(ids) if owners is None else [ids[o] for o in owners]
        loader = torch.utils.data.DataLoader(
            _ImageDataset(paths, encoder.image_transform(), spec.get("dataset")),
            batch_sampler=[b.tolist() for b in todo],
            num_workers=workers,
        )
        fitting = FittingBatches(encoder.name, batch_size)
        with _progress(len(paths), int(done.sum()), f"embed {encoder.name}") as bar:
            for index, pixels in loader:
                batch, batch_ids = index.numpy(), [unit_ids[i] for i in index.tolist()]
                for part, (vectors, by_layer) in fitting.parts(
                        lambda part, pixels=pixels: encoder.encode_images_with_layers(pixels[part]), batch_ids):
                    check_finite(vectors, encoder.name, batch_ids[part])
                    store.write(batch[part], vectors.numpy(), layer_arrays(encoder, by_layer, batch_ids[part]))
                    bar.update(len(vectors))
        attrs = {**encoder.provenance(), **_spec_attrs(spec), **fitting.attrs(), "n_units": len(paths)}
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
