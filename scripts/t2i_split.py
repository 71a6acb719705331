import json
from pathlib import Path

from synesthesia.logs import log_to_file
from synesthesia.t2i.data import split_pairs

log_to_file(snakemake.log[0])
spec = json.loads(snakemake.params.spec)
split_pairs(Path(snakemake.input.text).parent, snakemake.output[0], n_heldout=spec["heldout"], seed=spec["seed"])
