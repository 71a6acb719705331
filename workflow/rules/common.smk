import math
import re
from pathlib import Path

from synesthesia.config import (
    REFERENCE_ENCODER,
    canonical,
    load_yaml,
    model_spec,
    similarity_aligns,
    tiny_model_dir,
    vocabulary_corpus,
)
from synesthesia.data.tables import table_for
from synesthesia.ranking import export_scoring_device, scoring_gpus
from synesthesia.slurm import DEFAULT_PARTITION, memory_request, partition_memory_mb, useful_retries
from synesthesia.versions import (
    ALIGN_VERSION,
    ASSOCIATION_DATA_VERSION,
    ASSOCIATION_VERSION,
    CAPTIONS_VERSION,
    CONCEPT_IMAGES_VERSION,
    DEMO_GLUE_VERSION,
    DEMO_INCEPTION_VERSION,
    DEMO_STS_VERSION,
    DICTIONARY_VERSION,
    EMBED_VERSION,
    FACTORS_VERSION,
    FINETUNE_VERSION,
    GLUE_DATA_VERSION,
    PROBE_VERSION,
    SENTENCES_VERSION,
    SIMILARITY_VERSION,
    STS_DATA_VERSION,
    STS_VERSION,
    T2I_CACHE_VERSION,
    T2I_GENERATE_VERSION,
    T2I_METRICS_VERSION,
    T2I_SPLIT_VERSION,
    T2I_TRAIN_VERSION,
    TABLES_VERSION,
    TINY_MODEL_VERSION,
    VOCABULARY_VERSION,
)

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
TEXT_TASK_DATASETS = (
    [f"glue-{task}" for task in GLUE_TASKS] + (["sts"] if STS else []) + (["association"] if ASSOCIATION else [])
)
CONCEPT_DATASETS = [name for name, spec in DATASETS.items() if spec["source"] == "concepts"]
CAPTION_DATASETS = [name for name in DATASETS if name not in CONCEPT_DATASETS]
EXPERIMENT_LISTS = ("datasets", "text_models", "vision_models")
CONCEPT_ANALYSES = ("factors", "train_fractions", "similarity")
# The similarity stage also aligns concepts at every layer pair (experiments.concepts.similarity.alignment).
SIMILARITY_ALIGNS = similarity_aligns(CONCEPTS)
CLUSTER = config["cluster"]
# GPUs each concept scoring job (alignment, factors, training fractions, similarity) reserves; the jobs
# learn it from the environment the main process passes on.
SCORING_GPUS = scoring_gpus(config["scoring"]["device"], workflow.global_resources.get("gpu"))
if workflow.is_main_process:
    export_scoring_device(SCORING_GPUS)
T2I = config["experiments"].get("t2i")
# Text encoders of the generation grid: the configured models and the checkpoint's own.
T2I_ENCODERS = (T2I["models"] + ([REFERENCE_ENCODER] if T2I["reference"] else [])) if T2I else []

# First-attempt memory (MB) and wall time (minutes) per rule, sized for the paper grid;
# memory doubles on each retry (profiles/slurm sets retries). Every executor sees them,
# so `--resources mem_mb=N` bounds a workstation run as well.
RULE_RESOURCES = {
    "tiny_model": (2000, 10),
    "prepare_captions": (8000, 180),
    "dictionary": (4000, 30),
    "concept_sentences": (8000, 120),
    "concept_images": (16000, 360),
    "embed": (32000, 360),
    "retrieval": (8000, 60),
    "concept_alignment": (8000, 60),
    "demo_glue": (2000, 10),
    "glue_data": (8000, 60),
    "probe": (16000, 120),
    "finetune": (32000, 720),
    "download_cxc": (2000, 60),
    "demo_sts": (2000, 10),
    "sts_data": (4000, 30),
    "sts": (4000, 30),
    "association_data": (1000, 10),
    "association": (4000, 30),
    "table": (4000, 30),
    "concept_factors": (8000, 120),
    "concept_train_fractions": (8000, 120),
    "concept_similarity": (16000, 120),  # all layers of two models: their Grams and layers, about 11 GB
    "t2i_split": (1000, 10),
    "demo_inception": (2000, 10),
    "t2i_latents": (16000, 120),
    "t2i_tokens": (16000, 120),
    "t2i_train": (32000, 720),
    "t2i_generate": (16000, 180),
    "t2i_metrics": (16000, 60),
}


def _one_of(names):
    return "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True)) or "(?!)"


wildcard_constraints:
    model=_one_of(MODELS),
    text_model=_one_of(MODELS),
    vision_model=_one_of(MODELS),
    dataset=_one_of([*DATASETS, *TEXT_TASK_DATASETS]),
    dictionary=_one_of(DICTIONARIES),
    task=_one_of(GLUE_TASKS),
    encoder=_one_of(T2I_ENCODERS),


