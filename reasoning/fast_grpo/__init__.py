"""Speed-ups for GRPO that reach into private TRL, transformers and torch internals, kept apart.

The GRPO stage uses them with ``--trainer fast`` (the default; recipe key ``trainer``);
``--trainer trl`` runs TRL's own ``GRPOTrainer`` with none of them, for when an upgrade
breaks one. Same algorithm either way: same samples, rewards, losses for the same seed.

- ``trainer.py``: ``FastGRPOTrainer`` (sampling through a merged-LoRA generation twin,
  each group's prompt computed once) and the twin itself;
- ``shared_prefix.py``: one forward per distinct prompt, its KV cache shared by its group;
- ``cpu_kernels.py``: oneDNN linear layers for the twin where they beat MKL on this CPU;
- ``profiler.py``: seconds per phase of each step, on request (``--profile``), on either trainer;
- ``private_api.py``: the one list of private symbols all of the above touch, checked when the
  fast trainer is built and by ``tests/test_fast_grpo_private_api.py``, so an upgrade that
  removes one fails at startup naming it.

``FastGRPOTrainer`` is imported lazily (``from reasoning.fast_grpo import FastGRPOTrainer``) so
the twin and the profiler import without TRL.
"""
from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "FastGRPOTrainer":
        from reasoning.fast_grpo import trainer
        return trainer.FastGRPOTrainer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
