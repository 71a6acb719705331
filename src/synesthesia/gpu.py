"""GPUs of their own for each job on a workstation.

``snakemake --resources gpu=N`` caps how many GPU jobs run at once but does not say
which device each one gets: without help every job sees every GPU and they all land
on ``cuda:0``. The Snakefile exports N (``export_gpu_slots``); each GPU job then takes
the first free slots (one, or a model's ``gpus``), holding an exclusive lock on
``<lock_dir>/gpu-<slot>.lock`` for as long as its process lives, and sees only those
devices through CUDA_VISIBLE_DEVICES. The locks go away with the process, so a killed
job frees its slots.

Inside a SLURM allocation the scheduler has already set CUDA_VISIBLE_DEVICES, which
is left alone. On a workstation a CUDA_VISIBLE_DEVICES set before Snakemake starts
names the devices the slots map to (slot i -> i-th listed device).
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

SLOTS_ENV = "SYNESTHESIA_GPU_SLOTS"
DEFAULT_LOCK_DIR = Path(".snakemake") / "gpu-slots"

log = logging.getLogger(__name__)

# The open lock files of the slots this process holds; kept referenced so the locks live
# as long as the process.
_held_slots: list = []


def export_gpu_slots(global_gpus) -> None:
    """Tell the jobs Snakemake starts how many GPU slots `--resources gpu=N` made."""
    value = getattr(global_gpus, "value", global_gpus)
    if value:
        os.environ[SLOTS_ENV] = str(int(value))
    else:
        os.environ.pop(SLOTS_ENV, None)


def _visible_devices() -> list[str] | None:
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    return None if listed is None else [device for device in listed.split(",") if device.strip()]


def _lock_free_slot(slot: int, lock_dir: Path):
    handle = open(lock_dir / f"gpu-{slot}.lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def claim_gpu(lock_dir: str | os.PathLike = DEFAULT_LOCK_DIR, count: int = 1) -> str | None:
    """Make this process see ``count`` GPUs of its own; return the devices it sees (or None).

    Call it before CUDA is initialised (the first ``torch.cuda`` call): models.base's
    ``resolve_device`` does. Claiming again in the same process keeps the first slots.
    """
    if _held_slots:
        return os.environ.get("CUDA_VISIBLE_DEVICES")
    if "SLURM_JOB_ID" in os.environ:
        log.info(f"GPU from SLURM: CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '')}")
        return os.environ.get("CUDA_VISIBLE_DEVICES")
    slots = int(os.environ.get(SLOTS_ENV, 0))
    if not slots:
        log.info("No GPU slots: run with `--resources gpu=N` (N = GPUs to use) so that each GPU job gets its "
            "own device; this job sees every device.")
        return None
    if count > slots:
        raise RuntimeError(f"this job needs {count} GPUs but --resources gpu={slots} makes only {slots} slots; "
                           f"run with --resources gpu={count} or more")
    devices = _visible_devices()
    if devices is not None and len(devices) < slots:
        raise RuntimeError(f"--resources gpu={slots} asks for more GPU slots than the {len(devices)} devices in "
                           f"CUDA_VISIBLE_DEVICES={os.environ['CUDA_VISIBLE_DEVICES']}; "
                           "lower gpu= or list more devices")
    lock_dir = Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    claimed = {}
    for slot in range(slots):
        handle = _lock_free_slot(slot, lock_dir)
        if handle is not None:
            claimed[slot] = handle
        if len(claimed) == count:
            _held_slots.extend(claimed.values())
            visible = ",".join(devices[slot] if devices is not None else str(slot) for slot in claimed)
            os.environ["CUDA_VISIBLE_DEVICES"] = visible
            log.info(f"GPU slots {sorted(claimed)} of {slots}: CUDA_VISIBLE_DEVICES={visible}")
            return visible
    for handle in claimed.values():
        handle.close()
    raise RuntimeError(f"only {len(claimed)} of {slots} GPU slots under {lock_dir} are free, this job needs {count}; "
                       "another workflow in this directory uses them, or a job was started outside Snakemake's "
                       "--resources gpu limit")
