rule download_cxc:
    output:
        sts="resources/cxc/sts_val.csv",
        captions="resources/cxc/captions_val2014.json",
    log:
        "logs/download_cxc/download_cxc.log",
    resources:
        **rule_resources("download_cxc"),
    retries: rule_retries("download_cxc")
    conda:
        "../../envs/embed.yaml"
    script:
        "../../scripts/download_cxc.py"


rule demo_sts:
    output:
        sts="resources/demo-sts/sts_val.csv",
        captions="resources/demo-sts/captions_val2014.json",
    params:
        version=DEMO_STS_VERSION,
    log:
        "logs/demo_sts/demo_sts.log",
    resources:
        **rule_resources("demo_sts"),
    retries: rule_retries("demo_sts")
    conda:
        "../../envs/embed.yaml"
    script:
        "../../scripts/demo_sts.py"


rule sts_data:
    input:
        unpack(get_sts_sources),
    output:
        text="data/sts/text.tsv",
        pairs="data/sts/pairs.tsv",
    params:
        version=STS_DATA_VERSION,
    log:
        "logs/sts_data/sts.log",
    resources:
        **rule_resources("sts_data"),
    retries: rule_retries("sts_data")
    conda:
        "../../envs/embed.yaml"
    script:
        "../../scripts/sts_data.py"


rule sts:
    input:
        embeddings="results/embeddings/sts/{model}.h5",
        pairs="data/sts/pairs.tsv",
    output:
        "results/sts/{model}.json",
    params:
        version=STS_VERSION,
    log:
        "logs/sts/{model}.log",
    resources:
        **rule_resources("sts"),
    retries: rule_retries("sts")
    conda:
        "../../envs/score.yaml"
    script:
        "../../scripts/sts.py"


rule association_data:
    output:
        "data/association/text.tsv",
    params:
        version=ASSOCIATION_DATA_VERSION,
    log:
        "logs/association_data/association.log",
    resources:
        **rule_resources("association_data"),
    retries: rule_retries("association_data")
    conda:
        "../../envs/embed.yaml"
    script:
        "../../scripts/association_data.py"


rule association:
    input:
        "results/embeddings/association/{model}.h5",
    output:
        "results/association/{model}.json",
    params:
        version=ASSOCIATION_VERSION,
    log:
        "logs/association/{model}.log",
    resources:
        **rule_resources("association"),
    retries: rule_retries("association")
    conda:
        "../../envs/score.yaml"
    script:
        "../../scripts/association.py"
