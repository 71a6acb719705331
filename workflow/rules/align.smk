rule retrieval:
    input:
        unpack(get_retrieval_pair),
    output:
        "results/retrieval/{dataset}/{text_model}__{vision_model}.json",
    log:
        "logs/retrieval/{dataset}/{text_model}__{vision_model}.log",
    retries: rule_retries("retrieval")
    conda:
        "../../envs/score.yaml"
    resources:
        **rule_resources("retrieval"),
    params:
        spec=get_retrieval_params,
        version=ALIGN_VERSION,
    script:
        "../../scripts/retrieval.py"


rule concept_alignment:
    input:
        unpack(get_concept_pair),
    output:
        "results/align/{dataset}/{text_model}__{vision_model}.json",
    log:
        "logs/concept_alignment/{dataset}/{text_model}__{vision_model}.log",
    benchmark:
        "results/benchmarks/concept_alignment/{dataset}/{text_model}__{vision_model}.tsv"
    retries: rule_retries("concept_alignment", SCORING_GPUS)
    conda:
        "../../envs/score.yaml"
    resources:
        **rule_resources("concept_alignment", SCORING_GPUS),
    params:
        spec=get_concepts_params,
        version=ALIGN_VERSION,
    script:
        "../../scripts/concept_alignment.py"


rule concept_factors:
    input:
        unpack(get_concept_pair),
    output:
        "results/factors/{dataset}/{text_model}__{vision_model}.json",
    log:
        "logs/concept_factors/{dataset}/{text_model}__{vision_model}.log",
    benchmark:
        "results/benchmarks/concept_factors/{dataset}/{text_model}__{vision_model}.tsv"
    retries: rule_retries("concept_factors", SCORING_GPUS)
    conda:
        "../../envs/score.yaml"
    resources:
        **rule_resources("concept_factors", SCORING_GPUS),
    params:
        spec=get_factors_params,
        version=FACTORS_VERSION,
    script:
        "../../scripts/concept_factors.py"


rule concept_train_fractions:
    input:
        unpack(get_concept_pair),
    output:
        "results/train_fractions/{dataset}/{text_model}__{vision_model}.json",
    log:
        "logs/concept_train_fractions/{dataset}/{text_model}__{vision_model}.log",
    benchmark:
        "results/benchmarks/concept_train_fractions/{dataset}/{text_model}__{vision_model}.tsv"
    retries: rule_retries("concept_train_fractions", SCORING_GPUS)
    conda:
        "../../envs/score.yaml"
    resources:
        **rule_resources("concept_train_fractions", SCORING_GPUS),
    params:
        spec=get_train_fractions_params,
        version=ALIGN_VERSION,
    script:
        "../../scripts/concept_train_fractions.py"


rule concept_similarity:
    input:
        unpack(get_concept_pair),
    output:
        "results/similarity/{dataset}/{text_model}__{vision_model}.json",
    log:
        "logs/concept_similarity/{dataset}/{text_model}__{vision_model}.log",
    benchmark:
        "results/benchmarks/concept_similarity/{dataset}/{text_model}__{vision_model}.tsv"
    retries: rule_retries("concept_similarity", SCORING_GPUS)
    conda:
        "../../envs/score.yaml"
    resources:
        **rule_resources("concept_similarity", SCORING_GPUS),
    params:
        spec=get_similarity_params,
        version=SIMILARITY_VERSION,
    script:
        "../../scripts/concept_similarity.py"
