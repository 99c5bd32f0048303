"""One forward per distinct prompt gives TRL's numbers: the same log-probs, entropies and
gradients as TRL's fused head over whole rows, and the same samples from ``generate``."""
from __future__ import annotations

import pytest
import torch

from reasoning.fast_grpo import shared_prefix
from tests.test_fast_grpo import lora_model

GROUP = 3


def grouped_batch(tokenizer, prompts=("What is 2 + 3?", "Name a prime number bigger than 10, please.")):
    """Left-padded prompts, each repeated GROUP times, plus right-padded completions of different lengths."""
    tokenizer.padding_side = "left"
    texts = [tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                           add_generation_prompt=True) for p in prompts for _ in range(GROUP)]
    prompt = tokenizer(texts, return_tensors="pt", padding=True)
    torch.manual_seed(3)
    rows, length = len(texts), 9
    completion_ids = torch.randint(5, 1000, (rows, length))
    completion_mask = torch.ones_like(completion_ids)
    for row, valid in enumerate([9, 4, 7, 1, 9, 6][:rows]):
        completion_mask[row, valid:] = 0
        completion_ids[row, valid:] = tokenizer.pad_token_id
    input_ids = torch.cat([prompt["input_ids"], completion_ids], dim=1)
    attention_mask = torch.cat([prompt["attention_mask"], completion_mask], dim=1)
    return input_ids, attention_mask, length


@pytest.fixture()
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(tiny_model_dir)


def test_group_rows_finds_each_distinct_prompt():
    ids = torch.tensor([[0, 5, 6], [1, 2, 3], [0, 5, 6], [1, 2, 3], [9, 9, 9]])
    mask = torch.tensor([[0, 1, 1], [1, 1, 1], [0, 1, 1], [1, 1, 1], [1, 1, 1]])
    first, inverse = shared_prefix.group_rows(ids, mask)
    assert len(first) == 3
    assert torch.equal(ids[first][inverse], ids)  # every row is rebuilt from its group's representative
    assert inverse[0] == inverse[2] and inverse[1] == inverse[3] and len(set(inverse.tolist())) == 3


def trl_logps(model, input_ids, attention_mask, keep):
    """TRL 1.16's own computation: the fused head over whole rows (what GRPOTrainer runs)."""
    labels = input_ids.masked_fill(attention_mask == 0, -100)
    labels[:, :-keep] = -100
    out = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels, fused_lm_head=True)
    return out.log_probs[:, -keep:], out.entropy[:, -keep:]


@pytest.mark.parametrize("adapter", [True, False], ids=["policy", "reference"])
def test_log_probs_entropies_and_gradients_match_trls_fused_head(tiny_model_dir, tokenizer, adapter):
    from trl.trainer.utils import add_fused_lm_head
    model = lora_model(tiny_model_dir)
    add_fused_lm_head(model.get_base_model(), temperature=0.7, outputs=("log_probs", "entropy"))
    model.train()
    assert shared_prefix.applies(model)
    input_ids, attention_mask, keep = grouped_batch(tokenizer)
    lora = [p for n, p in model.named_parameters() if "lora_" in n]

    def run(compute):
        model.zero_grad()
        if not adapter:  # the reference model: no gradient to compare
            with model.disable_adapter(), torch.no_grad():
                logps, entropy = compute()
            return logps, entropy, []
        logps, entropy = compute()
        mask = attention_mask[:, -keep:]
        # A loss that weights tokens unevenly, so a misplaced gradient would show.
        ((logps * mask * torch.linspace(0.5, 1.5, keep)).sum() + 0.1 * entropy.sum()).backward()
        return logps.detach(), entropy.detach(), [p.grad.clone() if p.grad is not None else None for p in lora]

    expected = run(lambda: trl_logps(model, input_ids, attention_mask, keep))
    got = run(lambda: shared_prefix.completion_logps(model, input_ids, attention_mask, keep, temperature=0.7,
                                                     compute_entropy=True))
    torch.testing.assert_close(got[0], expected[0], atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(got[1], expected[1], atol=2e-5, rtol=1e-4)
    assert (got[0][attention_mask[:, -keep:] == 0] == 0).all()
    assert len(got[2]) == (len(lora) if adapter else 0)
    assert all(g is not None and g.abs().sum() > 0 for g in got[2])
    for g, e in zip(got[2], expected[2], strict=True):
        torch.testing.assert_close(g, e, atol=1e-5, rtol=1e-3)


def test_generate_samples_what_generate_samples(tiny_model_dir, tokenizer):
    from transformers import AutoModelForCausalLM, GenerationConfig
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    input_ids, attention_mask, _ = grouped_batch(tokenizer)
    keep = input_ids.size(1) - 9
    prompt_ids, prompt_mask = input_ids[:, :keep], attention_mask[:, :keep]
    config = GenerationConfig(max_new_tokens=12, do_sample=True, top_k=None, top_p=1.0, temperature=1.0,
                              pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)

    def sample(generate):
        torch.manual_seed(11)
        return generate(input_ids=prompt_ids, attention_mask=prompt_mask, generation_config=config)

    expected = sample(model.generate)
    got = sample(lambda **kw: shared_prefix.generate(model, **kw))
    assert torch.equal(got, expected)
    assert expected.size(1) > keep  # something was sampled


def test_applies_only_where_it_reproduces_trl(tiny_model_dir):
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert shared_prefix.applies(model)
    model.config.final_logit_softcapping = 30.0  # a head transform the shared path does not apply
    assert not shared_prefix.applies(model)
    model.config.final_logit_softcapping = None
    model.gradient_checkpointing_enable()  # checkpointed layers run without a cache
    assert not shared_prefix.applies(model)
