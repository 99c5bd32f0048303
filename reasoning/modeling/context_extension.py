"""Context extension by RoPE scaling: the settings that let a model read longer inputs.

A model pretrained on ``original_length`` positions is given rotary position
embeddings that cover ``target_length`` positions; ``factor = target / original``.
The extender only computes transformers settings; the context stage
(``reasoning.stages.context``) loads, optionally fine-tunes on long rows and saves::

    from reasoning import create_context_extender
    extender = create_context_extender(131072, scaling_type="yarn", model_config="builtin:smollm2-135m-instruct")
    model = AutoModelForCausalLM.from_pretrained(path, **extender.get_model_kwargs())
    # without a model config (the seed's snippet): the scaling lands on the checkpoint's own base
    kwargs = create_context_extender(target_length=131072, original_length=32768, scaling_type="yarn").get_model_kwargs()
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    # or: extender.apply_to_config(config); config.save_pretrained(out)

Scaling types (transformers 5 keeps RoPE settings in ``config.rope_parameters``; the
keys below are the ones its ``modeling_rope_utils`` validates and reads):

- ``linear`` (position interpolation): ``{"rope_type": "linear", "factor"}``; every
  frequency is divided by the factor.
- ``dynamic`` (dynamic NTK): ``{"rope_type": "dynamic", "factor"}``; the RoPE base grows
  with the running sequence length once it passes ``max_position_embeddings``. Why
  ``max_position_embeddings`` stays at the ORIGINAL length for this type only:
  transformers uses that field as the reference length of the dynamic formula
  (``base * (factor * seq_len / max_position_embeddings - (factor - 1)) ** (d / (d - 2))``)
  and as the length below which it resets; setting it to the target would leave the
  model unscaled up to the target. Use ``extender.target_length`` for the training length.
- ``yarn``: ``{"rope_type": "yarn", "factor", "original_max_position_embeddings"}``;
  interpolates low frequencies, keeps high ones, and scales attention by
  ``0.1 * ln(factor) + 1`` (transformers' defaults beta_fast=32, beta_slow=1).
- ``ntk`` (NTK-aware base change, static): transformers has no "ntk" rope type, so
  this is ``{"rope_type": "default"}`` with a new base
  ``rope_theta' = rope_theta * factor ** (d / (d - 2))`` where ``d`` is the rotary
  dimension (head_dim * partial_rotary_factor). Any loader then reproduces it.

Every type keeps the model's ``rope_theta`` (and ``partial_rotary_factor``); all but
``dynamic`` set ``max_position_embeddings`` to the target.
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import os
from dataclasses import dataclass, field
from typing import Any

from reasoning.errors import InputError

SCALING_TYPES = ("linear", "dynamic", "yarn", "ntk")
DEFAULT_TARGET_LENGTH = 131072
# transformers' RotaryEmbeddingConfigMixin.default_theta: the base a config without
# any RoPE field gets, so a legacy config dict without one means exactly this.
DEFAULT_ROPE_THETA = 10_000.0
# Keys of rope_parameters that describe the unscaled RoPE and survive a change of type.
_BASE_KEYS = ("rope_theta", "partial_rotary_factor")


@dataclass
class _RopeBase:
    """What the extender needs to know about the model's unscaled RoPE."""

    rope_parameters: dict[str, Any]       # flat transformers rope_parameters (may already be scaled)
    max_position_embeddings: int | None
    rotary_dim: int | None                # head_dim * partial_rotary_factor
    has_top_level_original: bool = False  # Phi-3 style config.original_max_position_embeddings

    @property
    def rope_theta(self) -> float:
        return float(self.rope_parameters.get("rope_theta") or DEFAULT_ROPE_THETA)

    @property
    def pretraining_length(self) -> int | None:
        """The length the model was trained on: a recorded original, else max positions."""
        original = self.rope_parameters.get("original_max_position_embeddings")
        return int(original) if original else self.max_position_embeddings


