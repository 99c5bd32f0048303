"""RewardConfig: the weights of the five rewards and their knobs (one dataclass, recipe keys = fields)."""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from reasoning.config import option
from reasoning.errors import InputError

COMPONENTS = ("correctness", "format", "consistency", "length", "process")


@dataclass
class RewardConfig:
    correctness_weight: float = option(0.4, "weight of the correctness reward (final answer / tests)")
    format_weight: float = option(0.2, "weight of the format reward (one <think>...</think> block, then an answer)")
    consistency_weight: float = option(0.2, "weight of the consistency reward (answer agrees with the reasoning, "
                                            "reasoning in the prompt's language)")
    length_weight: float = option(0.1, "weight of the cosine length reward")
    process_weight: float = option(0.1, "weight of the process reward (share of correct equations in the reasoning)")
    length_budget: int = option(4000, "length budget in characters (about 4 per token): correct answers lose "
                                      "reward as they approach it, wrong ones are never rewarded for brevity")
    length_max_correct: float = option(1.0, "length reward of an empty correct response")
    length_min_correct: float = option(0.5, "length reward of a correct response at or over the budget")
    length_max_wrong: float = option(0.25, "length reward of a wrong response at or over the budget")
    length_min_wrong: float = option(0.0, "length reward of an empty wrong response")
    process_neutral: float = option(0.5, "process reward when the reasoning holds no checkable equation")
    consistency_neutral: float = option(0.5, "answer-agreement score when the reasoning reaches no comparable result")
    think_prefilled: bool | None = option(None, "whether the prompt already opened <think> (the completion starts "
                                                "inside the block); unset: detected from the prompt")
    timeout: float = option(1.0, "seconds allowed for checking one answer (math equivalence)")
    code_timeout: float = option(10.0, "seconds allowed for one code completion's tests in the sandbox")
    max_response_chars: int = option(200_000, "responses are cut to this many characters before scoring")

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name.endswith("_weight") and (not isinstance(value, (int, float)) or not math.isfinite(value)
                                                   or value < 0):
                raise InputError(f"must be a finite number >= 0, got {value!r}", field=field.name)
        if sum(self.weights().values()) <= 0:
            raise InputError("at least one reward weight must be > 0", field="correctness_weight")
        if self.length_budget <= 0:
            raise InputError(f"must be > 0, got {self.length_budget}", field="length_budget")
        for name in ("length_max_correct", "length_min_correct", "length_max_wrong", "length_min_wrong",
                     "process_neutral", "consistency_neutral"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InputError(f"must lie in [0, 1], got {value}", field=name)
        if self.length_min_correct > self.length_max_correct:
            raise InputError("must not exceed length_max_correct", field="length_min_correct")
        if self.length_max_wrong > self.length_min_correct:
            # Otherwise a long wrong answer could out-score a long correct one.
            raise InputError("must not exceed length_min_correct", field="length_max_wrong")
        for name in ("timeout", "code_timeout"):
            if not getattr(self, name) > 0:
                raise InputError(f"must be > 0, got {getattr(self, name)}", field=name)
        if self.max_response_chars < 1000:
            raise InputError("must be at least 1000", field="max_response_chars")

    def weights(self) -> dict[str, float]:
        return {name: float(getattr(self, f"{name}_weight")) for name in COMPONENTS}


def weight_option(name: str) -> Any:
    """A dataclass field carrying RewardConfig's own default and help for the weight ``name``
    (``correctness_weight``, ...): the stage and pipeline configs that expose the weights take
    them from here, so a default changes in one place."""
    source = {field.name: field for field in fields(RewardConfig)}[name]
    return option(source.default, source.metadata["help"])
