"""The GRPO speed-ups (reasoning/fast_grpo) change the speed only: same samples, rewards and losses for the same seed,
and the training model's weights untouched by the merged-LoRA generation twin."""
from __future__ import annotations

import pytest
import torch

from reasoning.fast_grpo import trainer as fast_trainer
from reasoning.fast_grpo.profiler import attach_phase_profiler
from reasoning.modeling import cpu_training


def lora_model(model_dir, dropout: float = 0.0):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, lora_dropout=dropout, target_modules="all-linear",
                                            task_type="CAUSAL_LM"))
    torch.manual_seed(1)
    for name, param in model.named_parameters():
        if "lora_B" in name:  # PEFT starts B at zero (a no-op adapter): make the adapter matter
            param.data.normal_(0, 0.05)
    return model


def test_twin_computes_the_merged_policy_and_leaves_the_training_model_bit_identical(tiny_model_dir):
    from trl.trainer.utils import add_fused_lm_head
    model = lora_model(tiny_model_dir)
    # As GRPOTrainer does: the instance-level fused head must not route the twin back through PEFT.
    add_fused_lm_head(model.get_base_model())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    twin, pairs = fast_trainer.build_generation_twin(model)
    fast_trainer.refresh_generation_twin(pairs)
    ids = torch.randint(0, 1000, (3, 11))
    model.eval()
    with torch.no_grad():
        expected = model(input_ids=ids).logits
        got = twin(input_ids=ids).logits
    torch.testing.assert_close(got, expected, atol=2e-5, rtol=1e-4)
    assert len(pairs) == 2 * 7  # 2 layers x q,k,v,o,gate,up,down
    assert not any(isinstance(m, type(pairs[0][0])) for m in twin.modules())  # no PEFT layer left in the twin
    calls = []
    handle = pairs[0][0].register_forward_hook(lambda *_: calls.append(1))
    with torch.no_grad():
        twin(input_ids=ids)
    handle.remove()
    assert not calls  # the twin's forward never reaches the training model's LoRA layers
    # Only the adapted linear weights are new tensors; embeddings and norms are the training model's.
    base = model.get_base_model()
    assert twin.model.embed_tokens.weight.data_ptr() == base.model.embed_tokens.weight.data_ptr()
    assert twin.model.norm.weight.data_ptr() == base.model.norm.weight.data_ptr()
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    # After an update of the adapter, a refresh follows it (the twin samples the current policy).
    with torch.no_grad():
        for lora_layer, _ in pairs:
            lora_layer.lora_A["default"].weight.add_(0.01)
        expected = model(input_ids=ids).logits
    fast_trainer.refresh_generation_twin(pairs)
    with torch.no_grad():
        torch.testing.assert_close(twin(input_ids=ids).logits, expected, atol=2e-5, rtol=1e-4)


def test_no_twin_for_models_without_a_plain_lora_adapter(tiny_model_dir):
    from transformers import AutoModelForCausalLM
    assert fast_trainer.build_generation_twin(AutoModelForCausalLM.from_pretrained(tiny_model_dir)) is None


def problems():
    from datasets import Dataset
    return Dataset.from_list([{"prompt": [{"role": "user", "content": f"What is {i} + 7?"}], "answer": str(i + 7),
                               "reasoning_type": "math", "tests": "", "entry_point": ""} for i in range(8)])


def train_grpo(model_dir, output_dir, trainer_cls, steps: int = 3, profile: bool = False):
    from transformers import AutoTokenizer, set_seed
    from trl import GRPOConfig

    from reasoning.rewards import RewardConfig, trl_reward_functions
    set_seed(0)
    functions, weights = trl_reward_functions(RewardConfig())
    args = GRPOConfig(output_dir=str(output_dir), max_steps=steps, per_device_train_batch_size=4, num_generations=2,
                      max_completion_length=10, learning_rate=5e-2, beta=0.04, seed=0, reward_weights=weights,
                      bf16=False, use_cpu=True, logging_steps=1, save_strategy="no", report_to="none",
                      disable_tqdm=True, gradient_checkpointing=False)
    model = lora_model(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    trainer = trainer_cls(model=model, reward_funcs=functions, args=args, train_dataset=problems(),
                          processing_class=tokenizer)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    trainer.profiler = attach_phase_profiler(trainer) if profile else None
    trainer.train()
    return trainer, initial


@pytest.mark.timeout(300)
def test_fast_trainer_learns_what_plain_trl_learns(tiny_model_dir, tmp_path):
    from trl import GRPOTrainer
    plain, _ = train_grpo(tiny_model_dir, tmp_path / "plain", GRPOTrainer)
    fast, initial = train_grpo(tiny_model_dir, tmp_path / "fast", fast_trainer.FastGRPOTrainer, profile=True)
    assert fast.merged_generation and fast._twin is not None and fast.shared_prefix
    plain_log = [r for r in plain.state.log_history if "loss" in r]
    fast_log = [r for r in fast.state.log_history if "loss" in r]
    assert len(plain_log) == len(fast_log) == 3
    for p, f in zip(plain_log, fast_log, strict=True):
        # Same seed -> the same sampled completions, hence the same rewards and (to float noise) losses.
        assert f["completions/mean_length"] == p["completions/mean_length"]
        assert f["reward"] == pytest.approx(p["reward"], abs=1e-6)
        assert f["loss"] == pytest.approx(p["loss"], abs=1e-4, rel=1e-3)
        assert f["kl"] == pytest.approx(p["kl"], abs=1e-4, rel=1e-3)
    # The adapter was trained (the run is not vacuous) to the same weights; the base weights are untouched.
    fast_state, plain_state = fast.model.state_dict(), plain.model.state_dict()
    lora_keys = [k for k in initial if "lora_" in k]
    assert any(not torch.equal(fast_state[k], initial[k]) for k in lora_keys)
    for key in initial:
        if "lora_" in key:
            # Three Adam steps of lr 5e-2 move these weights by up to 0.15; Adam divides by the
            # gradient's own scale, so float-rounding differences in near-zero gradients show up
            # as ~1e-4 here (0.2% of a step), not as a different direction.
            torch.testing.assert_close(fast_state[key], plain_state[key], atol=1e-3, rtol=1e-3)
        else:
            assert torch.equal(fast_state[key], initial[key]), key
    # The profile covers every phase of each step.
    steps = fast.profiler.steps
    assert len(steps) == 3 and all(s["generation"] > 0 and s["backward"] > 0 for s in steps)
    assert all(s["completion_tokens"] > 0 for s in steps)
    assert "profile/generation_s" in fast_log[-1]


def test_cpu_threads():
    quota = cpu_training.cpu_quota()
    assert quota is None or quota >= 1
    assert cpu_training.configure_cpu_threads() >= 1
