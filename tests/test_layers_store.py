"""Every requested hidden state from one forward pass, stored as layers/{i}/embeddings (hf models)."""

import json
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pandas as pd
import pytest

from synesthesia.config import ConfigError, check_model_entry, resolve_layers
from synesthesia.embed import extract_texts
from synesthesia.models import load_encoder
from synesthesia.plan import model_costs
from synesthesia.store import (
    MissingLayerError,
    PartialStore,
    partial_path,
    read_embeddings,
    read_layer,
    stored_layers,
)

TEXTS = [f"a red square number {i}" + " and a blue circle" * (i % 4) for i in range(12)]
IDS = [f"s{i:02d}" for i in range(12)]
SPEC = {"model": "tiny-bert", "dataset": "toy"}
# The tiny BERT has 2 transformer layers: hidden states 0 (the embeddings), 1 and 2.
DEPTH = 2


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    from synesthesia.models.tiny import build_tiny_model

    return build_tiny_model("bert", tmp_path_factory.mktemp("tiny") / "bert")


def bert_entry(tiny_bert, **options) -> dict:
    return {"source": "hf", "id": str(tiny_bert), "modality": "text", "family": "bert", "pooling": "mean",
            **options}


def extract(tiny_bert, path, batch_size=4, **options):
    encoder = load_encoder("tiny-bert", bert_entry(tiny_bert, **options), device="cpu", dtype="float32")
    return extract_texts(encoder, IDS, TEXTS, path, {**SPEC, "model": bert_entry(tiny_bert, **options)}, batch_size)


@pytest.fixture(scope="module")
def each_layer_alone(tiny_bert, tmp_path_factory):
    """Hidden state i of every text, from a separate extraction with `layer: i`."""
    folder = tmp_path_factory.mktemp("alone")
    return {i: read_embeddings(extract(tiny_bert, folder / f"layer{i}.h5", layer=i)).vectors for i in range(DEPTH + 1)}


def test_all_layers_equal_separate_extractions_of_each_layer(tiny_bert, tmp_path, each_layer_alone):
    path = extract(tiny_bert, tmp_path / "all.h5", layers="all")
    assert stored_layers(path) == [0, 1, 2]
    with h5py.File(path) as f:
        assert sorted(f["layers"]) == ["0", "1", "2"]
        assert f.attrs["store_dtype"] == "float32" and json.loads(f.attrs["layers"]) == [0, 1, 2]
    for i in range(DEPTH + 1):
        layer = read_layer(path, i)
        assert layer.ids == IDS and layer.vectors.dtype == np.float32 and layer.attrs["layer"] == i
        np.testing.assert_allclose(layer.vectors, each_layer_alone[i], atol=1e-6)
    # The main vectors stay the entry's own (no `layer`: the model's output, here hidden state 2).
    main = read_embeddings(path)
    assert main.attrs["layer"] == "last"
    np.testing.assert_allclose(main.vectors, each_layer_alone[DEPTH], atol=1e-6)
    # Layers 0 and 2 differ: the store did not write one array three times.
    assert np.abs(read_layer(path, 0).vectors - read_layer(path, 2).vectors).max() > 1e-3


def test_a_list_resolves_negative_indices_and_stores_those_layers_only(tiny_bert, tmp_path, each_layer_alone):
    path = extract(tiny_bert, tmp_path / "ends.h5", layers=[0, -1])
    assert stored_layers(path) == [0, 2]  # -1 of hidden states 0..2 is 2
    np.testing.assert_allclose(read_layer(path, 2).vectors, each_layer_alone[2], atol=1e-6)
    np.testing.assert_allclose(read_layer(path, 0).vectors, each_layer_alone[0], atol=1e-6)
    with pytest.raises(MissingLayerError, match=r"ends\.h5.*'tiny-bert'.*no layer 1.*\[0, 2\]"):
        read_layer(path, 1)
    assert resolve_layers("m", {"id": "x", "layers": [-1, 2, -3]}, DEPTH) == [0, 2]


def test_float16_layers_are_stored_as_float16_and_read_as_float32(tiny_bert, tmp_path, each_layer_alone):
    path = extract(tiny_bert, tmp_path / "half.h5", layers="all", store_dtype="float16")
    with h5py.File(path) as f:
        assert f["layers/1/embeddings"].dtype == np.float16 and f["embeddings"].dtype == np.float32
        assert f.attrs["store_dtype"] == "float16"
    for i in range(DEPTH + 1):
        vectors = read_layer(path, i).vectors
        assert vectors.dtype == np.float32
        np.testing.assert_allclose(vectors, each_layer_alone[i], atol=1e-3)
    # The main vectors are float32 as always.
    np.testing.assert_array_equal(read_embeddings(path).vectors, read_embeddings(
        extract(tiny_bert, tmp_path / "half-main.h5", layers="all")).vectors)


