rule prepare_captions:
    output:
        text="data/{dataset}/text.tsv",
        images="data/{dataset}/images.tsv",
    params:
        dataset=get_dataset_params,
    log:
        "logs/prepare_captions/{dataset}.log",
    conda:
        "../../envs/embed.yaml"
    script:
        "../../scripts/prepare_captions.py"
