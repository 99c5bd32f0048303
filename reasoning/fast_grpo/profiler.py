"""Seconds per phase of each GRPO step, on request (``--profile``).

``attach_phase_profiler(trainer)`` times generation, rewards, the scoring forwards, the loss
forward, backward and the optimizer step of any ``GRPOTrainer`` instance (TRL's own or
``FastGRPOTrainer``, so the benchmark measures both alike) and logs them per step as
``profile/*_s`` in ``train_log.jsonl``. It wraps private TRL methods on the instance and
``accelerator.backward`` (listed in ``private_api.py``), which is why it is off by default.
"""
from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Any

import torch
from transformers import TrainerCallback

PHASES = ("generation", "rewards", "scoring_forward", "loss_forward", "backward", "optimizer")


class PhaseProfiler(TrainerCallback):
    """Seconds per optimizer step spent in each phase of a GRPO iteration, logged as profile/<phase>_s
    (plus profile/iteration_s, profile/other_s and profile/completion_tokens)."""

    def __init__(self, trainer) -> None:
        self.trainer = trainer
        self.current: dict[str, float] = defaultdict(float)
        self.steps: list[dict[str, float]] = []
        self._step_started = 0.0
        self._optimizer_started = 0.0

    @contextmanager
    def phase(self, name: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.current[name] += time.perf_counter() - started

    def wrap(self, method_name: str, phase: str | None = None, *, pick=None, count_tokens: bool = False) -> None:
        """Replace trainer.<method_name> on the instance by a timed call (``pick`` chooses the phase per call)."""
        original = getattr(self.trainer, method_name)

        def timed(*args, **kwargs):
            name = pick() if pick is not None else phase
            with self.phase(name):
                result = original(*args, **kwargs)
            if count_tokens:
                completion_ids = result[0]
                self.current["completion_tokens"] += float(sum(len(ids) for ids in completion_ids))
            return result

        setattr(self.trainer, method_name, timed)

    def on_step_begin(self, args, state, control, **kwargs):
        self.current = defaultdict(float)
        self._step_started = time.perf_counter()

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        self._optimizer_started = time.perf_counter()

    def on_optimizer_step(self, args, state, control, **kwargs):
        self.current["optimizer"] += time.perf_counter() - self._optimizer_started

    def on_step_end(self, args, state, control, **kwargs):
        record = {name: self.current.get(name, 0.0) for name in PHASES}
        record["iteration"] = time.perf_counter() - self._step_started
        record["other"] = max(0.0, record["iteration"] - sum(record[name] for name in PHASES))
        record["completion_tokens"] = self.current.get("completion_tokens", 0.0)
        self.steps.append(record)
        metrics = self.trainer._metrics["train"]
        for name, value in record.items():
            metrics[f"profile/{name}" + ("" if name == "completion_tokens" else "_s")].append(value)


def attach_phase_profiler(trainer) -> PhaseProfiler:
    """Time the phases of ``trainer``'s iterations (works on any GRPOTrainer instance)."""
    from reasoning.fast_grpo import private_api
    private_api.require(private_api.PROFILER_SYMBOLS, what="the phase profiler", fallback="run without --profile")
    profiler = PhaseProfiler(trainer)
    profiler.wrap("_generate_single_turn", "generation", count_tokens=True)
    profiler.wrap("_calculate_rewards", "rewards")
    # Without gradients: the reference (and old-policy) log-probs; with: the loss forward.
    profiler.wrap("_get_per_token_logps_and_entropies",
                  pick=lambda: "loss_forward" if torch.is_grad_enabled() else "scoring_forward")
    accelerator = trainer.accelerator
    backward = accelerator.backward

    def timed_backward(*args, **kwargs):
        with profiler.phase("backward"):
            return backward(*args, **kwargs)

    accelerator.backward = timed_backward
    trainer.add_callback(profiler)
    return profiler


def profile_summary(history: list[dict[str, Any]], skip_first: int = 1) -> dict[str, float]:
    """Mean seconds per phase (and tokens) over the logged steps after the first ``skip_first``."""
    rows = [r for r in history if "profile/iteration_s" in r and r.get("step", 0) > skip_first]
    if not rows:
        return {}
    keys = [k for k in rows[0] if k.startswith("profile/")]
    return {k.removeprefix("profile/"): sum(r[k] for r in rows) / len(rows) for k in keys}