def _model_input(model):
    built = tiny_model_dir(MODELS[model])
    return {"model": built} if built else {}


def get_gpus(wildcards):
    spec = model_spec(config, wildcards.model)
    return 0 if spec["device"] == "cpu" else spec.get("gpus", 1)


SLURM_PROFILE_RETRIES = load_yaml(Path(workflow.basedir) / "profiles/slurm/config.yaml")["retries"]
# Largest node memory per partition, read once by the process that plans and submits the jobs.


PARTITION_MEMORY_MB = partition_memory_mb() if workflow.is_main_process and not CLUSTER["max_mem_mb"] else {}


def _partition(gpus):
    return (CLUSTER["gpu_partition"] if gpus else CLUSTER["cpu_partition"]) or DEFAULT_PARTITION


def _memory_cap_mb(gpus):
    return CLUSTER["max_mem_mb"] or PARTITION_MEMORY_MB.get(_partition(gpus))


def _first_attempt_mb(rule_name):
    return math.ceil(RULE_RESOURCES[rule_name][0] * CLUSTER["memory_scale"])


def rule_resources(rule_name, gpus=0):
    """Resources of one rule: memory growing with the attempt up to the largest node of its
    partition, wall time, and, from `cluster:` in the config, the SLURM account, partition,
    GPU model and constraint."""
    first_attempt_mb, runtime = _first_attempt_mb(rule_name), RULE_RESOURCES[rule_name][1]
    job_gpus = gpus if callable(gpus) else (lambda wildcards: gpus)
    resources = {
        "mem_mb": lambda wildcards, attempt: memory_request(
            first_attempt_mb, attempt, _memory_cap_mb(job_gpus(wildcards))
        ),
        "runtime": runtime,
    }
    if gpus:
        resources["gpu"] = job_gpus
    if CLUSTER["account"]:
        resources["slurm_account"] = CLUSTER["account"]
    if CLUSTER["cpu_partition"] or CLUSTER["gpu_partition"]:
        resources["slurm_partition"] = (
            lambda wildcards: (CLUSTER["gpu_partition"] if job_gpus(wildcards) else CLUSTER["cpu_partition"]) or ""
        )
    for key in ("gpu_model", "constraint"):
        if gpus and CLUSTER[key]:
            resources[key] = lambda wildcards, value=CLUSTER[key]: value if job_gpus(wildcards) else ""
    return resources


def rule_retries(rule_name, gpus=0):
    """Where memory is capped (a SLURM partition's nodes, or cluster.max_mem_mb): the SLURM profile's
    retries that still ask for more memory, as a retry capped at the node size would only fail
    again. Elsewhere None: `--retries` decides."""
    caps = [_memory_cap_mb(True), _memory_cap_mb(False)] if callable(gpus) else [_memory_cap_mb(gpus)]
    if None in caps:
        return None
    return useful_retries(_first_attempt_mb(rule_name), max(caps), SLURM_PROFILE_RETRIES)


# -------------------- data preparation (data.smk)


def get_dataset_params(wildcards):
    return canonical(DATASETS[wildcards.dataset])


def get_dictionary_params(wildcards):
    return canonical(DICTIONARIES[wildcards.dictionary])


def get_dataset_dictionary(wildcards):
    return f"data/dictionaries/{DATASETS[wildcards.dataset]['dictionary']}.json"


def get_sentences_params(wildcards):
    spec = DATASETS[wildcards.dataset]
    return canonical({key: spec[key] for key in ("dictionary", "candidates", "per_alias", "max_words", "sentences")})


def get_dictionary_input(wildcards):
    corpus = vocabulary_corpus(config, wildcards.dictionary)
    return {"vocabulary": f"data/dictionaries/{wildcards.dictionary}.vocabulary.txt"} if corpus else {}


def get_vocabulary_corpus_params(wildcards):
    return canonical(vocabulary_corpus(config, wildcards.dictionary))


def get_concept_images_params(wildcards):
    spec = DATASETS[wildcards.dataset]
    return canonical({key: spec[key] for key in ("dictionary", "per_concept", "images")})


def get_glue_source(wildcards):
    return ["resources/demo-glue"] if GLUE["dataset"] == "demo" else []


def get_glue_params(wildcards):
    return canonical({key: GLUE.get(key) for key in ("dataset", "limit_train", "limit_eval")})


def get_sts_sources(wildcards):
    root = "resources/demo-sts" if STS["source"] == "demo" else "resources/cxc"
    return {"sts": f"{root}/sts_val.csv", "captions": f"{root}/captions_val2014.json"}


# -------------------- embedding (embed.smk)


def get_model_params(wildcards):
    return canonical(model_spec(config, wildcards.model))


def get_embed_input(wildcards):
    table = f"data/{wildcards.dataset}/{table_for(MODELS[wildcards.model]['modality'])}"
    return {"table": table, **_model_input(wildcards.model)}


