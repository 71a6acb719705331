rule retrieval:
    input:
        unpack(get_retrieval_pair),
    output:
        "results/retrieval/{dataset}/{text_model}__{vision_model}.json",
    params:
        spec=get_retrieval_params,
        version=ALIGN_VERSION,
    log:
        "logs/retrieval/{dataset}/{text_model}__{vision_model}.log",
    resources:
        **rule_resources("retrieval"),
    conda:
        "../../envs/score.yaml"
    script:
        "../../scripts/retrieval.py"


rule concept_alignment:
    input:
        unpack(get_concept_pair),
    output:
        "results/align/{dataset}/{text_model}__{vision_model}.json",
    params:
        spec=get_concepts_params,
        version=ALIGN_VERSION,
    log:
        "logs/concept_alignment/{dataset}/{text_model}__{vision_model}.log",
    benchmark:
        "results/benchmarks/concept_alignment/{dataset}/{text_model}__{vision_model}.tsv"
    resources:
        **rule_resources("concept_alignment"),
    conda:
        "../../envs/score.yaml"
    script:
        "../../scripts/concept_alignment.py"
