"""Dry-run time of a 100-model x 12-dataset grid, against a bare Snakefile with the same jobs.

The grid is the demo config grown to the first study's shape: 90 text and 10 vision
models (copies of the demo's tiny models under new names) over 12 datasets: the nine
GLUE tasks (a probe per task and text model), STS and association (a score per text
model), and the shapes captions (retrieval of every text model against every vision
model). The baseline is a Snakefile with the same jobs and nothing else (no config
validation, no input functions, no resources), so the ratio is what this workflow's
own planning adds. Target: under 15 s on a 2-core CPU.

    .venv/bin/python benchmarks/plan.py [--text 90 --vision 10]
"""

from __future__ import annotations

import argparse
import copy
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

GLUE_TASKS = ["cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte", "wnli"]

BARE_SNAKEFILE = """
TEXT = {text}
VISION = {vision}
TEXT_DATASETS = {text_datasets}

rule all:
    input:
        expand("results/scores/{{dataset}}/{{model}}.json", dataset=TEXT_DATASETS, model=TEXT),
        expand("results/retrieval/shapes/{{t}}__{{v}}.json", t=TEXT, v=VISION),

rule embed:
    output: "results/embeddings/{{dataset}}/{{model}}.h5"
    shell: "touch {{output}}"

rule score:
    input: "results/embeddings/{{dataset}}/{{model}}.h5"
    output: "results/scores/{{dataset}}/{{model}}.json"
    shell: "touch {{output}}"

rule retrieval:
    input:
        text="results/embeddings/shapes/{{text_model}}.h5",
        vision="results/embeddings/shapes/{{vision_model}}.h5",
    output: "results/retrieval/shapes/{{text_model}}__{{vision_model}}.json"
    shell: "touch {{output}}"
"""


def grid_config(n_text: int, n_vision: int) -> dict:
    demo = yaml.safe_load((ROOT / "demo" / "config.yaml").read_text())
    experiments = demo["experiments"]
    text_base, vision_base = experiments["retrieval"]["text_models"], experiments["retrieval"]["vision_models"]
    models = {}
    for prefix, base, count in (("text", text_base, n_text), ("vision", vision_base, n_vision)):
        for i in range(count):
            models[f"{prefix}-{i:03d}"] = copy.deepcopy(demo["models"][base[i % len(base)]])
    text = [m for m in models if m.startswith("text")]
    vision = [m for m in models if m.startswith("vision")]
    return {
        "embed": demo["embed"],
        "datasets": {"shapes": demo["datasets"]["shapes"]},
        "models": models,
        "experiments": {
            "glue": {**experiments["glue"], "models": text, "tasks": GLUE_TASKS},
            "sts": {**experiments["sts"], "models": text},
            "association": {**experiments["association"], "models": text},
            "retrieval": {**experiments["retrieval"], "text_models": text, "vision_models": vision},
        },
    }


def timed_dry_run(snakefile: Path, workdir: Path, *args: str) -> tuple[float, int]:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-q", "rules", "-s", str(snakefile),
                             "-d", str(workdir), *args], capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode:
        sys.exit(f"dry run failed:\n{result.stderr[-3000:]}")
    total = re.search(r"^total\s+(\d+)", result.stdout, re.MULTILINE)
    return elapsed, int(total.group(1)) if total else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--text", type=int, default=90)
    parser.add_argument("--vision", type=int, default=10)
    args = parser.parse_args()
    config = grid_config(args.text, args.vision)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        configfile = tmp / "grid.yaml"
        configfile.write_text(yaml.safe_dump(config))
        (tmp / "workflow").mkdir()
        (tmp / "baseline").mkdir()
        seconds, jobs = timed_dry_run(ROOT / "Snakefile", tmp / "workflow", "--configfile", str(configfile))
        bare = tmp / "baseline" / "Snakefile"
        text = [m for m in config["models"] if m.startswith("text")]
        vision = [m for m in config["models"] if m.startswith("vision")]
        text_datasets = [f"glue-{task}" for task in GLUE_TASKS] + ["sts", "association"]
        bare.write_text(BARE_SNAKEFILE.format(text=text, vision=vision, text_datasets=text_datasets))
        bare_seconds, bare_jobs = timed_dry_run(bare, tmp / "baseline")
    print(f"grid: {len(config['models'])} models ({args.text} text, {args.vision} vision) x 12 datasets "
          f"(9 GLUE tasks, STS, association, shapes captions)")
    print(f"synesthesia dry run: {jobs} jobs in {seconds:.1f} s")
    print(f"bare Snakefile, same DAG shape: {bare_jobs} jobs in {bare_seconds:.1f} s")
    print(f"ratio (synesthesia / bare): {seconds / bare_seconds:.2f}")
    print(f"target under 15 s: {'met' if seconds < 15 else 'NOT met'}")


if __name__ == "__main__":
    main()
