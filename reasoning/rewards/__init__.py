"""Rewards for GRPO: correctness, format, consistency, length, process, and their weighted mean.

Example::

    from reasoning import create_reward_function, RewardConfig
    config = RewardConfig(correctness_weight=0.5, format_weight=0.3)
    reward_fn = create_reward_function("combined", config)
    result = reward_fn.compute(response="<think>6 * 7 = 42</think>\\n42", reference="42", problem="What is 6 * 7?")
    result.reward, result.components, result.reasons

``combined`` is the weighted **mean** of the components that apply to a row:
``sum(w_i * s_i) / sum(w_i)`` over components with a score (correctness and length need
a reference or tests). Each component lies in [0, 1], so the combined reward does too,
whatever the weights sum to; a weight of 0 switches a component off.

Every reward is also a TRL ``GRPOTrainer`` reward function: it is called as
``fn(prompts=..., completions=..., completion_ids=..., **columns)`` where completions are
strings or chat message lists and the dataset columns ``answer``, ``reasoning_type``,
``tests``, ``entry_point`` arrive as lists (one entry per completion); it returns one
float per completion, or None where the reward does not apply (TRL turns None into NaN
and ignores it). ``trl_reward_functions(config)`` gives the components with weight > 0
and their normalised weights for ``GRPOTrainer(reward_funcs=..., args.reward_weights=...)``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from reasoning.errors import InputError
from reasoning.rewards.components import COMPONENT_FUNCTIONS, Sample
from reasoning.rewards.config import COMPONENTS, RewardConfig
from reasoning.schema import THINK_OPEN

REWARD_NAMES = (*COMPONENTS, "combined")
__all__ = ["REWARD_NAMES", "RewardConfig", "RewardFunction", "RewardResult", "create_reward_function",
           "trl_reward_functions"]


@dataclass
class RewardResult:
    reward: float
    components: dict[str, float] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)


def _text_of(value: Any) -> str:
    """A completion or prompt as text: strings as they are, chat messages joined."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return _text_of(value.get("content"))
    if isinstance(value, (list, tuple)):
        return "".join(_text_of(item) for item in value)
    return str(value)


def prompt_opens_think(prompt: Any) -> bool:
    """True when the prompt ends inside an opened <think> (a template or an assistant prefill)."""
    if isinstance(prompt, (list, tuple)) and prompt and isinstance(prompt[-1], dict):
        last = prompt[-1]
        return last.get("role") == "assistant" and _text_of(last.get("content")).rstrip().endswith(THINK_OPEN)
    return _text_of(prompt).rstrip().endswith(THINK_OPEN)


def problem_of(prompt: Any) -> str:
    if isinstance(prompt, (list, tuple)):
        users = [m for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        return _text_of(users[-1].get("content")) if users else _text_of(prompt)
    return _text_of(prompt)


def _column(columns: dict[str, Any], name: str, index: int) -> Any:
    values = columns.get(name)
    if values is None or isinstance(values, str):
        return values
    try:
        return values[index]
    except (IndexError, TypeError, KeyError):
        return None


class RewardFunction:
    """One named reward (a component or ``combined``); see the module docstring."""

    def __init__(self, name: str, config: RewardConfig):
        self.name = name
        self.__name__ = name  # TRL logs rewards under this name
        self.config = config

    def _sample(self, response: Any, reference: Any, problem: Any, reasoning_type: Any, tests: Any,
                entry_point: Any, prompt: Any = None) -> Sample:
        text = _text_of(response)[: self.config.max_response_chars]
        prefilled = self.config.think_prefilled
        if prefilled is None:
            prefilled = prompt_opens_think(prompt) if prompt is not None else False
        if prefilled:
            text = THINK_OPEN + text  # the completion continues the block the prompt opened
        kind = getattr(reasoning_type, "value", reasoning_type) or "math"
        return Sample(response=text, reference=None if reference is None else str(reference),
                      problem=_text_of(problem) if problem is not None else problem_of(prompt),
                      reasoning_type=str(kind).strip().lower(), tests=tests or None,
                      entry_point=entry_point or None, config=self.config)

    def _score(self, sample: Sample) -> RewardResult:
        names = COMPONENTS if self.name == "combined" else (self.name,)
        weights = self.config.weights()
        components, reasons = {}, {}
        total = weight_sum = 0.0
        for name in names:
            if self.name == "combined" and weights[name] == 0:
                continue
            score, reason = COMPONENT_FUNCTIONS[name](sample)
            reasons[name] = reason
            if score is None:
                continue
            score = min(1.0, max(0.0, float(score)))
            components[name] = score
            weight = weights[name] if self.name == "combined" else 1.0
            total += weight * score
            weight_sum += weight
        reward = total / weight_sum if weight_sum > 0 else float("nan")
        return RewardResult(reward=reward, components=components, reasons=reasons)

    def compute(self, response: Any, reference: Any = None, problem: Any = None, reasoning_type: Any = "math",
                tests: str | None = None, entry_point: str | None = None, prompt: Any = None) -> RewardResult:
        """Score one response. ``reward`` is 0.0 when no component applies (reasons say why)."""
        result = self._score(self._sample(response, reference, problem, reasoning_type, tests, entry_point, prompt))
        if result.reward != result.reward:  # NaN: nothing applied
            result.reward = 0.0
        return result

    def __call__(self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] | None = None,
                 **columns: Any) -> list[float | None]:
        """The TRL reward-function form: one float (or None) per completion."""
        completions = list(completions or [])
        prompts = list(prompts) if prompts is not None else [None] * len(completions)
        rewards: list[float | None] = []
        for index, completion in enumerate(completions):
            sample = self._sample(
                completion, _column(columns, "answer", index), _column(columns, "problem", index),
                _column(columns, "reasoning_type", index) or "math", _column(columns, "tests", index),
                _column(columns, "entry_point", index), prompts[index] if index < len(prompts) else None)
            reward = self._score(sample).reward
            rewards.append(None if reward != reward else reward)
        return rewards

    def __repr__(self) -> str:
        return f"RewardFunction({self.name!r})"


def create_reward_function(name: str, config: RewardConfig | None = None) -> RewardFunction:
    """A reward by name: correctness, format, consistency, length, process or combined."""
    if not isinstance(name, str) or name.strip().lower() not in REWARD_NAMES:
        raise InputError(f"unknown reward {name!r}; known: {', '.join(REWARD_NAMES)}", field="reward")
    if config is None:
        config = RewardConfig()
    elif not isinstance(config, RewardConfig):
        raise InputError(f"expected a RewardConfig, got {type(config).__name__}", field="config")
    return RewardFunction(name.strip().lower(), config)


def trl_reward_functions(config: RewardConfig | None = None) -> tuple[list[RewardFunction], list[float]]:
    """The components with weight > 0 and their weights normalised to sum to 1 (for GRPOConfig.reward_weights)."""
    config = config or RewardConfig()
    weights = {name: weight for name, weight in config.weights().items() if weight > 0}
    total = sum(weights.values())
    return ([create_reward_function(name, config) for name in weights],
            [weight / total for weight in weights.values()])
