rule t2i_split:
    input:
        text="data/{dataset}/text.tsv",
        images="data/{dataset}/images.tsv",
    output:
        "data/{dataset}/t2i_split.json",
    log:
        "logs/t2i_split/{dataset}.log",
    retries: rule_retries("t2i_split")
    conda:
        "../../envs/t2i.yaml"
    resources:
        **rule_resources("t2i_split"),
    params:
        spec=get_t2i_split_params,
        version=T2I_SPLIT_VERSION,
    script:
        "../../scripts/t2i_split.py"


rule t2i_latents:
    input:
        unpack(get_t2i_latents_input),
    output:
        "results/t2i/{dataset}/latents.h5",
    log:
        "logs/t2i_latents/{dataset}.log",
    benchmark:
        "results/benchmarks/t2i_latents/{dataset}.tsv"
    retries: rule_retries("t2i_latents", gpus=1)
    conda:
        "../../envs/t2i.yaml"
    resources:
        **rule_resources("t2i_latents", gpus=1),
    params:
        generator=get_generator_params,
        version=T2I_CACHE_VERSION,
        batch_size=config["embed"]["batch_size"],
    script:
        "../../scripts/t2i_latents.py"


rule t2i_tokens:
    input:
        unpack(get_t2i_tokens_input),
    output:
        "results/t2i/{dataset}/tokens/{encoder}.h5",
    log:
        "logs/t2i_tokens/{dataset}/{encoder}.log",
    benchmark:
        "results/benchmarks/t2i_tokens/{dataset}/{encoder}.tsv"
    retries: rule_retries("t2i_tokens", gpus=1)
    conda:
        "../../envs/t2i.yaml"
    resources:
        **rule_resources("t2i_tokens", gpus=1),
    params:
        encoder=get_t2i_encoder_params,
        generator=get_generator_params,
        version=T2I_CACHE_VERSION,
    script:
        "../../scripts/t2i_tokens.py"


rule t2i_train:
    input:
        unpack(get_t2i_train_input),
    output:
        adapter="results/t2i/{dataset}/adapters/{encoder}.safetensors",
        losses="results/t2i/{dataset}/adapters/{encoder}_losses.json",
    log:
        "logs/t2i_train/{dataset}/{encoder}.log",
    benchmark:
        "results/benchmarks/t2i_train/{dataset}/{encoder}.tsv"
    retries: rule_retries("t2i_train", gpus=1)
    conda:
        "../../envs/t2i.yaml"
    resources:
        **rule_resources("t2i_train", gpus=1),
    params:
        spec=get_t2i_train_params,
        generator=get_generator_params,
        version=T2I_TRAIN_VERSION,
    script:
        "../../scripts/t2i_train.py"


rule t2i_generate:
    input:
        unpack(get_t2i_generate_input),
    output:
        directory("results/t2i/{dataset}/images/{encoder}"),
    log:
        "logs/t2i_generate/{dataset}/{encoder}.log",
    benchmark:
        "results/benchmarks/t2i_generate/{dataset}/{encoder}.tsv"
    retries: rule_retries("t2i_generate", gpus=1)
    conda:
        "../../envs/t2i.yaml"
    resources:
        **rule_resources("t2i_generate", gpus=1),
    params:
        generator=get_generator_params,
        batch_size=config["embed"]["batch_size"],
        version=T2I_GENERATE_VERSION,
    script:
        "../../scripts/t2i_generate.py"


rule t2i_metrics:
    input:
        unpack(get_t2i_metrics_input),
    output:
        "results/t2i/{dataset}/metrics/{encoder}.json",
    log:
        "logs/t2i_metrics/{dataset}/{encoder}.log",
    benchmark:
        "results/benchmarks/t2i_metrics/{dataset}/{encoder}.tsv"
    retries: rule_retries("t2i_metrics", gpus=1)
    conda:
        "../../envs/t2i.yaml"
    resources:
        **rule_resources("t2i_metrics", gpus=1),
    params:
        spec=get_t2i_metrics_params,
        version=T2I_METRICS_VERSION,
    script:
        "../../scripts/t2i_metrics.py"
