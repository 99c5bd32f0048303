"""Dynamic sampling (DAPO, Yu et al. 2025) on top of TRL's GRPOTrainer.

A group whose completions all got the same reward has zero advantage everywhere: it costs a
full sampling and scoring pass and teaches nothing. On the default CPU recipe this was half to
all of the groups in most steps (``frac_reward_zero_std`` 0.5-1.0), so most steps did not learn.
DAPO drops such groups and samples fresh prompts until the step's batch is full of groups that
carry a signal. TRL 1.16 does not implement it (its paper index lists DAPO's dynamic sampling as
unsupported); this mixin adds it around TRL's own ``_generate_and_score_completions``:

1. TRL samples and scores the generation batch it got from its dataloader (unchanged);
2. groups whose weighted reward has zero spread (the test TRL's ``frac_reward_zero_std`` uses)
   are dropped; the kept rows of TRL's output are kept as TRL computed them;
3. while groups are missing, as many fresh prompts as are missing are drawn from the training set
   (a seeded stream of its own, so TRL's sampler order is untouched) and go through step 1 again,
   for at most ``max_extra_rounds`` extra rounds;
4. if the cap is reached, the batch is topped up with dropped groups (advantage exactly 0: they add
   no gradient, as in plain TRL) so every step keeps TRL's batch shape.

When no group is flat the output is TRL's own, object for object; ``dynamic_sampling=False``
never enters the loop. Logged per step: ``dynamic_sampling/groups_dropped``,
``dynamic_sampling/prompts_sampled``, ``dynamic_sampling/frac_groups_dropped``,
``dynamic_sampling/rounds`` and ``dynamic_sampling/flat_groups_kept`` (slots filled after the cap).
TRL's own metrics (reward, frac_reward_zero_std, ...) are averaged over every round sampled.

Scope: one process, text-only prompts, a map-style dataset; elsewhere it switches itself off (logged).
Advantages are TRL's, computed per sampling round: identical to a single pass with
``scale_rewards="group"`` (the default), per round rather than per batch with ``"batch"``.
"""
from __future__ import annotations

import logging
from typing import Any

import torch
import torch.nn.functional as F

log = logging.getLogger(__name__)

# Rows of TRL's output dict that are left-padded prompts, and right-padded completions (value when padded).
PROMPT_KEYS = {"prompt_ids": None, "prompt_mask": 0}
COMPLETION_KEYS = {"completion_ids": None, "completion_mask": 0, "old_per_token_logps": 0.0,
                   "ref_per_token_logps": 0.0, "sampling_per_token_logps": 0.0, "tool_mask": 1,
                   "importance_sampling_ratio": 0.0}


def flat_groups(rewards_per_func: torch.Tensor, weights: torch.Tensor, group_size: int) -> torch.Tensor:
    """One bool per group: True when every completion of the group has the same weighted reward.

    >>> flat_groups(torch.tensor([[1.0], [1.0], [0.0], [1.0]]), torch.tensor([1.0]), 2).tolist()
    [True, False]
    """
    rewards = (rewards_per_func * weights.to(rewards_per_func.device).unsqueeze(0)).nansum(dim=1)
    rewards[torch.isnan(rewards_per_func).all(dim=1)] = torch.nan  # unscorable rows, as TRL marks them
    grouped = rewards.view(-1, group_size)
    spread = torch.nan_to_num(grouped.amax(dim=1) - grouped.amin(dim=1), nan=0.0)
    # Same tolerance as TRL's is_std_zero (torch.isclose against 0: atol 1e-8).
    return spread <= 1e-8


def select_rows(output: dict[str, Any], rows: torch.Tensor) -> dict[str, Any]:
    """The rows ``rows`` of TRL's scored generation batch (tensors with one row per completion)."""
    unknown = set(output) - set(PROMPT_KEYS) - set(COMPLETION_KEYS) - {"advantages", "num_items_in_batch"}
    if unknown:
        raise RuntimeError(f"dynamic sampling does not know how to select rows of {sorted(unknown)} "
                           "(multimodal inputs?); run with --no-dynamic-sampling")
    selected = {key: value[rows] for key, value in output.items() if key != "num_items_in_batch"}
    selected["num_items_in_batch"] = _loss_tokens(selected)
    return selected


def _loss_tokens(batch: dict[str, Any]) -> torch.Tensor:
    """TRL's num_items_in_batch (one process): completion tokens the loss counts."""
    mask = batch["completion_mask"]
    if "tool_mask" in batch:
        mask = mask * batch["tool_mask"]
    return mask.sum()


def _pad_to(tensor: torch.Tensor, width: int, value: float, left: bool) -> torch.Tensor:
    missing = width - tensor.size(1)
    if missing == 0:
        return tensor
    return F.pad(tensor, (missing, 0) if left else (0, missing), value=value)


def concat_batches(parts: list[dict[str, Any]], pad_token_id: int) -> dict[str, Any]:
    """Stack scored batches row-wise: prompts re-padded on the left, completions on the right (as TRL pads),
    and ``num_items_in_batch`` recounted (the loss normalises by it)."""
    if len(parts) == 1:
        return parts[0]
    merged: dict[str, Any] = {}
    for key in parts[0]:
        if key == "num_items_in_batch":
            continue
        tensors = [part[key] for part in parts]
        if key in PROMPT_KEYS or key in COMPLETION_KEYS:
            left = key in PROMPT_KEYS
            pad = (PROMPT_KEYS if left else COMPLETION_KEYS)[key]
            pad = pad_token_id if pad is None else pad
            if tensors[0].dim() == 2 and not (key == "importance_sampling_ratio" and tensors[0].size(1) == 1):
                width = max(t.size(1) for t in tensors)
                tensors = [_pad_to(t, width, pad, left) for t in tensors]
        merged[key] = torch.cat(tensors, dim=0)
    merged["num_items_in_batch"] = _loss_tokens(merged)
    return merged


