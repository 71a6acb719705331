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


rule demo_glue:
    output:
        directory("resources/demo-glue"),
    log:
        "logs/demo_glue/demo_glue.log",
    retries: rule_retries("demo_glue")
    conda:
        "../../envs/embed.yaml"
    resources:
        **rule_resources("demo_glue"),
    params:
        version=DEMO_GLUE_VERSION,
    script:
        "../../scripts/demo_glue.py"


rule demo_sts:
    output:
        sts="resources/demo-sts/sts_val.csv",
        captions="resources/demo-sts/captions_val2014.json",
    log:
        "logs/demo_sts/demo_sts.log",
    retries: rule_retries("demo_sts")
    conda:
        "../../envs/embed.yaml"
    resources:
        **rule_resources("demo_sts"),
    params:
        version=DEMO_STS_VERSION,
    script:
        "../../scripts/demo_sts.py"


rule demo_inception:
    output:
        "resources/demo-inception/inception.pth",
    log:
        "logs/demo_inception/demo_inception.log",
    retries: rule_retries("demo_inception")
    conda:
        "../../envs/t2i.yaml"
    resources:
        **rule_resources("demo_inception"),
    params:
        version=DEMO_INCEPTION_VERSION,
    script:
        "../../scripts/demo_inception.py"
