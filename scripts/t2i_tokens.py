import json
from pathlib import Path

from synesthesia.logs import log_to_file
from synesthesia.t2i.cache import cache_token_states
from synesthesia.t2i.generator import load_conditioning_encoder

log_to_file(snakemake.log[0])
spec = json.loads(snakemake.params.encoder)
encoder = load_conditioning_encoder(snakemake.wildcards.encoder, spec["model"], json.loads(snakemake.params.generator))
cache_token_states(encoder, Path(snakemake.input.text).parent, snakemake.output[0], snakemake.wildcards.dataset,
                   spec["max_tokens"], spec["batch_size"])