def get_occurrences_allowed(wildcards):
    """A concept dataset's rows are occurrences (sentences of a word, images of a concept): its ids repeat."""
    return wildcards.dataset in CONCEPT_DATASETS


def get_blank_texts_allowed(wildcards):
    """GLUE's examples are embedded as published, a blank sentence included."""
    return wildcards.dataset in [f"glue-{task}" for task in GLUE_TASKS]


# -------------------- GLUE probes and fine-tuning (glue.smk)


def get_probe_params(wildcards):
    return canonical({key: GLUE[key] for key in ("holdout_fraction", "seed")})


def get_finetune_input(wildcards):
    return {"table": f"data/glue-{wildcards.task}/text.tsv", **_model_input(wildcards.model)}


def get_finetune_params(wildcards):
    return canonical({"model": model_spec(config, wildcards.model), "finetune": FINETUNE})


# -------------------- retrieval and concept alignment (align.smk)


def get_retrieval_pair(wildcards):
    """Both stores of a pair and the tables they embedded (scoring checks each store against its table)."""
    return {
        "text": f"results/embeddings/{wildcards.dataset}/{wildcards.text_model}.h5",
        "vision": f"results/embeddings/{wildcards.dataset}/{wildcards.vision_model}.h5",
        "text_table": f"data/{wildcards.dataset}/{table_for('text')}",
        "vision_table": f"data/{wildcards.dataset}/{table_for('vision')}",
    }


def _without_lists(experiment, leave_out=()):
    # Without the model lists: adding a model must not rerun the pairs that exist.
    return {k: v for k, v in experiment.items() if k not in EXPERIMENT_LISTS and k not in leave_out}


def get_retrieval_params(wildcards):
    return canonical(_without_lists(RETRIEVAL))


def get_concepts_params(wildcards):
    # The analyses' own settings rerun the analyses, not the alignment.
    return canonical(_without_lists(CONCEPTS, leave_out=CONCEPT_ANALYSES))


def get_factors_params(wildcards):
    return canonical({**_without_lists(CONCEPTS, leave_out=CONCEPT_ANALYSES), **CONCEPTS["factors"]})


def get_train_fractions_params(wildcards):
    return canonical(
        {**_without_lists(CONCEPTS, leave_out=CONCEPT_ANALYSES), "train_fractions": CONCEPTS["train_fractions"]}
    )


def alignment_layer_figures():
    """The alignment's layer x layer heatmap: outputs of the similarity table when the similarity stage aligns."""
    if not SIMILARITY_ALIGNS:
        return {}
    return {
        "alignment_layers": report(
            "results/figures/concept_similarity_{dataset}_alignment_layers.png",
            caption="../report/concept_similarity_alignment_layers.rst",
            category="6 Similarity",
            labels={"result": "figure: concept alignment, language x vision model layers", "data": "{dataset}"},
        ),
        "alignment_layers_pdf": "results/figures/concept_similarity_{dataset}_alignment_layers.pdf",
    }


def get_similarity_params(wildcards):
    spec = CONCEPTS["similarity"]
    if SIMILARITY_ALIGNS:
        # the alignment's own settings, so that the layer pairs are aligned as the alignment rule aligns
        spec = {**spec, "alignment": {**_without_lists(CONCEPTS, leave_out=CONCEPT_ANALYSES), **spec["alignment"]}}
    return canonical(spec)


def get_concept_pair(wildcards):
    return {**get_retrieval_pair(wildcards), "dictionary": get_dataset_dictionary(wildcards)}


# -------------------- text-to-image (t2i.smk)


def _generator_input():
    return {"generator": f"resources/tiny-models/{T2I['generator']['tiny']}"} if T2I["generator"].get("tiny") else {}


def get_t2i_split_params(wildcards):
    return canonical({key: T2I[key] for key in ("heldout", "seed")})


def get_generator_params(wildcards):
    return canonical({key: value for key, value in T2I["generator"].items() if key != "tiny"})


def get_t2i_latents_input(wildcards):
    return {
        "split": f"data/{wildcards.dataset}/t2i_split.json",
        "images": f"data/{wildcards.dataset}/images.tsv",
        **_generator_input(),
    }


def get_t2i_tokens_input(wildcards):
    model = {} if wildcards.encoder == REFERENCE_ENCODER else _model_input(wildcards.encoder)
    return {"text": f"data/{wildcards.dataset}/text.tsv", **model, **_generator_input()}


def get_t2i_encoder_params(wildcards):
    entry = None if wildcards.encoder == REFERENCE_ENCODER else model_spec(config, wildcards.encoder)
    return canonical({"model": entry, "max_tokens": T2I["max_tokens"], "batch_size": config["embed"]["batch_size"]})


