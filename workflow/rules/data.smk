rule prepare_captions:
    output:
        "data/{dataset}/items.tsv",
    params:
        dataset=get_dataset_params,
    log:
        "logs/prepare_captions/{dataset}.log",
    conda:
        "../../envs/embed.yaml"
    script:
        "../../scripts/prepare_captions.py"
