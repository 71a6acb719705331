rule embed:
    input:
        unpack(get_embed_input),
    output:
        "results/embeddings/{dataset}/{model}.h5",
    params:
        model=get_model_params,
        version=EMBED_VERSION,
        workers=config["embed"]["workers"],
    log:
        "logs/embed/{dataset}/{model}.log",
    benchmark:
        "results/benchmarks/embed/{dataset}/{model}.tsv"
    threads: 2
    resources:
        **rule_resources("embed", gpus=get_gpus),
    conda:
        "../../envs/embed.yaml"
    script:
        "../../scripts/embed.py"