def get_t2i_train_params(wildcards):
    return canonical({key: T2I[key] for key in ("adapter", "training")})


def get_t2i_train_input(wildcards):
    root = f"results/t2i/{wildcards.dataset}"
    return {
        "split": f"data/{wildcards.dataset}/t2i_split.json",
        "latents": f"{root}/latents.h5",
        "tokens": f"{root}/tokens/{wildcards.encoder}.h5",
        **_generator_input(),
    }


def get_t2i_generate_input(wildcards):
    root = f"results/t2i/{wildcards.dataset}"
    return {
        "split": f"data/{wildcards.dataset}/t2i_split.json",
        "tokens": f"{root}/tokens/{wildcards.encoder}.h5",
        "adapter": f"{root}/adapters/{wildcards.encoder}.safetensors",
        **_generator_input(),
    }


def get_t2i_metrics_input(wildcards):
    spec = T2I["metrics"]
    inputs = {
        "images": f"results/t2i/{wildcards.dataset}/images/{wildcards.encoder}",
        "split": f"data/{wildcards.dataset}/t2i_split.json",
        "real": f"data/{wildcards.dataset}/images.tsv",
    }
    if spec.get("inception_weights") == "demo":
        inputs["inception"] = "resources/demo-inception/inception.pth"
    clip_tiny = spec.get("clip_model", {}).get("tiny")
    if clip_tiny:
        inputs["clip"] = f"resources/tiny-models/{clip_tiny}"
    return inputs


def get_t2i_metrics_params(wildcards):
    spec = dict(T2I["metrics"])
    if spec.get("inception_weights") == "demo":
        spec["inception_weights"] = "resources/demo-inception/inception.pth"
    if "clip_model" in spec:
        spec["clip_model"] = {key: value for key, value in spec["clip_model"].items() if key != "tiny"}
    return canonical(spec)


# -------------------- tables and figures (report.smk)


def _pair_results(stage, experiment):
    """Input function: the stage's result of every (text model, vision model) pair of the experiment."""

    def inputs(wildcards):
        return expand(
            f"results/{stage}/{{dataset}}/{{text_model}}__{{vision_model}}.json",
            dataset=wildcards.dataset,
            text_model=experiment["text_models"],
            vision_model=experiment["vision_models"],
        )

    return inputs


get_retrieval_scores = _pair_results("retrieval", RETRIEVAL)


get_concept_scores = _pair_results("align", CONCEPTS)


get_factor_scores = _pair_results("factors", CONCEPTS)


get_train_fraction_scores = _pair_results("train_fractions", CONCEPTS)


get_similarity_scores = _pair_results("similarity", CONCEPTS)


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


def get_t2i_results(wildcards):
    root = f"results/t2i/{wildcards.dataset}"
    return {
        "metrics": expand(f"{root}/metrics/{{encoder}}.json", encoder=T2I_ENCODERS),
        "images": expand(f"{root}/images/{{encoder}}", encoder=T2I_ENCODERS),
        "split": f"data/{wildcards.dataset}/t2i_split.json",
        "text": f"data/{wildcards.dataset}/text.tsv",
    }


def get_final_outputs():
    outputs = []
    if GLUE or STS or ASSOCIATION:
        outputs += [
            "results/tables/text_understanding.csv",
            "results/tables/text_understanding_summary.csv",
            "results/figures/text_understanding.png",
        ]
    if RETRIEVAL:
        outputs += expand("results/tables/retrieval_{dataset}.csv", dataset=RETRIEVAL["datasets"])
        outputs += expand("results/figures/retrieval_{dataset}.png", dataset=RETRIEVAL["datasets"])
    if T2I:
        outputs += [f"results/tables/t2i_{T2I['dataset']}.csv", f"results/figures/t2i_{T2I['dataset']}.png"]
    if CONCEPTS:
        for dataset in CONCEPTS["datasets"]:
            outputs += [
                f"results/tables/concepts_{dataset}.csv",
                f"results/tables/concepts_{dataset}_summary.csv",
                f"results/figures/concepts_{dataset}.png",
                f"results/figures/concepts_{dataset}_by_size.png",
                f"results/tables/concepts_{dataset}_by_size.csv",
            ]
            if "factors" in CONCEPTS:
                outputs += [
                    f"results/tables/concept_factors_{dataset}.csv",
                    f"results/figures/concept_factors_{dataset}.png",
                ]
            if "train_fractions" in CONCEPTS:
                outputs += [
                    f"results/tables/concept_train_fractions_{dataset}.csv",
                    f"results/figures/concept_train_fractions_{dataset}.png",
                ]
            if "similarity" in CONCEPTS:
                outputs += [
                    f"results/tables/concept_similarity_{dataset}.csv",
                    f"results/figures/concept_similarity_{dataset}.png",
                    f"results/figures/concept_similarity_{dataset}_by_size.png",
                ]
    return outputs
