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
