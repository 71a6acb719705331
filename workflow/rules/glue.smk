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
    threads: config["embed"]["threads"]
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
    threads: config["embed"]["threads"]
    resources:
        **rule_resources("finetune", gpus=get_gpus),
    params:
        spec=get_finetune_params,
        version=FINETUNE_VERSION,
    script:
        "../../scripts/finetune.py"
