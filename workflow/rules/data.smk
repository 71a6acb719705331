rule prepare_captions:
    output:
        text="data/{dataset}/text.tsv",
        images="data/{dataset}/images.tsv",
    log:
        "logs/prepare_captions/{dataset}.log",
    wildcard_constraints:
        dataset=_one_of(CAPTION_DATASETS),
    retries: rule_retries("prepare_captions")
    conda:
        "../../envs/embed.yaml"
    resources:
        **rule_resources("prepare_captions"),
    params:
        dataset=get_dataset_params,
        version=CAPTIONS_VERSION,
    script:
        "../../scripts/prepare_captions.py"


# The dictionary may download (WordNet, the study's files): on a cluster it runs where the workflow does.
localrules:
    dictionary,


rule corpus_vocabulary:
    output:
        "data/dictionaries/{dictionary}.vocabulary.txt",
    log:
        "logs/corpus_vocabulary/{dictionary}.log",
    retries: rule_retries("concept_sentences")
    conda:
        "../../envs/embed.yaml"
    resources:
        **rule_resources("concept_sentences"),
    params:
        corpus=get_vocabulary_corpus_params,
        version=VOCABULARY_VERSION,
    script:
        "../../scripts/corpus_vocabulary.py"


rule dictionary:
    input:
        unpack(get_dictionary_input),
    output:
        "data/dictionaries/{dictionary}.json",
    log:
        "logs/dictionary/{dictionary}.log",
    retries: rule_retries("dictionary")
    conda:
        "../../envs/embed.yaml"
    resources:
        **rule_resources("dictionary"),
    params:
        dictionary=get_dictionary_params,
        wordnet_dir="resources/nltk_data/{dictionary}",
        study_dir="resources/vlca",
        version=DICTIONARY_VERSION,
    script:
        "../../scripts/dictionary.py"


rule concept_sentences:
    input:
        dictionary=get_dataset_dictionary,
    output:
        "data/{dataset}/text.tsv",
    log:
        "logs/concept_sentences/{dataset}.log",
    wildcard_constraints:
        dataset=_one_of(CONCEPT_DATASETS),
    retries: rule_retries("concept_sentences")
    conda:
        "../../envs/embed.yaml"
    resources:
        **rule_resources("concept_sentences"),
    params:
        dataset=get_sentences_params,
        version=SENTENCES_VERSION,
    script:
        "../../scripts/concept_sentences.py"


rule concept_images:
    input:
        dictionary=get_dataset_dictionary,
    output:
        "data/{dataset}/images.tsv",
    log:
        "logs/concept_images/{dataset}.log",
    wildcard_constraints:
        dataset=_one_of(CONCEPT_DATASETS),
    retries: rule_retries("concept_images")
    conda:
        "../../envs/embed.yaml"
    resources:
        **rule_resources("concept_images"),
    params:
        dataset=get_concept_images_params,
        version=CONCEPT_IMAGES_VERSION,
    script:
        "../../scripts/concept_images.py"


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
