# `snakemake prefetch --cores 1`: everything the config needs from the internet (hub models and datasets,
# the files the download rules fetch) into the local caches, on the machine Snakemake runs on (a login
# node), so that jobs on offline compute nodes find them with HF_HUB_OFFLINE=1.
localrules:
    prefetch,


rule prefetch:
    log:
        "logs/prefetch/prefetch.log",
    conda:
        "../../envs/embed.yaml"
    script:
        "../../scripts/prefetch.py"
