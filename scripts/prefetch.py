from pathlib import Path

from synesthesia.logs import log_to_file
from synesthesia.prefetch import fetch_all

log_to_file(snakemake.log[0])
table, complete = fetch_all(snakemake.config, Path("."))
print(table)
if not complete:
    raise SystemExit(f"prefetch: not everything is cached; see the table above and {snakemake.log[0]}")
