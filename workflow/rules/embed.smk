rule embed:
    input:
        unpack(get_embed_input),
    output:
        "results/embeddings/{dataset}/{model}.h5",
    log:
        "logs/embed/{dataset}/{model}.log",
    benchmark:
        "results/benchmarks/embed/{dataset}/{model}.tsv"
    retries: rule_retries("embed", gpus=get_gpus)
    conda:
        "../../envs/embed.yaml"
    threads: config["embed"]["threads"]
    resources:
        **rule_resources("embed", gpus=get_gpus),
    params:
        model=get_model_params,
        version=EMBED_VERSION,
        workers=config["embed"]["workers"],
        occurrences_allowed=get_occurrences_allowed,
        blank_texts_allowed=get_blank_texts_allowed,
    script:
        "../../scripts/embed.py"
