"""What each stage computes, versioned: the rules pass these as params.

Bump one when a library change alters that stage's outputs, so exactly its jobs rerun
(Snakemake's code trigger sees a rule's script, not the library it calls). Kept apart
from the stages' modules because the Snakefile reads them at every DAG build, and
importing torch there would cost seconds per build and per cluster job.
"""

EMBED_VERSION = 1
ALIGN_VERSION = 2
PROBE_VERSION = 1
FACTORS_VERSION = 2
SIMILARITY_VERSION = 2
T2I_CACHE_VERSION = 1
T2I_TRAIN_VERSION = 1
T2I_GENERATE_VERSION = 1
T2I_METRICS_VERSION = 1
