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


rule glue_data:
    input:
        get_glue_source,
    output:
        text="data/glue-{task}/text.tsv",
        labels="data/glue-{task}/labels.tsv",
    log:
        "logs/glue_data/{task}.log",
    retries: rule_retries("glue_data")
    conda:
        "../../envs/embed.yaml"
    resources:
        **rule_resources("glue_data"),
    params:
        glue=get_glue_params,
        version=GLUE_DATA_VERSION,
    script:
        "../../scripts/glue_data.py"


rule probe:
    input:
        embeddings="results/embeddings/glue-{task}/{model}.h5",
        labels="data/glue-{task}/labels.tsv",
    output:
        "results/probe/{task}/{model}.json",
    log:
        "logs/probe/{task}/{model}.log",
    benchmark:
        "results/benchmarks/probe/{task}/{model}.tsv"
    retries: rule_retries("probe")
    conda:
        "../../envs/embed.yaml"
    threads: 2
    resources:
        **rule_resources("probe"),
    params:
        spec=get_probe_params,
        version=PROBE_VERSION,
    script:
        "../../scripts/probe.py"


rule finetune:
    input:
        unpack(get_finetune_input),
        labels="data/glue-{task}/labels.tsv",
    output:
        "results/finetune/{task}/{model}.json",
    log:
        "logs/finetune/{task}/{model}.log",
    benchmark:
        "results/benchmarks/finetune/{task}/{model}.tsv"
    retries: rule_retries("finetune", gpus=get_gpus)
    conda:
        "../../envs/embed.yaml"
    threads: 2
    resources:
        **rule_resources("finetune", gpus=get_gpus),
    params:
        spec=get_finetune_params,
        version=FINETUNE_VERSION,
    script:
        "../../scripts/finetune.py"
