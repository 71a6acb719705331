rule association:
    input:
        "results/embeddings/association/{model}.h5",
    output:
        "results/association/{model}.json",
    log:
        "logs/association/{model}.log",
    retries: rule_retries("association")
    conda:
        "../../envs/score.yaml"
    resources:
        **rule_resources("association"),
    params:
        version=ASSOCIATION_VERSION,
    script:
        "../../scripts/association.py"
