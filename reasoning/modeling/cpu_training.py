"""Training settings for a CPU, used by the SFT and GRPO stages: same numbers, less time.

(Gradient checkpointing, which a CPU run leaves off unless asked, is resolved with the other
``auto`` settings in ``reasoning.stages.common.resolve_settings``.)

- In a container torch sizes its thread pool from the host's cores, not the pod's CPU quota;
  oversubscribed threads make every op slower.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

log = logging.getLogger(__name__)


def cpu_quota() -> int | None:
    """CPUs this process may use: the cgroup quota (Kubernetes limits) or the affinity mask."""
    counts = []
    try:
        counts.append(len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        pass
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            counts.append(max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return min(counts) if counts else None


def configure_cpu_threads() -> int:
    """Size torch's intra-op pool to the CPUs actually granted (unless OMP_NUM_THREADS says otherwise)."""
    if os.environ.get("OMP_NUM_THREADS") or torch.cuda.is_available():
        return torch.get_num_threads()
    granted = cpu_quota()
    if granted and granted < torch.get_num_threads():
        log.info("torch threads %d -> %d (the CPUs this container may use)", torch.get_num_threads(), granted)
        torch.set_num_threads(granted)
    return torch.get_num_threads()
