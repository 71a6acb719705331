"""The demo's stand-ins for data that cannot be downloaded here, built from the shapes' attributes.

GLUE-shaped datasets (:func:`make_demo_glue`): template sentences about the coloured
shapes, one parquet file per task and split as the hub lays them out.

CxC- and COCO-shaped STS files (:func:`make_demo_sts`): each demo "image" is one
combination of the shapes' four attributes, with five captions that describe it in
different words. Raters' scores follow how many attributes the two captions' images
share (all four for one image), with some noise, as CxC's raters agree imperfectly.
"""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

from ..glue import HUB_TASKS, TRAIN_SPLIT, GlueTask, hub_task
from .shapes import COLORS, POSITIONS, SHAPES, SIZES

_DEMO_CAPTIONS = (
    "a {size} {colour} {shape} on the {position}",
    "there is {a_colour} {colour} {shape} on the {position} side",
    "on the {position} , a {size} {shape} coloured {colour}",
    "the {shape} is {colour} and {size} , on the {position}",
    "{a_colour} {colour} {shape} , {size} , placed on the {position}",
)
DEMO_IMAGES = 40
DEMO_SAME_IMAGE_PAIRS = 2  # per image
DEMO_OTHER_IMAGE_PAIRS = 4  # per image
_DEMO_FIRST_ANNOTATION = 1000


def _shared_attributes(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    return sum(x == y for x, y in zip(a, b))


def make_demo_sts(out_dir: str | Path, seed: int = 0) -> tuple[Path, Path]:
    """Write ``sts_val.csv`` (CxC's columns and id form) and ``captions_val2014.json`` (COCO's format)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    images = rng.sample(list(itertools.product(COLORS, SHAPES, SIZES, POSITIONS)), DEMO_IMAGES)
    annotations, captions_of = [], []
    for image_id, (colour, shape, size, position) in enumerate(images, start=1):
        ids = []
        for template in _DEMO_CAPTIONS:
            annotation_id = _DEMO_FIRST_ANNOTATION + len(annotations)
            caption = template.format(colour=colour, shape=shape, size=size, position=position,
                                      a_colour="an" if colour[0] in "aeiou" else "a")
            annotations.append({"image_id": image_id, "id": annotation_id, "caption": caption + " ."})
            ids.append(annotation_id)
        captions_of.append(ids)
    coco = {"info": {"description": "synesthesia demo captions in MS-COCO's format"},
            "images": [{"id": image_id, "file_name": f"COCO_val2014_{image_id:012d}.jpg", "width": 64, "height": 64}
                       for image_id in range(1, len(images) + 1)],
            "annotations": annotations}
    captions_path = out_dir / "captions_val2014.json"
    captions_path.write_text(json.dumps(coco), encoding="utf-8")

    rows = []
    for index, ids in enumerate(captions_of):
        for first, second in rng.sample(list(itertools.combinations(ids, 2)), DEMO_SAME_IMAGE_PAIRS):
            rows.append((first, second, index, index, "c2c_cocaption"))
        others = rng.sample([i for i in range(len(images)) if i != index], DEMO_OTHER_IMAGE_PAIRS)
        for other in others:
            rows.append((rng.choice(ids), rng.choice(captions_of[other]), index, other, "c2c_isim"))
    with open(out_dir / "sts_val.csv", "w", encoding="utf-8") as handle:
        handle.write("caption1,caption2,agg_score,sampling_method\n")
        for first, second, image_a, image_b, method in rows:
            shared = _shared_attributes(images[image_a], images[image_b])
            score = min(5.0, max(0.0, 5 * shared / 4 + rng.uniform(-0.5, 0.5)))
            handle.write(f"COCO_val2014:sentid:{first},COCO_val2014:sentid:{second},{score:.2f},{method}\n")
    return out_dir / "sts_val.csv", captions_path


# --- GLUE --------------------------------------------------------------------------------
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