def test_without_layers_the_store_has_no_layers_group_or_attrs(tiny_bert, tmp_path):
    for name, options in (("plain", {}), ("last", {"layers": "last"})):
        path = extract(tiny_bert, tmp_path / f"{name}.h5", **options)
        with h5py.File(path) as f:
            assert sorted(f) == ["embeddings", "ids"]
            assert "layers" not in f.attrs and "store_dtype" not in f.attrs
        assert stored_layers(path) == []


def test_killed_extraction_with_layers_resumes_to_the_uninterrupted_file(tiny_bert, tmp_path):
    whole = tmp_path / "whole.h5"
    extract(tiny_bert, whole, layers="all")
    out = tmp_path / "resumed.h5"
    # The third batch is killed mid-job, after two batches of every array were flushed.
    script = textwrap.dedent(f"""
        import os, signal
        from synesthesia.embed import extract_texts
        from synesthesia.models import load_encoder
        entry = {bert_entry(tiny_bert, layers="all")!r}
        encoder = load_encoder("tiny-bert", entry, device="cpu", dtype="float32")
        encode, calls = encoder.encode_texts_with_layers, []
        def dying(*args):
            if len(calls) == 2:
                os.kill(os.getpid(), signal.SIGKILL)
            calls.append(1)
            return encode(*args)
        encoder.encode_texts_with_layers = dying
        extract_texts(encoder, {IDS!r}, {TEXTS!r}, {str(out)!r}, {{**{SPEC!r}, "model": entry}}, 4)
    """)
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr
    with h5py.File(partial_path(out)) as f:
        assert int(f["done"][:].sum()) == 8 and np.isfinite(f["layers/0/units"][:]).all(axis=1).sum() == 8

    encoder = load_encoder("tiny-bert", bert_entry(tiny_bert, layers="all"), device="cpu", dtype="float32")
    encoded = []
    encode = encoder.encode_texts_with_layers
    encoder.encode_texts_with_layers = lambda *args: encoded.append(len(args[0])) or encode(*args)
    extract_texts(encoder, IDS, TEXTS, out, {**SPEC, "model": bert_entry(tiny_bert, layers="all")}, 4)
    assert sum(encoded) == 4  # only the last batch of 12 texts in batches of 4
    for i in (None, 0, 1, 2):
        got, want = ((read_embeddings(p) if i is None else read_layer(p, i)) for p in (out, whole))
        np.testing.assert_array_equal(got.vectors, want.vectors)
        assert got.ids == want.ids
    assert read_embeddings(out).attrs == read_embeddings(whole).attrs


def test_a_unit_whose_layer_row_was_lost_is_redone(tmp_path):
    """A unit is done only when every array holds it: a lost layer row alone makes it undone."""
    path = tmp_path / "store.h5"
    store = PartialStore(path, ["a", "b"], {"k": 1}, log=lambda message: None, layers=[0, 3])
    store.write(np.array([0, 1]), np.ones((2, 2)), {0: np.ones((2, 2), np.float16), 3: np.full((2, 2), 2.0)})
    store.file["layers/3/units"][1] = np.nan  # as a write that never reached the disk reads back
    store.close()
    resumed = PartialStore(path, ["a", "b"], {"k": 1}, log=lambda message: None, layers=[0, 3])
    assert resumed.done_mask().tolist() == [True, False]
    with pytest.raises(ValueError, match=r"layers \[0\] given, the store holds layers \[0, 3\]"):
        resumed.write(np.array([1]), np.ones((1, 2)), {0: np.ones((1, 2))})
    resumed.write(np.array([1]), np.ones((1, 2)), {0: np.ones((1, 2), np.float16), 3: np.full((1, 2), 2.0)})
    final = resumed.finalize({"model": "m"})
    assert read_layer(final, 3).vectors.tolist() == [[2.0, 2.0], [2.0, 2.0]]
    with h5py.File(final) as f:
        assert f["layers/0/embeddings"].dtype == np.float16 and f.attrs["store_dtype"] == "float16"


def test_layers_of_occurrences_store_items_and_their_means(tmp_path):
    # Units 0 and 2 belong to id "a", unit 1 to "b": each layer's row is the mean of its owner's units.
    path = tmp_path / "items.h5"
    store = PartialStore(path, ["a", "b"], {"k": 1}, owners=[0, 1, 0], log=lambda message: None, layers=[1])
    units = np.array([[1.0, 2.0], [5.0, 5.0], [3.0, 6.0]], np.float32)
    store.write(np.arange(3), units, {1: 10 * units})
    read = read_layer(store.finalize({"model": "m"}), 1, items=True)
    assert read.vectors.tolist() == [[20.0, 40.0], [50.0, 50.0]]  # (10 + 30) / 2, (20 + 60) / 2
    assert read.items.tolist() == (10 * units).tolist() and read.owner.tolist() == [0, 1, 0]


