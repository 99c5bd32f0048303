"""Every private TRL / transformers / torch / PEFT symbol the fast path leans on, in one list.

These are not public APIs: an upgrade may rename or remove any of them without notice. So
they are checked, by name, when ``FastGRPOTrainer`` is first built (``require``), on each
trainer instance (``require_instance_attributes``), and by ``tests/test_fast_grpo_private_api.py``:
a missing one is an error that names it and says how to run without the fast path
(``--trainer trl``), never a silent change of behaviour.

A symbol is ``module.attr.attr`` (the longest importable module prefix is imported, the rest
looked up with getattr); ``name(a, b)`` also requires those parameter names in its signature,
because the overrides pass them by position or name.
"""
from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable
from typing import Any

# The overrides and helpers of FastGRPOTrainer, shared_prefix and the generation twin.
FAST_PATH_SYMBOLS = (
    # FastGRPOTrainer overrides these two and calls them through super()
    "trl.GRPOTrainer._generate_single_turn(prompt_ids, images, multimodal_fields, num_generations, has_tool_images)",
    "trl.GRPOTrainer._get_per_token_logps_and_entropies(model, input_ids, attention_mask, logits_to_keep, "
    "batch_size, compute_entropy, compute_aux_loss)",
    "trl.GRPOConfig.cast_lm_head_to_fp32",
    # shared_prefix.completion_logps: TRL's fused log-prob head and its chunk size
    "trl.kernels.ChunkedLogProbFunction.forward(ctx, hidden, weight, bias, targets, temperature, chunk_size, "
    "final_logit_softcapping, logit_scale)",
    "trl.trainer.utils._CHUNKED_LOGPROB_CHUNK_SIZE",
    # shared_prefix: one prompt cache copied to each row of its group
    "transformers.cache_utils.DynamicLayer",
    "transformers.cache_utils.DynamicCache.batch_select_indices",
    # the generation twin: PEFT's LoRA layers and their merged delta
    "peft.tuners.lora.Linear",
    "peft.tuners.lora.Linear.get_delta_weight",
    "peft.tuners.lora.LoraLayer.get_base_layer",
    # the twin drops the training model's hooks (torch.nn.Module private dicts)
    "torch.nn.Module._forward_hooks",
    "torch.nn.Module._forward_pre_hooks",
)

# cpu_kernels: oneDNN linear ops; without them the twin keeps torch's own Linear (slower, same numbers).
ONEDNN_SYMBOLS = (
    "torch.ops.mkldnn._linear_pointwise",
    "torch.ops.mkldnn._reorder_linear_weight",
)

# The phase profiler wraps these on the instance (any GRPOTrainer).
PROFILER_SYMBOLS = (
    "trl.GRPOTrainer._generate_single_turn",
    "trl.GRPOTrainer._calculate_rewards",
    "trl.GRPOTrainer._get_per_token_logps_and_entropies",
    "accelerate.Accelerator.backward",
)

# reasoning/modeling/dynamic_sampling.py (DAPO; an algorithm, not a speed-up: it runs on either trainer)
# overrides these two. Listed here so the same check covers it.
DYNAMIC_SAMPLING_SYMBOLS = (
    "trl.GRPOTrainer._generate_and_score_completions(inputs)",
    "trl.GRPOTrainer._calculate_rewards(inputs, prompts, completions, completion_ids_list)",
)

# Attributes GRPOTrainer.__init__ sets on the instance that the fast path reads.
INSTANCE_ATTRIBUTES = ("use_vllm", "use_transformers_continuous_batching", "is_fsdp_enabled", "_is_vlm",
                       "model_wrapped", "temperature", "_metrics", "accelerator")

ALL_SYMBOLS = FAST_PATH_SYMBOLS + ONEDNN_SYMBOLS + PROFILER_SYMBOLS + DYNAMIC_SAMPLING_SYMBOLS


class FastPathUnavailable(RuntimeError):
    """An installed library lacks a private symbol the fast GRPO path uses."""


def _resolve(path: str) -> Any:
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)  # AttributeError: missing
        return obj
    raise ImportError(f"no module in {path!r} imports")


def _class_attribute_or_slot(owner_path: str, name: str) -> bool:
    """Private attributes of nn.Module live on instances (set in __init__), not on the class."""
    owner = _resolve(owner_path)
    if hasattr(owner, name):
        return True
    try:
        return hasattr(owner(), name)
    except TypeError:
        return False


def problem(spec: str) -> str | None:
    """None when ``spec`` is there (with the parameters it names), else what is wrong."""
    path, _, params = spec.partition("(")
    path = path.strip()
    try:
        if path.startswith("torch.nn.Module._"):
            owner, _, name = path.rpartition(".")
            return None if _class_attribute_or_slot(owner, name) else f"{path} is missing"
        if path.startswith("torch.ops."):
            owner, _, name = path.rpartition(".")
            return None if hasattr(_resolve(owner), name) else f"{path} is missing"
        obj = _resolve(path)
    except (ImportError, AttributeError, RuntimeError) as exc:
        return f"{path} is missing ({type(exc).__name__}: {exc})"
    wanted = [p.strip() for p in params.rstrip(")").split(",") if p.strip()]
    if wanted:
        try:
            have = list(inspect.signature(obj).parameters)
        except (TypeError, ValueError):
            return f"{path} has no inspectable signature"
        absent = [name for name in wanted if name not in have]
        if absent:
            return f"{path} no longer takes {', '.join(absent)} (it takes {', '.join(have)})"
    return None


def missing(symbols: Iterable[str] = ALL_SYMBOLS) -> list[str]:
    """What is wrong with each of ``symbols`` on this install (empty when all are there)."""
    return [message for spec in symbols if (message := problem(spec))]


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version
    found = []
    for package in ("trl", "transformers", "torch", "peft", "accelerate"):
        try:
            found.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            found.append(f"{package} not installed")
    return ", ".join(found)


def require(symbols: Iterable[str] = FAST_PATH_SYMBOLS, *, what: str = "the fast GRPO path (reasoning/fast_grpo)",
            fallback: str = "run with --trainer trl (recipe key trainer: trl) for TRL's own GRPOTrainer") -> None:
    """Raise FastPathUnavailable naming every missing symbol."""
    problems = missing(symbols)
    if problems:
        raise FastPathUnavailable(
            f"{what} relies on private library symbols that this install ({_versions()}) lacks:\n  - "
            + "\n  - ".join(problems) + f"\nTo go on: {fallback}, or pin the versions in pyproject.toml.")


def require_instance_attributes(trainer: Any) -> None:
    """The attributes GRPOTrainer.__init__ set that the fast path reads."""
    absent = [name for name in INSTANCE_ATTRIBUTES if not hasattr(trainer, name)]
    if absent:
        raise FastPathUnavailable(
            f"the fast GRPO path reads GRPOTrainer attributes this install ({_versions()}) no longer sets: "
            f"{', '.join(absent)}; run with --trainer trl for TRL's own GRPOTrainer")
