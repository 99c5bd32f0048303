"""``FastGRPOTrainer``: TRL's GRPOTrainer with speed-ups that leave the algorithm unchanged.

Where a plain TRL 1.16 GRPO iteration spends its time (SmolLM2-135M, LoRA r 16, 2 prompts x 4
completions of <= 64 tokens, 2 CPU cores; ``python -m benchmarks.bench_grpo`` prints the current
figures): ~45% sampling, ~30% backward, the rest the reference and loss forwards. So:

1. No gradient checkpointing on a CPU (``--gradient-checkpointing auto``, resolved in
   ``stages.common.resolve_settings``): recomputing the forward in the backward buys memory a CPU
   run does not need (a few hundred MB of activations at this size); it more than doubled the backward.
2. Shared prompts (``fast_grpo/shared_prefix.py``): every prompt appears ``group_size`` times in a
   batch; its keys and values are computed once and shared by its group, in sampling and in
   both scoring forwards (and so in the backward), and only completion positions go through
   the log-prob head.
3. ``FastGRPOTrainer`` samples from a *generation twin*: a second module tree that shares
   every tensor of the training model (embeddings, norms, head) except the adapted linear
   layers, which are plain ``nn.Linear`` holding ``W + scaling * B @ A`` (refreshed before
   every generation, so it always samples from the current policy). Through PEFT every one of
   the 210 adapted layers runs three extra small matmuls plus dropout per sampled token. The
   training model is never mutated, so nothing has to be "unmerged": its weights stay
   bit-identical, and gradients, the reference model (adapter disabled) and checkpoints are
   exactly TRL's. The twin runs in eval mode: it samples from the policy itself, without LoRA
   dropout (plain TRL samples in train mode, i.e. with dropout noise on the adapter branch;
   with ``lora_dropout=0`` the two sample the same tokens for the same seed).
   On a CPU the twin's linear layers run through oneDNN where that measured faster than
   torch's MKL path (``fast_grpo/cpu_kernels.py``: 2-5x for 8-row matmuls on an AMD EPYC).
4. ``cpu_training.configure_cpu_threads``: in a container torch sizes its thread pool from the host's
   cores, not the pod's CPU quota; oversubscribed threads make every op slower.

What stays TRL's: the samples per step, the sampling code, rewards, advantages, loss, KL,
optimizer and updates. vLLM generation (GPU) keeps TRL's own path: vLLM already samples from
merged weights. The per-phase profile is ``fast_grpo/profiler.py`` (on request: ``--profile``).

It overrides private TRL methods (``_generate_single_turn``, ``_get_per_token_logps_and_entropies``)
and reads private attributes: every one is listed in ``fast_grpo/private_api.py`` and checked when
the class is first built and again on each instance, so a TRL upgrade that removes one fails at
startup, naming it (``--trainer trl`` then runs TRL's own GRPOTrainer).
"""
from __future__ import annotations

import copy
import functools
import logging
from typing import Any

import torch
from torch import nn

from reasoning.fast_grpo import private_api

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- the generation twin

def _lora_linear_layers(model: nn.Module) -> dict[str, nn.Module] | None:
    """name -> PEFT LoRA Linear layer of the underlying model; None when the twin cannot express it
    (not a PEFT LoRA model, DoRA, or adapted layers other than Linear)."""
    try:
        from peft.tuners.lora import Linear as LoraLinear
        from peft.tuners.lora import LoraLayer
    except ImportError:
        return None
    if not hasattr(model, "get_base_model"):
        return None
    layers = {}
    for name, module in model.get_base_model().named_modules():
        if isinstance(module, LoraLayer):
            if not isinstance(module, LoraLinear) or any(module.use_dora.values()) or module.merged:
                return None
            layers[name] = module
    return layers or None


def build_generation_twin(model: nn.Module) -> tuple[nn.Module, list[tuple[nn.Module, nn.Linear]]] | None:
    """A plain (PEFT-free) model that shares all tensors of ``model`` but its adapted Linear weights.

    Returns (twin, [(lora_layer, twin_linear), ...]) or None when ``model`` is not a plain LoRA model."""
    layers = _lora_linear_layers(model)
    if layers is None:
        return None
    base = model.get_base_model()
    # deepcopy with every tensor pre-registered in the memo copies the module tree only:
    # the twin's parameters and buffers *are* the training model's (no extra memory).
    memo: dict[int, Any] = {id(t): t for t in [*base.parameters(), *base.buffers()]}
    twin = copy.deepcopy(base, memo)
    pairs = []
    for name, lora_layer in layers.items():
        source = lora_layer.get_base_layer()
        # skip_init: no random initialisation, which would also advance the RNG the sampler uses.
        linear = nn.utils.skip_init(nn.Linear, source.in_features, source.out_features,
                                    bias=source.bias is not None, device=source.weight.device,
                                    dtype=source.weight.dtype)
        linear.weight.requires_grad_(False)
        if source.bias is not None:
            linear.bias = source.bias  # shared, never adapted by LoRA
        parent_name, _, child = name.rpartition(".")
        setattr(twin.get_submodule(parent_name) if parent_name else twin, child, linear)
        pairs.append((lora_layer, linear))
    # TRL patches `forward` on the model *instance* (its fused log-prob head); the copied patch
    # still calls the training model's original forward through its closure, which would send
    # sampling back through PEFT. The twin only samples: it gets its class's plain forward.
    twin.__dict__.pop("forward", None)
    for module in twin.modules():
        # Hooks copied from the training model (e.g. enable_input_require_grads) serve training only.
        module._forward_hooks.clear()
        module._forward_pre_hooks.clear()
    if getattr(twin, "is_gradient_checkpointing", False):
        twin.gradient_checkpointing_disable()
    twin.eval()
    twin.requires_grad_(False)
    # On a CPU, sampling's skinny matmuls (8 rows) run 2-5x faster through oneDNN where MKL is slow.
    from reasoning.fast_grpo.cpu_kernels import use_onednn_linears
    swapped = use_onednn_linears(twin)
    if swapped:
        log.info("generation twin: %d linear layers through oneDNN", swapped)
    return twin, pairs


