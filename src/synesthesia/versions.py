"""What each stage computes, versioned: the rules pass these as params.

Bump one when a library change alters that stage's outputs, so exactly its jobs rerun,
and after them the jobs that read their outputs (Snakemake's code trigger sees a rule's
script, not the library it calls; its params trigger, on by default, sees these). Every
rule whose outputs project code computes passes one as ``version``; only the rules that
fetch files as published (``download_cxc``) or write nothing (``prefetch``, ``all``) do
not. ``tests/test_versions.py`` bumps each on the finished demo. Kept apart from the
stages' modules because the Snakefile reads them at every DAG build, and importing torch
there would cost seconds per build and per cluster job.

Snakemake compares a job's params as a set of values, without their names: a bump goes
unseen only where the rule's other params hold both the old and the new number.
"""

# Demo inputs: tiny random models and stand-ins for the published datasets.
TINY_MODEL_VERSION = 1
DEMO_GLUE_VERSION = 1
DEMO_STS_VERSION = 1
DEMO_INCEPTION_VERSION = 1

# Data: tables of texts and images, dictionaries, the text tasks' datasets.
CAPTIONS_VERSION = 1
VOCABULARY_VERSION = 1
DICTIONARY_VERSION = 1
SENTENCES_VERSION = 1
CONCEPT_IMAGES_VERSION = 1
GLUE_DATA_VERSION = 1
STS_DATA_VERSION = 1
ASSOCIATION_DATA_VERSION = 1

# Embeddings and the scores computed from them.
EMBED_VERSION = 1
PROBE_VERSION = 1
FINETUNE_VERSION = 1
STS_VERSION = 1
ASSOCIATION_VERSION = 1
ALIGN_VERSION = 2
FACTORS_VERSION = 2
SIMILARITY_VERSION = 2

# Text-to-image generation.
T2I_SPLIT_VERSION = 1
T2I_CACHE_VERSION = 1
T2I_TRAIN_VERSION = 1
T2I_GENERATE_VERSION = 1
T2I_METRICS_VERSION = 1

# Every table rule (tables, paper tables, figures): they share the report, paper_tables
# and figures modules, take minutes, and only `all` reads them.
TABLES_VERSION = 1
