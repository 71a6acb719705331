"""GLUE's nine tasks (:mod:`synesthesia.glue`), prepared into a text table and a label table per task.

Real runs read ``nyu-mll/glue`` with ``datasets.load_dataset(dataset_id, task)``.
``dataset_id`` may also be a local folder laid out like the hub repository (a
``README.md`` whose ``configs`` name each task's split files, as a clone of
``nyu-mll/glue`` has); :func:`make_demo_glue` writes such a folder, so the demo
goes through the same call.

:func:`prepare_glue` writes into its output folder:

- ``text.tsv``: ``id``, ``text`` and, for sentence-pair tasks, ``text_pair``; one
  row per example of the training split and of each evaluation split, ids
  ``<split>-<row in split>`` (``train-000123``, ``validation_matched-000004``);
- ``labels.tsv``: ``id``, ``split``, ``label`` (the hub's class index, or STS-B's
  float similarity in [0, 5]).

The evaluation splits are those the task's evaluation sets read: the validation
split, or MNLI's matched and mismatched ones, which share its training split.
"""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd

from ..glue import HUB_TASKS, TRAIN_SPLIT, GlueTask, hub_task
from .shapes import COLORS, POSITIONS, SHAPES, SIZES
from .tables import TEXT, write_table

LABELS = "labels.tsv"
HUB_ID = "nyu-mll/glue"
LABEL_COLUMN = "label"
# A subset (limit_train / limit_eval) is a seeded sample of the split, not its first
# rows: some GLUE splits are ordered by source, so a prefix would be biased.
SUBSET_SEED = 0

def example_id(split: str, row: int) -> str:
    return f"{split}-{row:06d}"


def subset_rows(n_rows: int, limit: int | None) -> list[int]:
    """All rows, or a seeded sample of ``limit`` rows kept in their original order."""
    if limit is None or limit >= n_rows:
        return list(range(n_rows))
    return sorted(random.Random(SUBSET_SEED).sample(range(n_rows), limit))


def split_frame(dataset_id: str, task: str, split: str, limit: int | None, revision: str | None) -> pd.DataFrame:
    """One split's text columns and label, with ids, checked for hidden (-1) or missing labels."""
    from .hub import load_hub_dataset

    data = load_hub_dataset(dataset_id, task, split=split, revision=revision)
    columns = [*hub_task(task).text_columns, LABEL_COLUMN]
    missing = [column for column in columns if column not in data.column_names]
    if missing:
        raise KeyError(f"dataset {dataset_id} ({task}, split {split}): no column(s) {missing}; "
                       f"columns are {data.column_names}")
    rows = subset_rows(len(data), limit)
    frame = data.select(rows).select_columns(columns).to_pandas()
    labels = frame[LABEL_COLUMN].astype(float)
    if labels.isna().any() or (labels < 0).any():  # every GLUE label is a class index or a score >= 0
        raise ValueError(f"dataset {dataset_id} ({task}, split {split}): some labels are missing or -1 "
                         "(hidden, as in GLUE's test splits); evaluate on a labelled split")
    frame.insert(0, "id", [example_id(split, row) for row in rows])
    frame.insert(1, "split", split)
    return frame


def prepare_glue(out_dir: str | Path, task: str, dataset_id: str = HUB_ID, limit_train: int | None = None,
                 limit_eval: int | None = None, revision: str | None = None) -> Path:
    """Write a task's ``text.tsv`` and ``labels.tsv`` (training split, then each evaluation split)."""
    spec = hub_task(task)
    limits = {TRAIN_SPLIT: limit_train} | {split: limit_eval for split in spec.evaluation_splits.values()}
    frame = pd.concat([split_frame(dataset_id, task, split, limit, revision) for split, limit in limits.items()],
                      ignore_index=True)
    names = dict(zip(spec.text_columns, ("text", "text_pair")))
    text = frame[["id", *names]].rename(columns=names)
    labels = frame[["id", "split", LABEL_COLUMN]].copy()
    # STS-B's labels are float32 on the hub: rounding writes 3.8, not 3.799999952316284.
    labels[LABEL_COLUMN] = (labels[LABEL_COLUMN].astype(float).round(6) if spec.is_regression
                            else labels[LABEL_COLUMN].astype(int))
    out_dir = Path(out_dir)
    write_table(out_dir / TEXT, text)
    write_table(out_dir / LABELS, labels)
    return out_dir


def read_labels(path: str | Path) -> pd.DataFrame:
    """``labels.tsv`` with ids as strings and labels as numbers."""
    path = Path(path)
    table = pd.read_csv(path, sep="\t", dtype={"id": str, "split": str}, keep_default_na=False)
    missing = {"id", "split", "label"} - set(table.columns)
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)}; expected id, split, label")
    return table


# --- The demo's GLUE-shaped datasets --------------------------------------------------------
#
# Template sentences about the demo's coloured shapes. Each task's label shows in its
# words, as annotation artefacts do in the real tasks (negation words mark MNLI
# contradictions), so a linear probe on any reasonable sentence embedding beats chance.

