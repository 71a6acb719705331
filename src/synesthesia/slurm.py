"""Fitting the workflow's requests to the SLURM cluster it runs on, read once when the run is planned.

- Memory: every rule asks for a first-attempt size that doubles on each retry
  (``workflow/rules/common.smk``). A request above the largest node of its partition is
  refused by sbatch ("Memory specification can not be satisfied"), and so is each
  doubled retry. Requests are capped at that node size (``sinfo``, or
  ``cluster.max_mem_mb``), and a rule gets only the retries that still add memory.
- Job status: the slurm executor plugin polls ``sacct`` whenever the binary exists; on
  a cluster without job accounting sacct fails and the run waits forever on a finished
  job. When sacct fails, status goes through ``squeue`` instead, with a warning.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Callable

DEFAULT_PARTITION = ""


SINFO_TIMEOUT_S = 10
# snakemake-executor-plugin-slurm 2.x: seconds before its first status check, unless set.
PLUGIN_FIRST_STATUS_WAIT_S = 40


def partition_memory_mb(run: Callable = subprocess.run) -> dict[str, int]:
    """The largest node memory (MB) of each partition, from ``sinfo``; the default partition
    also under ``DEFAULT_PARTITION``. Empty where sinfo is missing, fails or gets no answer in
    SINFO_TIMEOUT_S (an installed client whose controller does not run retries for long)."""
    if shutil.which("sinfo") is None:
        return {}
    try:
        result = run(["sinfo", "-h", "-o", "%P|%m"], capture_output=True, text=True, timeout=SINFO_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {}
    if result.returncode:
        return {}
    largest: dict[str, int] = {}
    for line in result.stdout.split():
        partition, _, memory = line.partition("|")
        try:
            megabytes = int(memory.rstrip("+"))
        except ValueError:
            continue
        names = [partition.rstrip("*")] + ([DEFAULT_PARTITION] if partition.endswith("*") else [])
        for name in names:
            largest[name] = max(largest.get(name, 0), megabytes)
    return largest


def memory_request(first_attempt_mb: int, attempt: int, cap_mb: int | None) -> int:
    """The memory of an attempt: doubled each retry, never above the node size ``cap_mb``."""
    wanted = first_attempt_mb * 2 ** (attempt - 1)
    return min(wanted, cap_mb) if cap_mb else wanted


def useful_retries(first_attempt_mb: int, cap_mb: int | None, retries: int) -> int:
    """How many of ``retries`` still ask for more memory than the attempt before."""
    return sum(memory_request(first_attempt_mb, attempt, cap_mb) > memory_request(first_attempt_mb, attempt - 1,
                                                                                    cap_mb)
               for attempt in range(2, retries + 2))


def accounting_failure(run: Callable = subprocess.run) -> str | None:
    """sacct's error when it exists but cannot answer (no job accounting); None when it works or is absent."""
    if shutil.which("sacct") is None:
        return None
    try:
        result = run(["sacct", "-n", "-X", "-S", "now", "-o", "JobID"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "sacct did not answer within 30 s"
    if result.returncode == 0:
        return None
    lines = (result.stderr or result.stdout).strip().splitlines()
    return lines[0] if lines else f"sacct exited with {result.returncode}"


class StatusUnreliable(Exception):
    """Neither sacct nor squeue would see this run's finished jobs: the run would wait forever."""


def min_job_age_s(run: Callable = subprocess.run) -> int | None:
    """slurm.conf's MinJobAge (how long squeue still lists a finished job), from ``scontrol``; None if unknown."""
    if shutil.which("scontrol") is None:
        return None
    try:
        result = run(["scontrol", "show", "config"], capture_output=True, text=True, timeout=SINFO_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None
    for line in result.stdout.splitlines() if result.returncode == 0 else []:
        key, _, value = line.partition("=")
        if key.strip() == "MinJobAge" and value.split() and value.split()[0].isdigit():
            return int(value.split()[0])
    return None


def status_without_accounting(executor_settings, run: Callable = subprocess.run) -> str | None:
    """Switch the slurm plugin's job status from sacct to squeue when sacct cannot answer; the warning, or None.

    The plugin itself goes back to sacct when MinJobAge is below three times its first status
    wait, and would then wait forever: that case raises StatusUnreliable, saying what to set.
    """
    if getattr(executor_settings, "status_command", None) != "sacct":
        return None
    failure = accounting_failure(run)
    if failure is None:
        return None
    first_wait_s = getattr(executor_settings, "init_seconds_before_status_checks", None) or PLUGIN_FIRST_STATUS_WAIT_S
    min_job_age = min_job_age_s(run)
    if min_job_age is not None and min_job_age < 3 * first_wait_s:
        raise StatusUnreliable(
            f"sacct fails on this cluster ({failure}) and squeue lists a finished job for MinJobAge={min_job_age} s "
            f"only, less than three times the first status wait ({first_wait_s} s), so the slurm plugin would poll "
            f"sacct and wait forever. Pass --slurm-init-seconds-before-status-checks {max(min_job_age // 3, 1)} "
            "or ask the administrators for MinJobAge >= 300 in slurm.conf")
    executor_settings.status_command = "squeue"
    return (f"warning: sacct fails on this cluster ({failure}), so job status comes from squeue instead; squeue "
            "sees a finished job for MinJobAge seconds only (slurm.conf: 300 or more). To choose yourself, pass "
            "--slurm-status-command squeue")
