rule download_cxc:
    output:
        sts="resources/cxc/sts_val.csv",
        captions="resources/cxc/captions_val2014.json",
    log:
        "logs/download_cxc/download_cxc.log",
    retries: rule_retries("download_cxc")
    conda:
        "../../envs/embed.yaml"
    resources:
        **rule_resources("download_cxc"),
    script:
        "../../scripts/download_cxc.py"


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


rule sts_data:
    input:
        unpack(get_sts_sources),
    output:
        text="data/sts/text.tsv",
        pairs="data/sts/pairs.tsv",
    log:
        "logs/sts_data/sts.log",
    retries: rule_retries("sts_data")
    conda:
        "../../envs/embed.yaml"
    resources:
        **rule_resources("sts_data"),
    params:
        version=STS_DATA_VERSION,
    script:
        "../../scripts/sts_data.py"


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


rule association_data:
    output:
        "data/association/text.tsv",
    log:
        "logs/association_data/association.log",
    retries: rule_retries("association_data")
    conda:
        "../../envs/embed.yaml"
    resources:
        **rule_resources("association_data"),
    params:
        version=ASSOCIATION_DATA_VERSION,
    script:
        "../../scripts/association_data.py"


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
