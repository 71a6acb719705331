from pathlib import Path

from synesthesia.data.sts import prepare_sts
from synesthesia.logs import log_to_file

log_to_file(snakemake.log[0])
prepare_sts(Path(snakemake.output.text).parent, snakemake.input.sts, snakemake.input.captions)
