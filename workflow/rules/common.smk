import re

from synesthesia.align import ALIGN_VERSION
from synesthesia.config import canonical, model_spec, tiny_model_dir
from synesthesia.data.tables import table_for
from synesthesia.embed import EMBED_VERSION
from synesthesia.probe import PROBE_VERSION

MODELS = config["models"]
DATASETS = config["datasets"]
DICTIONARIES = config["dictionaries"]
RETRIEVAL = config["experiments"].get("retrieval")
CONCEPTS = config["experiments"].get("concepts")
GLUE = config["experiments"].get("glue")
STS = config["experiments"].get("sts")
ASSOCIATION = config["experiments"].get("association")
GLUE_TASKS = GLUE["tasks"] if GLUE else []
FINETUNE = GLUE["finetune"] if GLUE and GLUE["finetune"]["enabled"] else None
# Full fine-tuning exists for transformers models; other sources are probed only.
FINETUNE_MODELS = [name for name in GLUE["models"] if MODELS[name]["source"] == "hf"] if FINETUNE else []
# Text-understanding datasets are made by their own rules, not defined under `datasets`.
TEXT_TASK_DATASETS = [f"glue-{task}" for task in GLUE_TASKS] + (["sts"] if STS else []) + (
    ["association"] if ASSOCIATION else []
)
CONCEPT_DATASETS = [name for name, spec in DATASETS.items() if spec["source"] == "concepts"]
CAPTION_DATASETS = [name for name in DATASETS if name not in CONCEPT_DATASETS]
EXPERIMENT_LISTS = ("datasets", "text_models", "vision_models")


def _one_of(names):
    return "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True)) or "(?!)"


wildcard_constraints:
    model=_one_of(MODELS),
    text_model=_one_of(MODELS),
    vision_model=_one_of(MODELS),
    dataset=_one_of([*DATASETS, *TEXT_TASK_DATASETS]),
    dictionary=_one_of(DICTIONARIES),
    task=_one_of(GLUE_TASKS),


def get_dataset_params(wildcards):
    return canonical(DATASETS[wildcards.dataset])


def get_model_params(wildcards):
    return canonical(model_spec(config, wildcards.model))


def _model_input(model):
    built = tiny_model_dir(MODELS[model])
    return {"model": built} if built else {}


def get_embed_input(wildcards):
    table = f"data/{wildcards.dataset}/{table_for(MODELS[wildcards.model]['modality'])}"
    return {"table": table, **_model_input(wildcards.model)}


def get_finetune_input(wildcards):
    return {"table": f"data/glue-{wildcards.task}/text.tsv", **_model_input(wildcards.model)}


def get_gpus(wildcards):
    return 0 if model_spec(config, wildcards.model)["device"] == "cpu" else 1


def get_retrieval_pair(wildcards):
    return {
        "text": f"results/embeddings/{wildcards.dataset}/{wildcards.text_model}.h5",
        "vision": f"results/embeddings/{wildcards.dataset}/{wildcards.vision_model}.h5",
    }


def _without_lists(experiment):
    # Without the model lists: adding a model must not rerun the pairs that exist.
    return canonical({k: v for k, v in experiment.items() if k not in EXPERIMENT_LISTS})


def get_retrieval_params(wildcards):
    return _without_lists(RETRIEVAL)


def get_concepts_params(wildcards):
    return _without_lists(CONCEPTS)


def get_dictionary_params(wildcards):
    return canonical(DICTIONARIES[wildcards.dictionary])


def get_dataset_dictionary(wildcards):
    return f"data/dictionaries/{DATASETS[wildcards.dataset]['dictionary']}.json"


def get_sentences_params(wildcards):
    spec = DATASETS[wildcards.dataset]
    return canonical({key: spec[key] for key in ("dictionary", "per_alias", "max_words", "sentences")})


def get_concept_images_params(wildcards):
    spec = DATASETS[wildcards.dataset]
    return canonical({key: spec[key] for key in ("dictionary", "per_concept", "images")})


def get_concept_pair(wildcards):
    return {**get_retrieval_pair(wildcards), "dictionary": get_dataset_dictionary(wildcards)}


def get_concept_scores(wildcards):
    return expand(
        "results/align/{dataset}/{text_model}__{vision_model}.json",
        dataset=wildcards.dataset,
        text_model=CONCEPTS["text_models"],
        vision_model=CONCEPTS["vision_models"],
    )


def get_retrieval_scores(wildcards):
    return expand(
        "results/retrieval/{dataset}/{text_model}__{vision_model}.json",
        dataset=wildcards.dataset,
        text_model=RETRIEVAL["text_models"],
        vision_model=RETRIEVAL["vision_models"],
    )


def get_glue_source(wildcards):
    return ["resources/demo-glue"] if GLUE["dataset"] == "demo" else []


def get_glue_params(wildcards):
    return canonical({key: GLUE.get(key) for key in ("dataset", "limit_train", "limit_eval")})


def get_probe_params(wildcards):
    return canonical({key: GLUE[key] for key in ("holdout_fraction", "seed")})


def get_finetune_params(wildcards):
    return canonical({"model": model_spec(config, wildcards.model), "finetune": FINETUNE})


def get_sts_sources(wildcards):
    root = "resources/demo-sts" if STS["source"] == "demo" else "resources/cxc"
    return {"sts": f"{root}/sts_val.csv", "captions": f"{root}/captions_val2014.json"}


def _scores(pattern, experiment, **wildcards):
    return expand(pattern, model=experiment["models"], **wildcards) if experiment else []


def get_text_understanding_scores(wildcards):
    return {
        "glue": _scores("results/probe/{task}/{model}.json", GLUE, task=GLUE_TASKS),
        "finetune": expand("results/finetune/{task}/{model}.json", task=GLUE_TASKS, model=FINETUNE_MODELS),
        "sts": _scores("results/sts/{model}.json", STS),
        "association": _scores("results/association/{model}.json", ASSOCIATION),
    }


def get_figure_k(wildcards):
    return max(RETRIEVAL["ks"])


def get_concept_figure_k(wildcards):
    return max(CONCEPTS["ks"])


def get_final_outputs():
    outputs = []
    if GLUE or STS or ASSOCIATION:
        outputs += ["results/tables/text_understanding.csv", "results/tables/text_understanding_summary.csv",
                    "results/figures/text_understanding.png"]
    if RETRIEVAL:
        outputs += expand("results/tables/retrieval_{dataset}.csv", dataset=RETRIEVAL["datasets"])
        outputs += expand("results/figures/retrieval_{dataset}.png", dataset=RETRIEVAL["datasets"])
    if CONCEPTS:
        for dataset in CONCEPTS["datasets"]:
            outputs += [
                f"results/tables/concepts_{dataset}.csv",
                f"results/tables/concepts_{dataset}_summary.csv",
                f"results/figures/concepts_{dataset}.png",
                f"results/figures/concepts_{dataset}_by_size.png",
            ]
    return outputs
