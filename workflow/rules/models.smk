rule tiny_model:
    output:
        directory("resources/tiny-models/{architecture}"),
    params:
        version=TINY_MODEL_VERSION,
    log:
        "logs/tiny_model/{architecture}.log",
    resources:
        **rule_resources("tiny_model"),
    retries: rule_retries("tiny_model")
    conda:
        "../../envs/embed.yaml"
    script:
        "../../scripts/tiny_model.py"
