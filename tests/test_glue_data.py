"""GLUE data: the demo's hub-shaped folder, prepare_glue's tables, and that the demo tasks are learnable."""

import datasets
import numpy as np
import pytest

from synesthesia.data.demo import make_demo_glue
from synesthesia.data.glue import prepare_glue, read_labels
from synesthesia.data.tables import read_table
from synesthesia.glue import HUB_TASKS


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    return make_demo_glue(tmp_path_factory.mktemp("glue"), seed=0)


@pytest.fixture(scope="module")
def prepared(demo_root, tmp_path_factory):
    """Every task prepared from the demo folder, through the hub's code path."""
    root = tmp_path_factory.mktemp("prepared")
    return {task: prepare_glue(root / task, task, dataset_id=str(demo_root)) for task in HUB_TASKS}


def _hub_folder(path, columns: dict, split_names=("train", "validation"), features=None):
    """A one-task folder (config ``sst2``) laid out like the hub repository."""
    for split in split_names:
        data = datasets.Dataset.from_dict(columns, features=features)
        data.to_parquet(str(path / "sst2" / f"{split}-00000-of-00001.parquet"))
    files = "".join(f"  - split: {split}\n    path: sst2/{split}-*\n" for split in split_names)
    (path / "README.md").write_text(f"---\nconfigs:\n- config_name: sst2\n  data_files:\n{files}---\n")
    return path


def test_demo_folder_loads_like_the_hub_by_config_and_by_task_folder(demo_root):
    by_config = datasets.load_dataset(str(demo_root), "mnli")
    by_folder = datasets.load_dataset(str(demo_root / "mnli"))
    expected = {"train", "validation_matched", "validation_mismatched", "test_matched", "test_mismatched"}
    assert set(by_config) == set(by_folder) == expected
    assert by_config["train"].column_names == ["premise", "hypothesis", "label", "idx"]
    assert by_config["train"].features["label"].names == ["entailment", "neutral", "contradiction"]
    assert by_config["validation_matched"]["premise"] != by_config["validation_mismatched"]["premise"]
    assert set(by_config["test_matched"]["label"]) == {-1}
    stsb = datasets.load_dataset(str(demo_root), "stsb", split="train")
    assert stsb.column_names == ["sentence1", "sentence2", "label", "idx"]
    assert stsb.features["label"].dtype == "float32"
    for task in HUB_TASKS.values():
        assert set(datasets.load_dataset(str(demo_root / task.name))) >= {"train", *task.evaluation_splits.values()}


def test_prepared_tables_have_ids_texts_pairs_and_labels(prepared):
    for task, out in prepared.items():
        text, labels = read_table(out / "text.tsv"), read_labels(out / "labels.tsv")
        pair = len(HUB_TASKS[task].text_columns) == 2
        assert list(text.columns) == (["id", "text", "text_pair"] if pair else ["id", "text"]), task
        assert list(labels.columns) == ["id", "split", "label"]
        assert text["id"].tolist() == labels["id"].tolist()
        assert set(labels["split"]) == {"train", *HUB_TASKS[task].evaluation_splits.values()}
        assert (labels["split"] == "train").sum() == 300
        assert labels["label"].dtype == (float if task == "stsb" else np.int64)
    mnli = read_labels(prepared["mnli"] / "labels.tsv")
    assert mnli["id"].iloc[0] == "train-000000" and "validation_matched-000004" in set(mnli["id"])
    assert set(mnli["label"]) == {0, 1, 2}


def test_limits_take_a_seeded_sample_in_original_order(demo_root, tmp_path):
    out = prepare_glue(tmp_path / "a", "mnli", dataset_id=str(demo_root), limit_train=50, limit_eval=7)
    labels = read_labels(out / "labels.tsv")
    assert labels["split"].value_counts().to_dict() == {"train": 50, "validation_matched": 7,
                                                        "validation_mismatched": 7}
    train_ids = labels["id"][labels["split"] == "train"].tolist()
    assert train_ids == sorted(train_ids) and train_ids != [f"train-{i:06d}" for i in range(50)]
    again = prepare_glue(tmp_path / "b", "mnli", dataset_id=str(demo_root), limit_train=50, limit_eval=7)
    assert (again / "text.tsv").read_bytes() == (out / "text.tsv").read_bytes()


