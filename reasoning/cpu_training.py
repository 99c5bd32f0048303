"""Training settings for a CPU, used by the SFT and GRPO stages: same numbers, less time.

- Activation checkpointing recomputes the forward in the backward to save activation
  memory; a CPU run of the models this project trains on CPUs has that memory, and the
  recomputation more than doubled the backward (GRPO, SmolLM2-135M: 3.9 s -> 1.5 s).
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


def disable_cpu_gradient_checkpointing(trl_config, on_gpu: bool) -> bool:
    """Turn gradient checkpointing off on a CPU; returns whether it changed anything.

    Checkpointing trades a second forward pass for activation memory. Only a GPU is short
    of that memory; on a CPU the recomputation just costs a third of the training time."""
    enabled = getattr(trl_config, "activation_checkpointing", None)
    if enabled is None:
        enabled = trl_config.gradient_checkpointing
    if on_gpu or not enabled:
        return False
    # transformers 5 reads `activation_checkpointing`; `gradient_checkpointing` is its deprecated
    # alias, synchronised only at construction (setting the alias alone changes nothing), and
    # TRL still reads the alias: set both.
    trl_config.activation_checkpointing = False
    trl_config.gradient_checkpointing = False
    log.info("gradient checkpointing off on the CPU: it only recomputes activations that fit in RAM")
    return True