DEMO_SPLIT_SIZES = {"train": 300, "validation": 60, "test": 20}
# Some labels are redrawn at random, as annotators disagree: scores then stay below 1.
DEMO_LABEL_NOISE = 0.1


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _shape(rng: random.Random) -> dict[str, str]:
    return {"colour": rng.choice(list(COLORS)), "shape": rng.choice(SHAPES), "size": rng.choice(list(SIZES)),
            "position": rng.choice(list(POSITIONS))}


def _describe(rng: random.Random, s: dict[str, str]) -> str:
    return rng.choice((
        "{a_size} {size} {colour} {shape} is on the {position} .",
        "there is {a_colour} {colour} {shape} on the {position} .",
        "the {shape} on the {position} is {colour} and {size} .",
        "on the {position} , {a_colour} {colour} {shape} can be seen .",
    )).format(a_size=_article(s["size"]), a_colour=_article(s["colour"]), **s)


# Ungrammatical versions of a sentence: agreement, a missing preposition, a missing verb.
_COLA_BREAKS = ((" is ", " are "), (" on the ", " the "), (" can be seen", " can seen"))


def _cola(rng, label, _variant):
    sentence = _describe(rng, _shape(rng))
    if label == 1:
        return {"sentence": sentence}
    old, new = rng.choice([pair for pair in _COLA_BREAKS if pair[0] in sentence])
    return {"sentence": sentence.replace(old, new, 1)}


def _sst2(rng, label, _variant):
    word = rng.choice(("beautiful", "wonderful", "delightful", "lovely") if label
                      else ("ugly", "awful", "boring", "dreadful"))
    template = rng.choice((
        "i find the {shape} on the {position} {word} .",
        "what {a} {word} {size} {shape} !",
        "the {colour} {shape} looks {word} .",
        "{a} {word} {colour} {shape} , really .",
    ))
    return {"sentence": template.format(word=word, a=_article(word), **_shape(rng))}


def _mrpc(rng, label, _variant):
    s = _shape(rng)
    other = _shape(rng)
    second = _describe(rng, s)
    if not label:  # Adds a claim the first sentence does not make: not a paraphrase.
        second = second[:-2] + f" , next to {_article(other['colour'])} {other['colour']} {other['shape']} ."
    return {"sentence1": _describe(rng, s), "sentence2": second}


def _qqp(rng, label, _variant):
    s = _shape(rng)
    colour_questions = ("what colour is the {shape} on the {position} ?",
                        "which colour does the {shape} on the {position} have ?",
                        "can you tell me the colour of the {shape} on the {position} ?")
    other_questions = ("how big is the {shape} on the {position} ?", "where is the {colour} {shape} ?",
                       "is the {shape} on the {position} large ?")
    first, duplicate = rng.sample(colour_questions, 2)
    second = duplicate if label else rng.choice(other_questions)
    return {"question1": first.format(**s), "question2": second.format(**s)}


# STS-B: the second sentence keeps or changes each of three attributes; changed
# values come from their own word sets, so similarity shows in the words.
_STSB_KEPT = {"colour": ("red", "green", "blue", "yellow"), "shape": ("circle", "square", "triangle"),
              "position": ("left", "right")}
_STSB_CHANGED = {"colour": ("purple", "orange", "black", "white"), "shape": ("diamond", "cross"),
                 "position": ("centre",)}


def _stsb(rng, _label, _variant):
    first = {key: rng.choice(values) for key, values in _STSB_KEPT.items()} | {"size": rng.choice(list(SIZES))}
    kept = [rng.random() < 0.5 for _ in _STSB_KEPT]
    second = dict(first) | {key: rng.choice(_STSB_CHANGED[key]) for key, keep in zip(_STSB_KEPT, kept) if not keep}
    score = min(5.0, max(0.0, 5 * sum(kept) / len(kept) + rng.uniform(-0.3, 0.3)))
    return {"sentence1": _describe(rng, first), "sentence2": _describe(rng, second), "label": round(score, 2)}


def _inference_pair(rng, label, variant):
    """Premise and hypothesis; label 0 entailment, 1 neutral, 2 contradiction (MNLI's order)."""
    s = _shape(rng)
    # MNLI's mismatched genre is worded differently from the matched one.
    premise = _describe(rng, s) if variant == "matched" else (
        "in the drawing , someone painted {a} {colour} {shape} on the {position} side .".format(
            a=_article(s["colour"]), **s))
    hypotheses = (
        ("there is {a} {colour} shape .", "something is on the {position} .", "the picture shows a {shape} ."),
        ("the {shape} was drawn by a child .", "the {colour} {shape} is made of wood .",
         "the {shape} is brand new ."),
        ("there is no {shape} .", "nothing is {colour} .", "the {shape} is not on the {position} ."),
    )[label]
    return premise, rng.choice(hypotheses).format(a=_article(s["colour"]), **s)


