rule sts:
    input:
        embeddings="results/embeddings/sts/{model}.h5",
        pairs="data/sts/pairs.tsv",
    output:
        "results/sts/{model}.json",
    log:
        "logs/sts/{model}.log",
    retries: rule_retries("sts")
    conda:
        "../../envs/score.yaml"
    resources:
        **rule_resources("sts"),
    params:
        version=STS_VERSION,
    script:
        "../../scripts/sts.py"
