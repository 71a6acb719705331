rule tiny_model:
    output:
        directory("resources/tiny-models/{architecture}"),
    log:
        "logs/tiny_model/{architecture}.log",
    retries: rule_retries("tiny_model")
    conda:
        "../../envs/embed.yaml"
    resources:
        **rule_resources("tiny_model"),
    params:
        version=TINY_MODEL_VERSION,
    script:
        "../../scripts/tiny_model.py"
