"""Version constants: every rule that computes passes one, and bumping one on the finished demo
plans exactly that stage's jobs and the jobs that read their outputs."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml
from conftest import DEMO, ROOT, SNAKEMAKE

from synesthesia import versions

# Rules whose outputs no project code computes: CxC and COCO's files as published, the caches
# (prefetch writes no output), the default target.
UNVERSIONED = {"download_cxc", "prefetch", "all"}
CONSTANTS = sorted(name for name in vars(versions) if name.endswith("_VERSION"))

# Snakemake with one constant of synesthesia.versions one higher: the Snakefile imports it in this process.
BUMPED = [sys.executable, "-c",
          "import runpy, sys; import synesthesia.versions as v; "
          "setattr(v, sys.argv[1], getattr(v, sys.argv[1]) + 1); "
          "sys.argv = ['snakemake', *sys.argv[2:]]; runpy.run_module('snakemake', run_name='__main__')"]


def rule_versions() -> dict[str, list[str]]:
    """Every rule of the workflow, with the names its `version` params hold."""
    found = {}
    for path in [ROOT / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk"))]:
        for block in re.split(r"^(?=rule \w+:$)", path.read_text(), flags=re.M)[1:]:
            header, *lines = block.splitlines()
            # The rule ends at the first unindented line (a comment, `localrules:`, the next def).
            body = itertools.takewhile(lambda line: not line.strip() or line[0].isspace(), lines)
            found[header[len("rule "):-1]] = [match.group(1) for line in body
                                              if (match := re.fullmatch(r"\s+version=(\w+),?", line))]
    return found


RULE_VERSIONS = rule_versions()
STAGES = {constant: {rule for rule, names in RULE_VERSIONS.items() if constant in names} for constant in CONSTANTS}


def test_every_rule_that_computes_passes_one_version_constant():
    assert UNVERSIONED <= set(RULE_VERSIONS)
    unversioned = {rule for rule, names in RULE_VERSIONS.items() if not names}
    assert unversioned == UNVERSIONED
    assert {rule: names for rule, names in RULE_VERSIONS.items() if len(names) > 1} == {}
    assert {name for names in RULE_VERSIONS.values() for name in names} <= set(CONSTANTS)


@pytest.mark.parametrize("constant", CONSTANTS)
def test_every_constant_versions_a_rule_with_a_number_to_bump(constant):
    assert STAGES[constant], f"{constant} is passed by no rule"
    value = getattr(versions, constant)
    assert type(value) is int and value >= 1


def test_the_table_rules_share_one_constant():
    assert STAGES["TABLES_VERSION"] == {rule for rule in RULE_VERSIONS if rule.endswith("_table")}


def planned_jobs(output: str) -> set[tuple[str, str]]:
    """(rule, wildcards) of every job in a dry run's output."""
    jobs, rule = set(), None
    for line in output.splitlines():
        if match := re.match(r"^(?:local)?rule (\w+):$", line):
            rule = match.group(1)
            jobs.add((rule, ""))
        elif (match := re.match(r"^\s+wildcards: (.*)$", line)) and rule:
            jobs.discard((rule, ""))
            jobs.add((rule, match.group(1)))
            rule = None
    return jobs


@pytest.fixture(scope="module")
def plans(demo_run, tmp_path_factory) -> dict[str, tuple[set, set]]:
    """Per constant, on the finished demo: the dry run with the constant bumped, and the dry run
    that forces the rules passing it (Snakemake's own plan of those jobs and all downstream)."""
    configfile = tmp_path_factory.mktemp("versions") / "config.yaml"
    configfile.write_text(yaml.safe_dump(DEMO, sort_keys=False))
    common = ["-d", str(demo_run), "--configfile", str(configfile), "-n", "--nolock"]

    def dry_run(command: list[str]) -> set[tuple[str, str]]:
        result = subprocess.run(command, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        return planned_jobs(result.stdout)

    commands = {("", "as is"): [*SNAKEMAKE, *common]} | {
        (constant, kind): command for constant in CONSTANTS for kind, command in (
            ("bumped", [*BUMPED, constant, "-s", str(ROOT / "Snakefile"), *common]),
            ("forced", [*SNAKEMAKE, *common, "--forcerun", *sorted(STAGES[constant])]),
        )}
    # Dry runs wait mostly on Snakemake's start-up (SLURM probes included): a few at a time.
    with ThreadPoolExecutor(max_workers=4) as pool:
        planned = dict(zip(commands, pool.map(dry_run, commands.values())))
    # Else the jobs pending anyway would be in both plans of every constant.
    assert planned["", "as is"] == set()
    return {constant: (planned[constant, "bumped"], planned[constant, "forced"]) for constant in CONSTANTS}


@pytest.mark.slow
@pytest.mark.parametrize("constant", CONSTANTS)
def test_bumping_a_constant_plans_exactly_its_stage_and_what_reads_it(constant, plans):
    bumped, forced = plans[constant]
    if not {rule for rule, _ in forced} & STAGES[constant]:
        pytest.skip(f"the demo runs no job of {sorted(STAGES[constant])}")
    assert bumped == forced