@torch.no_grad()
def refresh_generation_twin(pairs: list[tuple[nn.Module, nn.Linear]]) -> None:
    """twin weight = W + sum over active adapters of scaling * B @ A (PEFT's own delta)."""
    for lora_layer, linear in pairs:
        weight = linear.weight
        weight.copy_(lora_layer.get_base_layer().weight)
        for adapter in lora_layer.active_adapters:
            if adapter in lora_layer.lora_A:
                weight.add_(lora_layer.get_delta_weight(adapter).to(weight.dtype))


def __getattr__(name: str):
    # FastGRPOTrainer is built on first use so that the twin imports without TRL (and its
    # datasets dependency), e.g. in the GPU benchmark's generation-only measurement.
    if name == "FastGRPOTrainer":
        globals()[name] = _fast_grpo_trainer_class()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _fast_grpo_trainer_class():
    from trl import GRPOTrainer
    private_api.require()  # before overriding methods that may no longer exist
    return type("FastGRPOTrainer", (_FastGenerationMixin, GRPOTrainer), {"__module__": __name__,
                                                                         "__doc__": _FastGenerationMixin.__doc__})


class _FastGenerationMixin:
    """TRL's GRPOTrainer, with each group's prompt computed once and sampling through a merged-LoRA twin.

    ``shared_prefix``: sampling prefills each distinct prompt once, and the reference and loss
    forwards run each distinct prompt once and score only completion positions
    (fast_grpo/shared_prefix.py). ``merged_generation``: sampling runs through the twin.
    Either one turns itself off (logged) where it cannot reproduce TRL's computation: vLLM,
    several processes (DDP/DeepSpeed/FSDP wrap the forward), activation checkpointing,
    multimodal inputs, sliding-window caches, logit soft-capping."""

    def __init__(self, *args, merged_generation: bool = True, shared_prefix: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        private_api.require_instance_attributes(self)
        self._twin = None
        self._twin_pairs: list = []
        self.merged_generation = merged_generation and self._twin_applies()
        if merged_generation and not self.merged_generation:
            log.info("merged-LoRA generation not used (vLLM, sharded training, or no plain LoRA adapter)")
        self.shared_prefix = shared_prefix and self._shared_prefix_applies()
        if shared_prefix and not self.shared_prefix:
            log.info("shared-prompt forwards not used (several processes, checkpointing or an unsupported model)")

    def _twin_applies(self) -> bool:
        if self.use_vllm or getattr(self, "use_transformers_continuous_batching", False):
            return False
        if self.accelerator.distributed_type.value in ("DEEPSPEED", "FSDP") or self.is_fsdp_enabled:
            return False  # sharded weights: a twin would need the gathered parameters
        return _lora_linear_layers(self.accelerator.unwrap_model(self.model)) is not None

    def _shared_prefix_applies(self) -> bool:
        from reasoning.fast_grpo import shared_prefix
        if self.accelerator.num_processes != 1 or self.args.cast_lm_head_to_fp32 or self._is_vlm:
            return False  # a DDP wrapper's gradient hooks run only through its own forward
        return shared_prefix.applies(self.accelerator.unwrap_model(self.model))

    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        if not self.merged_generation:
            return super()._generate_single_turn(prompt_ids, images, multimodal_fields, num_generations,
                                                 has_tool_images)
        if self._twin is None:
            built = build_generation_twin(self.accelerator.unwrap_model(self.model))
            if built is None:
                self.merged_generation = False
                return super()._generate_single_turn(prompt_ids, images, multimodal_fields, num_generations,
                                                     has_tool_images)
            self._twin, self._twin_pairs = built
            if self.shared_prefix and not images:
                from reasoning.fast_grpo import shared_prefix
                # TRL calls `generate` on whatever model it unwraps; this instance attribute makes
                # that call prefill each distinct prompt once (the class's generate samples as before).
                self._twin.generate = functools.partial(shared_prefix.generate, self._twin)
        refresh_generation_twin(self._twin_pairs)
        # TRL's regular path generates with whatever `self.model_wrapped` unwraps to: point it at
        # the twin for this call, so the sampling code itself (padding, EOS masking) stays TRL's.
        wrapped = self.model_wrapped
        self.model_wrapped = self._twin
        try:
            return super()._generate_single_turn(prompt_ids, images, multimodal_fields, num_generations,
                                                 has_tool_images)
        finally:
            self.model_wrapped = wrapped

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep, batch_size=None,
                                           compute_entropy=False, compute_aux_loss=False, **multimodal):
        if not self.shared_prefix or compute_aux_loss or any(v is not None for v in multimodal.values()):
            return super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, batch_size, compute_entropy, compute_aux_loss,
                **multimodal)
        from reasoning.fast_grpo import shared_prefix
        batch_size = batch_size or input_ids.size(0)  # TRL's chunking, kept for its memory bound
        logps, entropies = [], []
        for start in range(0, input_ids.size(0), batch_size):
            rows = slice(start, start + batch_size)
            with self.accelerator.autocast():
                chunk_logps, chunk_entropies = shared_prefix.completion_logps(
                    model, input_ids[rows], attention_mask[rows], logits_to_keep, temperature=self.temperature,
                    compute_entropy=compute_entropy)
            logps.append(chunk_logps)
            entropies.append(chunk_entropies)
        return torch.cat(logps), (torch.cat(entropies) if compute_entropy else None), None