class PromptStream:
    """An endless, seeded, reshuffled-every-pass stream of row indices of the training set."""

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.generator = torch.Generator().manual_seed(seed)
        self.order: list[int] = []

    def take(self, n: int) -> list[int]:
        out = []
        while len(out) < n:
            if not self.order:
                self.order = torch.randperm(self.size, generator=self.generator).tolist()
            out.append(self.order.pop())
        return out


class DynamicSamplingMixin:
    """GRPOTrainer that refills the batch with fresh prompts for groups without reward spread (DAPO)."""

    def __init__(self, *args, dynamic_sampling: bool = True, max_extra_rounds: int = 3, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if max_extra_rounds < 0:
            raise ValueError(f"max_extra_rounds must be >= 0, got {max_extra_rounds}")
        self.max_extra_rounds = max_extra_rounds
        self.dynamic_sampling = dynamic_sampling and self._dynamic_sampling_applies()
        self._last_rewards_per_func: torch.Tensor | None = None
        # Whole-run counts (the logged values are per step, averaged over --logging-steps).
        self.dynamic_sampling_totals = {"groups_dropped": 0, "prompts_sampled": 0, "flat_groups_kept": 0}
        self._prompt_stream = PromptStream(len(self.train_dataset), self.args.seed + 1) \
            if self.dynamic_sampling else None

    def _dynamic_sampling_applies(self) -> bool:
        reasons = []
        if self.accelerator.num_processes != 1:
            reasons.append("several processes would have to agree on every extra round")
        if getattr(self, "_is_vlm", False):
            reasons.append("multimodal inputs")
        if self.environment_factories is not None or self.tools:
            reasons.append("tool/environment rollouts")
        if not hasattr(self.train_dataset, "__getitem__") or not hasattr(self.train_dataset, "__len__"):
            reasons.append("an iterable training set (no fresh prompts to draw)")
        if reasons:
            log.warning("dynamic sampling off: %s", "; ".join(reasons))
            return False
        return True

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self._last_rewards_per_func = rewards
        return rewards

    def _fresh_inputs(self, groups: int) -> list[dict[str, Any]]:
        rows = [self.train_dataset[i] for i in self._prompt_stream.take(groups)]
        # TRL's sampler repeats each prompt num_generations times in a row: a group is a consecutive block.
        return [dict(row) for row in rows for _ in range(self.num_generations)]

    def _generate_and_score_completions(self, inputs):
        if not self.dynamic_sampling or not self.model.training:
            return super()._generate_and_score_completions(inputs)
        size = self.num_generations
        wanted = len(inputs) // size
        kept: list[dict[str, Any]] = []
        flat_parts: list[dict[str, Any]] = []
        kept_groups = dropped = sampled = rounds = 0
        batch = inputs
        while True:
            output = super()._generate_and_score_completions(batch)
            rounds += 1
            sampled += len(batch) // size
            flat = flat_groups(self._last_rewards_per_func, self.reward_weights, size)
            keep = (~flat).nonzero().flatten()[: wanted - kept_groups]
            dropped += int(flat.sum())
            if rounds == 1 and len(keep) == wanted:
                kept = [output]  # nothing flat: TRL's batch as it is
            elif len(keep):
                kept.append(select_rows(output, _group_rows(keep, size, output["advantages"].device)))
            kept_groups += len(keep)
            if flat.any():
                flat_parts.append(select_rows(output, _group_rows(flat.nonzero().flatten(), size,
                                                                   output["advantages"].device)))
            if kept_groups == wanted or rounds > self.max_extra_rounds:
                break
            batch = self._fresh_inputs(wanted - kept_groups)
        filler = wanted - kept_groups
        if filler:
            # Cap reached: keep TRL's batch shape with groups that carry no gradient (advantage 0).
            flats = concat_batches(flat_parts, self._tokenizer.pad_token_id)
            flats = select_rows(flats, torch.arange(filler * size, device=flats["advantages"].device))
            flats["advantages"] = torch.zeros_like(flats["advantages"])
            kept.append(flats)
        for key, value in (("groups_dropped", dropped), ("prompts_sampled", sampled), ("flat_groups_kept", filler)):
            self.dynamic_sampling_totals[key] += value
        metrics = self._metrics["train"]
        metrics["dynamic_sampling/groups_dropped"].append(float(dropped))
        metrics["dynamic_sampling/prompts_sampled"].append(float(sampled))
        metrics["dynamic_sampling/frac_groups_dropped"].append(dropped / sampled)
        metrics["dynamic_sampling/rounds"].append(float(rounds))
        metrics["dynamic_sampling/flat_groups_kept"].append(float(filler))
        return concat_batches(kept, self._tokenizer.pad_token_id)


def _group_rows(groups: torch.Tensor, size: int, device) -> torch.Tensor:
    """Row indices of whole groups (groups are consecutive blocks of ``size`` rows)."""
    return (groups.to(device).unsqueeze(1) * size + torch.arange(size, device=device)).flatten()


def with_dynamic_sampling(trainer_class: type) -> type:
    """``trainer_class`` (GRPOTrainer or a subclass) with dynamic sampling in front of it."""
    from reasoning.fast_grpo import private_api
    private_api.require(private_api.DYNAMIC_SAMPLING_SYMBOLS, what="dynamic sampling (reasoning/modeling/dynamic_sampling.py)",
                        fallback="run with --no-dynamic-sampling")
    return type(f"DynamicSampling{trainer_class.__name__}", (DynamicSamplingMixin, trainer_class),
                {"__module__": __name__, "__doc__": DynamicSamplingMixin.__doc__})