@dataclass
class ContextExtender:
    """RoPE scaling from ``original_length`` to ``target_length`` positions."""

    target_length: int
    original_length: int
    scaling_type: str
    _base: _RopeBase | None = field(default=None, repr=False)

    @property
    def factor(self) -> float:
        return self.target_length / self.original_length

    @property
    def max_position_embeddings(self) -> int:
        # dynamic NTK measures growth against max_position_embeddings: see the module docstring.
        return self.original_length if self.scaling_type == "dynamic" else self.target_length

    def rope_parameters(self, base: _RopeBase | None = None) -> dict[str, Any]:
        """The transformers ``rope_parameters`` dict for this scaling on ``base`` (default: the model's)."""
        base = base or self._require_base()
        params: dict[str, Any] = {key: base.rope_parameters[key] for key in _BASE_KEYS
                                  if base.rope_parameters.get(key) is not None}
        params["rope_theta"] = base.rope_theta
        factor = float(self.factor)
        if self.scaling_type == "linear":
            params.update(rope_type="linear", factor=factor)
        elif self.scaling_type == "dynamic":
            params.update(rope_type="dynamic", factor=factor)
        elif self.scaling_type == "yarn":
            params.update(rope_type="yarn", factor=factor,
                          original_max_position_embeddings=int(self.original_length))
        else:  # ntk
            params.update(rope_type="default", rope_theta=ntk_rope_theta(base.rope_theta, factor,
                                                                         _rotary_dim_of(base)))
        return params

    def get_model_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``AutoModelForCausalLM.from_pretrained(path, **kwargs)``.

        from_pretrained sets each key that names a config attribute on the loaded config,
        replacing ``rope_parameters`` as a whole: that is why rope_theta is always included.
        Without a model config the base is unknown here, so ``rope_parameters`` is a
        :class:`CheckpointRope`: the scaling is applied by from_pretrained on top of the
        checkpoint's own RoPE base (see that class for how).
        """
        if self._base is None:
            install_checkpoint_rope_hook()
            return {"rope_parameters": CheckpointRope(self)}
        base = self._base
        kwargs: dict[str, Any] = {"rope_parameters": self.rope_parameters(base),
                                  "max_position_embeddings": self.max_position_embeddings}
        if base.has_top_level_original and self.scaling_type == "yarn":
            # Phi-3 style configs: transformers prefers this attribute over the dict entry.
            kwargs["original_max_position_embeddings"] = int(self.original_length)
        return kwargs

    def apply_to_config(self, config: Any) -> Any:
        """Put the scaling into ``config`` (a PretrainedConfig or a config.json dict) and return it.

        A saved config then carries the scaling and later loads need no extra argument.
        The unscaled RoPE (theta, rotary dimension) comes from ``model_config`` given at
        creation, else from the first config applied to; the extender keeps it, so applying
        again to an already scaled config is idempotent (NTK would otherwise raise the
        base twice).
        """
        if self._base is None:
            self._base = read_rope_base(config)
        base = self._base
        params = self.rope_parameters(base)
        if isinstance(config, dict):
            # Legacy keys would win over rope_parameters when transformers reads the dict.
            config.pop("rope_scaling", None)
            config.pop("rope_theta", None)
            config["rope_parameters"] = params
            config["max_position_embeddings"] = self.max_position_embeddings
            if base.has_top_level_original and self.scaling_type == "yarn":
                config["original_max_position_embeddings"] = int(self.original_length)
            return config
        config.rope_parameters = params
        config.max_position_embeddings = self.max_position_embeddings
        if base.has_top_level_original and self.scaling_type == "yarn":
            config.original_max_position_embeddings = int(self.original_length)
        if hasattr(config, "validate_rope"):
            config.validate_rope()  # raises on missing keys, so a bad dict never reaches a save
        return config

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary for artifact metadata and model cards."""
        summary: dict[str, Any] = {
            "scaling_type": self.scaling_type,
            "factor": self.factor,
            "original_length": self.original_length,
            "target_length": self.target_length,
            "max_position_embeddings": self.max_position_embeddings,
        }
        if self._base is not None:
            summary["original_rope_theta"] = self._base.rope_theta
            summary["rope_parameters"] = self.rope_parameters()
        return summary

    def _require_base(self) -> _RopeBase:
        if self._base is None:
            raise InputError("the model's RoPE settings are unknown: pass model_config to "
                             "create_context_extender (or use apply_to_config(config) or get_model_kwargs())",
                             field="model_config")
        return self._base


