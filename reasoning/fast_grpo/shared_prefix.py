"""Run each GRPO group's prompt through the model once instead of ``group_size`` times.

GRPO repeats every prompt ``group_size`` times in a batch (SmolLM2's chat prompts here are
~53 tokens before 64 completion tokens). TRL feeds every row whole, so each copy of a prompt
is recomputed: in sampling (the prefill), in the reference log-probs and in the loss forward
and backward. In a causal model a prompt token never attends to anything after it, so its
keys and values are the same in every copy: computing them once for each distinct prompt and
handing every row of its group that KV cache gives the same numbers (to float rounding) for
fewer FLOPs. Gradients flow through the shared cache to the one prompt forward, which
receives the sum of its copies' gradients, as it would through the copies.

The log-prob head also scores only the completion positions: TRL's fused head (its kernel is
reused here) scores every position on devices without Triton and masks the prompt ones away.

Works with models whose cache is TRL/transformers' plain ``DynamicCache`` (full attention:
Llama, Qwen, Mistral without sliding windows, ...); ``applies()`` says when it does not.
One honest difference: with LoRA dropout in training mode, a group's copies of a prompt share
one dropout mask instead of drawing one each (same expectation, noise-level variance change).
"""
from __future__ import annotations

import functools

import torch
from torch import nn

# Config attributes that change the LM head's logits; with any of them set, TRL's own head runs.
_LOGIT_TRANSFORMS = ("final_logit_softcapping", "logit_scale", "output_multiplier", "lm_head_multiplier",
                     "logits_scaling")


def causal_lm_of(model: nn.Module) -> nn.Module:
    """The transformers causal LM under a PEFT wrapper (LoRA layers stay injected in it)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def applies(model: nn.Module) -> bool:
    """Whether this model's attention cache and LM head are ones the shared-prefix path reproduces."""
    causal_lm = causal_lm_of(model)
    config = getattr(causal_lm, "config", None)
    checkpointing = getattr(causal_lm, "is_activation_checkpointing", None)  # transformers 5 name
    if checkpointing is None:
        checkpointing = getattr(causal_lm, "is_gradient_checkpointing", False)
    if config is None or checkpointing:
        return False  # checkpointed forwards run without a cache
    if getattr(config, "_attn_implementation", "sdpa") not in ("sdpa", "eager"):
        return False  # other kernels (flash-attention's unpadding) are not checked against TRL's numbers here
    text_config = config.get_text_config()
    if any(getattr(text_config, name, None) is not None for name in _LOGIT_TRANSFORMS):
        return False
    if getattr(text_config, "sliding_window", None) and getattr(text_config, "use_sliding_window", True):
        return False
    layer_types = getattr(text_config, "layer_types", None) or ["full_attention"]
    return all(kind == "full_attention" for kind in layer_types)


def group_rows(prompt_ids: torch.Tensor, prompt_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(a row index for each distinct padded prompt, row -> index of its distinct prompt)."""
    keys = prompt_ids.masked_fill(prompt_mask == 0, -1)
    _, inverse = torch.unique(keys, dim=0, return_inverse=True)
    rows = torch.arange(len(inverse), device=inverse.device)
    first = torch.zeros(int(inverse.max()) + 1, dtype=torch.long, device=inverse.device)
    first = first.scatter_reduce(0, inverse, rows, reduce="amin", include_self=False)
    return first, inverse


def _plain_dynamic_cache(cache) -> bool:
    from transformers.cache_utils import DynamicLayer
    return all(type(layer) is DynamicLayer for layer in getattr(cache, "layers", [None]))


def prompt_positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions as ``generate`` numbers a left-padded prompt (padding at 0)."""
    positions = attention_mask.long().cumsum(-1) - 1
    return positions.masked_fill(attention_mask == 0, 0)


@torch.no_grad()
def generate(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, **kwargs) -> torch.Tensor:
    """``model.generate`` with each distinct prompt prefilled once and its cache copied to its rows.

    All but the last prompt token go into the cache; ``generate`` then processes that token and
    samples exactly as it would have (same logits processors, same random draws in the same order).
    The class's ``generate`` is called, so an instance may route its own ``generate`` here."""
    sample = functools.partial(type(model).generate, model)
    first, inverse = group_rows(input_ids, attention_mask)
    if len(first) == len(inverse) or input_ids.size(1) < 2 or kwargs.get("past_key_values") is not None:
        return sample(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
    from transformers import DynamicCache
    prefix_ids, prefix_mask = input_ids[first, :-1], attention_mask[first, :-1]
    cache = DynamicCache(config=model.config)
    model(input_ids=prefix_ids, attention_mask=prefix_mask, position_ids=prompt_positions(prefix_mask),
          past_key_values=cache, use_cache=True, logits_to_keep=1)
    if not _plain_dynamic_cache(cache):
        return sample(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
    cache.batch_select_indices(inverse)
    return sample(input_ids=input_ids, attention_mask=attention_mask, past_key_values=cache, **kwargs)


def completion_logps(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, logits_to_keep: int,
                     *, temperature: float, compute_entropy: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-token log-probs (and entropies) of the last ``logits_to_keep`` tokens, as TRL's
    ``_get_per_token_logps_and_entropies`` returns them, from one forward per distinct prompt.

    ``input_ids`` is prompt + completion as TRL concatenates them (prompt left-padded,
    completion right-padded); positions are numbered 0.. over the padded row, as in TRL's own
    forward, which passes no position ids. Padding positions get 0."""
    from transformers import DynamicCache
    from trl.kernels import ChunkedLogProbFunction
    from trl.trainer.utils import _CHUNKED_LOGPROB_CHUNK_SIZE

    causal_lm = causal_lm_of(model)
    backbone, head = causal_lm.base_model, causal_lm.get_output_embeddings()
    prompt_length = input_ids.size(1) - logits_to_keep
    prompt_ids, prompt_mask = input_ids[:, :prompt_length], attention_mask[:, :prompt_length]
    completion_ids, completion_mask = input_ids[:, prompt_length:], attention_mask[:, prompt_length:]
    first, inverse = group_rows(prompt_ids, prompt_mask)

    cache = DynamicCache(config=causal_lm.config)
    prefix = backbone(input_ids=prompt_ids[first], attention_mask=prompt_mask[first], past_key_values=cache,
                      use_cache=True)
    cache.batch_select_indices(inverse)
    rest = backbone(input_ids=completion_ids, attention_mask=attention_mask, past_key_values=cache, use_cache=True)
    # Completion token t is predicted from the hidden state just before it: the prompt's last
    # position for t = 0, the completion's position t - 1 after that.
    hidden = torch.cat([prefix.last_hidden_state[inverse, -1:], rest.last_hidden_state[:, :-1]], dim=1)
    hidden = hidden.to(head.weight.device)
    labels = completion_ids.masked_fill(completion_mask == 0, -100).to(head.weight.device)
    scored = labels != -100
    outputs = ("log_probs", "entropy") if compute_entropy else ("log_probs",)
    log_probs, entropy, *_ = ChunkedLogProbFunction.apply(
        hidden[scored], head.weight, head.bias, labels[scored], temperature, _CHUNKED_LOGPROB_CHUNK_SIZE, None, 1.0,
        outputs)
    # masked_scatter keeps an all-padding batch connected to the graph (a zero loss, not an error).
    log_probs = log_probs.new_zeros(scored.shape).masked_scatter(scored, log_probs)
    if entropy is not None:
        entropy = entropy.new_zeros(scored.shape).masked_scatter(scored, entropy)
    return log_probs, entropy
