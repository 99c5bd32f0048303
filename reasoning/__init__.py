"""Train DeepSeek-R1 style reasoning models: CoT data, SFT, context extension, GRPO, evaluation.

The public API is imported lazily so that ``import reasoning`` stays fast and light
(components and the CLI import it in every process)::

    from reasoning import CoTGenerator, ReasoningType, create_reward_function, RewardConfig, create_context_extender
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "CoTGenerator": "reasoning.cot",
    "ReasoningType": "reasoning.schema",
    "create_reward_function": "reasoning.rewards",
    "RewardConfig": "reasoning.rewards",
    "create_context_extender": "reasoning.modeling.context_extension",
}
__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'reasoning' has no attribute {name!r}")