class CheckpointRope(dict):
    """``rope_parameters`` whose RoPE base comes from the checkpoint being loaded.

    transformers 5 applies a from_pretrained keyword that names a config attribute by
    assignment after the checkpoint's config is built (``PreTrainedConfig.from_dict``), so a
    plain dict would replace the checkpoint's ``rope_parameters`` whole and a missing
    ``rope_theta`` would end up as None or the default 10000 (SmolLM2 uses 100000). No
    keyword of from_pretrained merges into the loaded RoPE, so :func:`install_checkpoint_rope_hook`
    wraps ``from_dict`` once: a ``rope_parameters`` of this type is taken out of the keywords
    and the extender is applied to the config built from the checkpoint, reading its base
    (theta, rotary dimension, pretraining length) there. Any other keyword is untouched.

    The dict holds the settings known without the checkpoint, for display. Should the hook
    be bypassed (a config class whose from_dict does not reach the base one), reading
    ``rope_theta`` from it raises instead of silently running on a default base.
    """

    def __init__(self, extender: ContextExtender) -> None:
        known: dict[str, Any] = {"scaling_type": extender.scaling_type, "factor": float(extender.factor)}
        if extender.scaling_type == "yarn":
            known["original_max_position_embeddings"] = int(extender.original_length)
        super().__init__(known)
        self.extender = extender

    def __missing__(self, key: str) -> Any:
        raise KeyError(f"{key!r}: these rope_parameters from get_model_kwargs() were never applied on top of a "
                       "checkpoint's RoPE (transformers' PreTrainedConfig.from_dict was bypassed); pass "
                       "model_config to create_context_extender or use apply_to_config(config)")

    def apply_to(self, config: Any) -> Any:
        """Scale ``config`` on its own base; a fresh extender each time, so one kwargs dict
        can load several checkpoints with different bases."""
        return dataclasses.replace(self.extender, _base=None).apply_to_config(config)


def install_checkpoint_rope_hook() -> None:
    """Make ``PreTrainedConfig.from_dict`` apply a :class:`CheckpointRope` keyword (idempotent)."""
    from transformers import PreTrainedConfig

    current = PreTrainedConfig.__dict__.get("from_dict")
    if getattr(getattr(current, "__func__", None), "_applies_checkpoint_rope", False):
        return
    if not isinstance(current, classmethod):
        raise RuntimeError("transformers' PreTrainedConfig.from_dict is no longer a classmethod; "
                           "get_model_kwargs() without model_config cannot apply RoPE scaling on the checkpoint")
    original = current.__func__

    @functools.wraps(original)
    def from_dict(cls, config_dict, **kwargs):
        rope = kwargs.get("rope_parameters")
        if not isinstance(rope, CheckpointRope):
            return original(cls, config_dict, **kwargs)
        del kwargs["rope_parameters"]
        result = original(cls, config_dict, **kwargs)
        rope.apply_to(result[0] if isinstance(result, tuple) else result)
        return result

    from_dict._applies_checkpoint_rope = True
    PreTrainedConfig.from_dict = classmethod(from_dict)


def ntk_rope_theta(rope_theta: float, factor: float, rotary_dim: int) -> float:
    """NTK-aware base: theta * factor^(d/(d-2)) stretches the lowest frequency by ``factor``."""
    return float(rope_theta) * float(factor) ** (rotary_dim / (rotary_dim - 2))


def _rotary_dim_of(base: _RopeBase) -> int:
    if not base.rotary_dim or base.rotary_dim <= 2:
        raise InputError(f"NTK scaling needs a rotary dimension above 2, got {base.rotary_dim}",
                         field="model_config")
    return base.rotary_dim


# ---------------------------------------------------------------- reading configs

def _get(config: Any, key: str, default: Any = None) -> Any:
    if isinstance(config, dict):
        return config.get(key, default)
    return getattr(config, key, default)