def test_a_local_folder_rewritten_in_place_is_read_again(tmp_path):
    # datasets would otherwise serve its cache of the folder's first contents.
    first = prepare_glue(tmp_path / "a", "sst2", dataset_id=str(make_demo_glue(tmp_path / "glue", seed=1)))
    second = prepare_glue(tmp_path / "b", "sst2", dataset_id=str(make_demo_glue(tmp_path / "glue", seed=2)))
    assert (first / "text.tsv").read_bytes() != (second / "text.tsv").read_bytes()


def test_texts_with_tabs_quotes_and_newlines_survive_the_table(tmp_path):
    texts = ['say "hi"\tthen', "two\nlines", "", "plain"]
    folder = _hub_folder(tmp_path / "hub", {"sentence": texts, "label": [0, 1, 0, 1], "idx": [0, 1, 2, 3]})
    out = prepare_glue(tmp_path / "out", "sst2", dataset_id=str(folder))
    assert read_table(out / "text.tsv", blank_texts_allowed=True)["text"].tolist() == texts * 2


def test_stsb_labels_are_written_as_the_hub_rounds_them(demo_root, prepared):
    hub = datasets.load_dataset(str(demo_root), "stsb", split="train")
    written = read_labels(prepared["stsb"] / "labels.tsv")["label"][:5].tolist()
    assert written == [round(float(x), 2) for x in hub["label"][:5]]


def test_missing_columns_and_hidden_labels_are_refused_by_name(tmp_path):
    renamed = _hub_folder(tmp_path / "renamed", {"text": ["a"], "label": [0], "idx": [0]})
    with pytest.raises(KeyError, match=r"sst2, split train\): no column\(s\) \['sentence'\].*'text'"):
        prepare_glue(tmp_path / "out", "sst2", dataset_id=str(renamed))
    hidden = _hub_folder(tmp_path / "hidden", {"sentence": ["a"], "label": [-1], "idx": [0]})
    with pytest.raises(ValueError, match="split train.*-1"):
        prepare_glue(tmp_path / "out", "sst2", dataset_id=str(hidden))
    with pytest.raises(ValueError, match="unknown GLUE task 'sst'"):
        prepare_glue(tmp_path / "out", "sst", dataset_id=str(hidden))


def _bag_of_words(text, vocabulary):
    index = {word: i for i, word in enumerate(vocabulary)}
    features = np.zeros((len(text), 2 * len(vocabulary) + 1))
    features[:, -1] = 1.0
    for offset, column in enumerate(c for c in ("text", "text_pair") if c in text):
        for row, sentence in enumerate(text[column]):
            for word in sentence.split():
                features[row, offset * len(vocabulary) + index[word]] += 1
    return features


def test_demo_tasks_are_learnable_from_their_words(prepared):
    """A ridge probe on bag-of-words features beats chance on every demo task by a wide margin."""
    for task, out in prepared.items():
        text, labels = read_table(out / "text.tsv"), read_labels(out / "labels.tsv")
        columns = [c for c in ("text", "text_pair") if c in text]
        vocabulary = sorted({w for c in columns for sentence in text[c] for w in sentence.split()})
        features = _bag_of_words(text, vocabulary)
        train = (labels["split"] == "train").to_numpy()
        y = labels["label"].to_numpy()
        targets = y[:, None] if task == "stsb" else np.eye(y.max() + 1)[y]
        weights = np.linalg.solve(features[train].T @ features[train] + np.eye(features.shape[1]),
                                  features[train].T @ targets[train])
        predicted = features[~train] @ weights
        if task == "stsb":
            assert np.corrcoef(predicted[:, 0], y[~train])[0, 1] > 0.8
        else:
            chance = np.bincount(y[~train]).max() / (~train).sum()
            accuracy = (predicted.argmax(axis=1) == y[~train]).mean()
            assert accuracy > chance + 0.2, (task, accuracy, chance)