def test_words_in_context_give_each_layer_as_a_separate_extraction(tiny_bert):
    texts, spans = ["a red square", "the blue circle here"], [(2, 5), (9, 15)]
    both = load_encoder("tiny-bert", bert_entry(tiny_bert, layers=[1, 2]), device="cpu", dtype="float32")
    main, by_layer = both.encode_spans_with_layers(texts, spans)
    assert sorted(by_layer) == [1, 2]
    for i in (1, 2):
        alone = load_encoder("tiny-bert", bert_entry(tiny_bert, layer=i), device="cpu", dtype="float32")
        np.testing.assert_allclose(by_layer[i].numpy(), alone.encode_spans(texts, spans).numpy(), atol=1e-6)
    np.testing.assert_allclose(main.numpy(), by_layer[2].numpy(), atol=1e-6)


def test_an_index_out_of_range_is_refused_naming_the_model(tiny_bert):
    bert_config = {"model_type": "bert", "num_hidden_layers": DEPTH}
    entry = bert_entry(tiny_bert, layers=[0, 3])
    with pytest.raises(ConfigError, match=r"models\.wide\.layers: \[3\] out of range.*-3\.\.2"):
        check_model_entry("wide", entry, bert_config)  # at plan time, with config.json on disk
    with pytest.raises(ConfigError, match=r"models\.wide\.layers: \[3\] out of range"):
        load_encoder("wide", entry, device="cpu", dtype="float32")  # at load time
    check_model_entry("wide", bert_entry(tiny_bert, layers=[-3, 2]), bert_config)


@pytest.mark.parametrize("source", ["open_clip", "timm", "torchvision"])
def test_other_sources_refuse_layers_but_accept_last(source):
    entry = {"source": source, "id": "resnet18", "modality": "vision"}
    with pytest.raises(ConfigError, match=rf"models\.rn\.layers: {source} models are read at their output only"):
        check_model_entry("rn", {**entry, "layers": "all"}, None)
    check_model_entry("rn", {**entry, "layers": "last"}, None)


def test_pooling_only_the_last_layer_has_and_a_store_dtype_without_layers_are_refused(tiny_bert):
    clip = {"source": "hf", "id": "openai/clip-vit-base-patch32", "modality": "text", "family": "clip"}
    with pytest.raises(ConfigError, match=r"models\.clip\.layers: pooling 'projection' exists only at the last"):
        check_model_entry("clip", {**clip, "pooling": "projection", "layers": "all"}, None)
    with pytest.raises(ConfigError, match=r"models\.bert\.store_dtype: applies to the arrays of `layers` only"):
        check_model_entry("bert", bert_entry(tiny_bert, store_dtype="float16"), None)


def test_the_plan_counts_layers_times_rows_times_dim_times_bytes(tiny_bert, tmp_path):
    table = tmp_path / "data/a/text.tsv"
    table.parent.mkdir(parents=True)
    table.write_text("id\ttext\n" + "".join(f"{i}\tx\n" for i in range(100)))
    models = {"plain": bert_entry(tiny_bert), "all16": bert_entry(tiny_bert, layers="all", store_dtype="float16"),
              "two": bert_entry(tiny_bert, layers=[0, -1])}
    config = {"models": {name: {**entry, "device": "cpu"} for name, entry in models.items()},
              "embed": {"device": "cpu", "dtype": "auto", "batch_size": 8}}
    jobs = pd.DataFrame({"dataset": "a", "model": list(models), "would_run": True})
    costs, _ = model_costs(jobs, config, tmp_path, footprint=lambda model, entry: (1_000, 32))
    disk = costs.set_index("model")["disk_gb"]
    assert disk["plain"] == pytest.approx(100 * 32 * 4 / 1e9)
    assert disk["all16"] == pytest.approx((100 * 32 * 4 + 3 * 100 * 32 * 2) / 1e9)  # 3 float16 layers
    assert disk["two"] == pytest.approx((100 * 32 * 4 + 2 * 100 * 32 * 4) / 1e9)


@pytest.mark.parametrize("layers, refused", [("all", False), ("last", False), ([0, -1], False), ("first", True),
                                             ([], True), ([1.5], True)])
def test_the_schema_takes_all_last_or_a_list_of_indices_and_adds_no_default(tmp_path, layers, refused):
    import yaml
    from conftest import ROOT, SCHEMA

    from synesthesia.config import validate_config

    config = yaml.safe_load((ROOT / "demo/config.yaml").read_text())
    config["models"]["tiny-bert"]["layers"] = layers
    if refused:
        with pytest.raises(ConfigError, match=r"models\.tiny-bert\.layers"):
            validate_config(config, SCHEMA, root=tmp_path, missing_data="warn")
        return
    validated = validate_config(config, SCHEMA, root=tmp_path, missing_data="warn")
    assert validated["models"]["tiny-bert"]["layers"] == layers
    # Entries without `layers` or `store_dtype` keep their params: no default is filled in.
    assert "layers" not in validated["models"]["minilm"] and "store_dtype" not in validated["models"]["minilm"]
