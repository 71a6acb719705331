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
    conda:
        "../../envs/score.yaml"
    script:
        "../../scripts/retrieval.py"