def read_rope_base(config: Any) -> _RopeBase:
    """Extract the flat RoPE parameters, max positions and rotary dimension of a config."""
    if not isinstance(config, dict) and hasattr(config, "config") and not hasattr(config, "rope_parameters"):
        config = config.config  # a model was passed
    params = _get(config, "rope_parameters")
    if params is None:
        params = _get(config, "rope_scaling")  # transformers 4 config.json
    theta = _get(config, "rope_theta")
    if params is None and theta is None and not isinstance(config, dict) and not hasattr(config, "rope_parameters"):
        raise InputError(f"{type(config).__name__} has no rotary position embeddings to scale", field="model")
    params = copy.deepcopy(dict(params or {}))
    if params and all(isinstance(value, dict) for value in params.values()):
        raise InputError("per-layer-type RoPE parameters (" + ", ".join(params) + ") are not supported "
                         "by the context extender", field="model")
    if "type" in params and "rope_type" not in params:
        params["rope_type"] = params.pop("type")  # transformers 4 spelling
    params.setdefault("rope_type", "default")
    if params.get("rope_theta") is None:
        params["rope_theta"] = float(theta) if theta is not None else DEFAULT_ROPE_THETA
    partial = params.get("partial_rotary_factor") or _get(config, "partial_rotary_factor") or 1.0
    if partial != 1.0:
        params["partial_rotary_factor"] = partial
    head_dim = _get(config, "head_dim")
    if not head_dim and _get(config, "hidden_size") and _get(config, "num_attention_heads"):
        head_dim = _get(config, "hidden_size") // _get(config, "num_attention_heads")
    max_positions = _get(config, "max_position_embeddings")
    top_level_original = _get(config, "original_max_position_embeddings")
    if top_level_original and not params.get("original_max_position_embeddings"):
        params["original_max_position_embeddings"] = top_level_original
    return _RopeBase(rope_parameters=params,
                     max_position_embeddings=int(max_positions) if max_positions else None,
                     rotary_dim=int(head_dim * partial) if head_dim else None,
                     has_top_level_original=bool(top_level_original))


def load_model_config(reference: str | os.PathLike) -> Any:
    """A PretrainedConfig for a model reference (local dir, builtin:, s3://, hub id)."""
    from transformers import AutoConfig

    from reasoning.modeling.models import resolve_model
    return AutoConfig.from_pretrained(resolve_model(reference))


def _positive_length(value: Any, flag: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise InputError(f"must be a whole number of tokens, got {value!r}", field=flag)
    if value <= 0:
        raise InputError(f"must be positive, got {value}", field=flag)
    return int(value)


def check_scaling_type(scaling_type: Any) -> str:
    """Normalise a scaling type name or raise an InputError listing the known ones."""
    name = str(scaling_type).strip().lower()
    if name not in SCALING_TYPES:
        raise InputError(f"unknown scaling type {scaling_type!r}; known: {', '.join(SCALING_TYPES)}",
                         field="--scaling-type")
    return name


def create_context_extender(target_length: int = DEFAULT_TARGET_LENGTH, original_length: int | None = None,
                            scaling_type: str = "yarn", model_config: Any = None) -> ContextExtender:
    """Validate the request and build a ContextExtender.

    ``model_config`` may be a transformers PretrainedConfig, a config.json dict, a model,
    or a model reference (directory, ``builtin:...``, ``s3://...``). ``original_length``
    defaults to the model's pretraining length: ``rope_parameters["original_max_position_embeddings"]``
    when the model is already scaled, else ``max_position_embeddings``.
    Cheap checks (types, lengths given as numbers) run before any config is loaded.
    """
    target = _positive_length(target_length, "--target-context")
    kind = check_scaling_type(scaling_type)
    original = None if original_length is None else _positive_length(original_length, "--original-context")
    if original is not None and target <= original:
        raise InputError(f"target context {target} must be above the original context {original}",
                         field="--target-context")
    base = None
    if model_config is not None:
        if isinstance(model_config, (str, os.PathLike)):
            model_config = load_model_config(model_config)
        base = read_rope_base(model_config)
    if original is None:
        if base is None or not base.pretraining_length:
            raise InputError("the original context length is unknown: give --original-context or a model "
                             "whose config has max_position_embeddings", field="--original-context")
        original = _positive_length(base.pretraining_length, "--original-context")
        if target <= original:
            raise InputError(f"target context {target} must be above the model's original context {original}",
                             field="--target-context")
    extender = ContextExtender(target_length=target, original_length=original, scaling_type=kind, _base=base)
    if base is not None and kind == "ntk":
        _rotary_dim_of(base)  # fail now, not at load time
    return extender