def _mnli(rng, label, variant):
    premise, hypothesis = _inference_pair(rng, label, variant)
    return {"premise": premise, "hypothesis": hypothesis}


def _rte(rng, label, variant):
    # not_entailment (1) is a neutral or contradicting hypothesis.
    premise, hypothesis = _inference_pair(rng, rng.choice((1, 2)) if label else 0, variant)
    return {"sentence1": premise, "sentence2": hypothesis}


def _qnli(rng, label, _variant):
    s = _shape(rng)
    answers = ("the {shape} on the {position} is {colour} .", "it is {a} {colour} {shape} .")
    non_answers = ("the {shape} on the {position} is {size} .", "the {shape} sits on the {position} .")
    sentence = rng.choice(non_answers if label else answers).format(a=_article(s["colour"]), **s)
    return {"question": "what colour is the {shape} on the {position} ?".format(**s), "sentence": sentence}


def _wnli(rng, label, _variant):
    # Winograd-style: a small thing hides behind a big one, so "it" is the first
    # shape when it is small and the second when it is big.
    first, second = rng.sample(SHAPES, 2)
    adjective = "small" if label else "big"
    return {"sentence1": f"the {first} hides behind the {second} because it is {adjective} .",
            "sentence2": f"the {first} is {adjective} ."}


_DEMO_EXAMPLES = {"cola": _cola, "sst2": _sst2, "mrpc": _mrpc, "stsb": _stsb, "qqp": _qqp, "mnli": _mnli,
                  "qnli": _qnli, "rte": _rte, "wnli": _wnli}


def demo_split(task: str, n: int, seed: int, variant: str = "matched", labelled: bool = True) -> dict[str, list]:
    """``n`` examples of a task as columns: text column(s), ``label`` and ``idx``, as nyu-mll/glue has them.

    Classes are drawn uniformly, a share ``DEMO_LABEL_NOISE`` of labels is redrawn at
    random, and unlabelled (test) splits get label -1 as the hub's do."""
    rng = random.Random(seed)
    spec = hub_task(task)
    columns: dict[str, list] = {column: [] for column in (*spec.text_columns, "label", "idx")}
    n_classes = len(spec.label_names)
    for index in range(n):
        label = None if spec.is_regression else rng.randrange(n_classes)
        example = _DEMO_EXAMPLES[task](rng, label, variant)
        if label is not None and rng.random() < DEMO_LABEL_NOISE:
            label = rng.randrange(n_classes)
        example.setdefault("label", label)
        if not labelled:
            example["label"] = -1.0 if spec.is_regression else -1
        for column, value in (example | {"idx": index}).items():
            columns[column].append(value)
    return columns


def _features(task: GlueTask):
    import datasets

    label = (datasets.Value("float32") if task.is_regression
             else datasets.ClassLabel(names=list(task.label_names)))
    return datasets.Features({**{column: datasets.Value("string") for column in task.text_columns},
                              "label": label, "idx": datasets.Value("int32")})


def _demo_splits(task: GlueTask) -> dict[str, str]:
    """The hub's splits of a task in the hub's order (which seeds each split's data), each with the kind
    of demo data it holds: a test split beside each evaluation split."""
    evaluation = [evaluation_set.split for evaluation_set in task.evaluation_sets]
    return {TRAIN_SPLIT: "train", **dict.fromkeys(evaluation, "validation"),
            **dict.fromkeys([split.replace("validation", "test") for split in evaluation], "test")}


def make_demo_glue(out_dir_root: str | Path, seed: int) -> Path:
    """Write GLUE-shaped parquet files for all nine tasks; returns the folder to pass as ``dataset_id``.

    Layout: ``<root>/<task>/data/<split>-00000-of-00001.parquet`` and a ``README.md``
    whose ``configs`` name each task's splits, so ``load_dataset(root, task)`` (the
    hub's call) and ``load_dataset(root / task)`` both return the hub's splits and columns."""
    import datasets

    root = Path(out_dir_root)
    readme = ["---", "configs:"]
    for task_index, task in enumerate(HUB_TASKS.values()):
        readme += [f"- config_name: {task.name}", "  data_files:"]
        for split_index, (split, kind) in enumerate(_demo_splits(task).items()):
            variant = "mismatched" if split.endswith("mismatched") else "matched"
            # Distinct seeds per (task, split): no split is a copy of another.
            columns = demo_split(task.name, DEMO_SPLIT_SIZES[kind], seed * 1000 + task_index * 10 + split_index,
                                 variant, labelled=kind != "test")
            path = root / task.name / "data" / f"{split}-00000-of-00001.parquet"
            datasets.Dataset.from_dict(columns, features=_features(task)).to_parquet(str(path))
            readme += [f"  - split: {split}", f"    path: {task.name}/data/{split}-*"]
    readme.append("---")
    (root / "README.md").write_text("\n".join(readme) + "\n", encoding="utf-8")
    return root

