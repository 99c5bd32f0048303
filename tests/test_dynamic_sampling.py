"""Dynamic sampling (DAPO) on TRL's GRPOTrainer and on the fast trainer, with the tiny random model:
groups with one reward for all completions are dropped and replaced, the cap on extra rounds holds,
and switched off the trainer is plain TRL again."""
from __future__ import annotations

import zlib

import pytest
import torch

from reasoning.fast_grpo import trainer as fast_trainer
from reasoning.modeling import dynamic_sampling
from tests.test_fast_grpo import lora_model

FLAT = "Say nothing"  # prompts whose reward is the same whatever the completion


def dataset(n: int = 8, flat_every: int = 2):
    from datasets import Dataset
    rows = []
    for i in range(n):
        text = f"{FLAT} {i}." if flat_every and i % flat_every == 0 else f"What is {i} + 7?"
        rows.append({"prompt": [{"role": "user", "content": text}], "answer": str(i + 7)})
    return Dataset.from_list(rows)


def reward(prompts, completions, **_):
    """0.5 on the flat prompts; elsewhere a number that differs between (random) completions."""
    return [0.5 if FLAT in prompt[-1]["content"] else (zlib.crc32(completion[0]["content"].encode()) % 97) / 97
            for prompt, completion in zip(prompts, completions, strict=True)]


def trainer(model_dir, output_dir, base_class, data, steps: int = 2, seed: int = 0, **options):
    from transformers import AutoTokenizer, set_seed
    from trl import GRPOConfig
    set_seed(seed)
    args = GRPOConfig(output_dir=str(output_dir), max_steps=steps, per_device_train_batch_size=4, num_generations=2,
                      max_completion_length=6, learning_rate=5e-2, beta=0.04, seed=seed, bf16=False, use_cpu=True,
                      logging_steps=1, save_strategy="no", report_to="none", disable_tqdm=True,
                      gradient_checkpointing=False)
    cls = dynamic_sampling.with_dynamic_sampling(base_class) if options else base_class
    made = cls(model=lora_model(model_dir), reward_funcs=reward, args=args, train_dataset=data,
               processing_class=AutoTokenizer.from_pretrained(model_dir), **options)
    # Record the batches the loss sees (the output of the dynamic-sampling loop).
    batches = []
    original = made._generate_and_score_completions

    def recording(inputs):
        out = original(inputs)
        batches.append(out)
        return out

    made._generate_and_score_completions = recording
    made.recorded_batches = batches
    return made


def prompts_of(trainer_, batch) -> list[str]:
    texts = trainer_.processing_class.batch_decode(batch["prompt_ids"], skip_special_tokens=True)
    return texts


def step_logs(trainer_):
    return [r for r in trainer_.state.log_history if "loss" in r]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("base", ["plain", "fast"])
def test_flat_groups_are_dropped_and_replaced_by_fresh_prompts(tiny_model_dir, tmp_path, base):
    from trl import GRPOTrainer
    base_class = GRPOTrainer if base == "plain" else fast_trainer.FastGRPOTrainer
    run = trainer(tiny_model_dir, tmp_path, base_class, dataset(), steps=3, dynamic_sampling=True,
                  max_extra_rounds=8)
    run.train()
    logs = step_logs(run)
    assert len(logs) == len(run.recorded_batches) == 3
    dropped = [r["dynamic_sampling/groups_dropped"] for r in logs]
    assert sum(dropped) > 0  # half the prompts are flat: some were drawn
    for record, batch in zip(logs, run.recorded_batches, strict=True):
        assert batch["prompt_ids"].size(0) == 4  # TRL's batch shape: 2 groups of 2
        assert not any(FLAT in text for text in prompts_of(run, batch))  # only groups with a signal
        assert record["dynamic_sampling/flat_groups_kept"] == 0
        # Every prompt sampled is either kept (2 a step) or dropped.
        assert record["dynamic_sampling/prompts_sampled"] == 2 + record["dynamic_sampling/groups_dropped"]
        assert record["dynamic_sampling/rounds"] >= 1 + (record["dynamic_sampling/groups_dropped"] > 0)
        assert batch["num_items_in_batch"] == batch["completion_mask"].sum()
        for group in batch["advantages"].view(-1, 2):
            assert group.abs().sum() > 0


@pytest.mark.timeout(300)
def test_the_cap_on_extra_rounds_holds_and_keeps_the_batch_shape(tiny_model_dir, tmp_path):
    from trl import GRPOTrainer
    calls = []
    run = trainer(tiny_model_dir, tmp_path, GRPOTrainer, dataset(flat_every=1), steps=1, dynamic_sampling=True,
                  max_extra_rounds=2)
    original = type(run)._calculate_rewards

    def counting(self, inputs, *args):
        calls.append(len(inputs))
        return original(self, inputs, *args)

    run._calculate_rewards = counting.__get__(run)
    run.train()
    (record,) = step_logs(run)
    assert len(calls) == 3  # the first round and exactly 2 extra ones
    assert record["dynamic_sampling/rounds"] == 3
    assert record["dynamic_sampling/prompts_sampled"] == 2 + 2 + 2
    assert record["dynamic_sampling/groups_dropped"] == 6
    assert record["dynamic_sampling/flat_groups_kept"] == 2
    assert run.dynamic_sampling_totals == {"groups_dropped": 6, "prompts_sampled": 6, "flat_groups_kept": 2}
    (batch,) = run.recorded_batches
    assert batch["prompt_ids"].size(0) == 4 and torch.equal(batch["advantages"], torch.zeros(4))


@pytest.mark.timeout(300)
def test_switched_off_it_is_plain_trl(tiny_model_dir, tmp_path):
    from trl import GRPOTrainer
    plain = trainer(tiny_model_dir, tmp_path / "plain", GRPOTrainer, dataset())
    plain.train()
    off = trainer(tiny_model_dir, tmp_path / "off", GRPOTrainer, dataset(), dynamic_sampling=False)
    off.train()
    assert not off.dynamic_sampling
    plain_logs, off_logs = step_logs(plain), step_logs(off)
    assert len(off_logs) == len(plain_logs) == 2
    for p, o in zip(plain_logs, off_logs, strict=True):
        assert not any(key.startswith("dynamic_sampling/") for key in o)
        for key in ("reward", "frac_reward_zero_std", "completions/mean_length", "loss"):
            assert o[key] == p[key], key
    for p, o in zip(plain.recorded_batches, off.recorded_batches, strict=True):
        assert torch.equal(p["completion_ids"], o["completion_ids"])


def test_flat_groups_use_the_weighted_reward_and_skip_unscorable_rows():
    weights = torch.tensor([1.0, 0.0])
    rewards = torch.tensor([[1.0, 0.0], [1.0, 5.0],          # differ only in a weight-0 function: flat
                            [0.0, 0.0], [1.0, 0.0],          # differ: signal
                            [float("nan"), float("nan")], [0.0, 1.0]])  # one unscorable row, one scored: flat
    assert dynamic_sampling.flat_groups(rewards, weights, 2).tolist() == [True, False, True]


def test_concat_pads_prompts_left_and_completions_right_and_recounts_tokens():
    a = {"prompt_ids": torch.tensor([[5, 6]]), "prompt_mask": torch.tensor([[1, 1]]),
         "completion_ids": torch.tensor([[7]]), "completion_mask": torch.tensor([[1]]),
         "advantages": torch.tensor([1.0]), "num_items_in_batch": torch.tensor(1)}
    b = {"prompt_ids": torch.tensor([[4, 5, 6]]), "prompt_mask": torch.tensor([[1, 1, 1]]),
         "completion_ids": torch.tensor([[8, 9]]), "completion_mask": torch.tensor([[1, 1]]),
         "advantages": torch.tensor([-1.0]), "num_items_in_batch": torch.tensor(2)}
    merged = dynamic_sampling.concat_batches([a, b], pad_token_id=0)
    assert merged["prompt_ids"].tolist() == [[0, 5, 6], [4, 5, 6]]
    assert merged["prompt_mask"].tolist() == [[0, 1, 1], [1, 1, 1]]
    assert merged["completion_ids"].tolist() == [[7, 0], [8, 9]]
    assert merged["completion_mask"].tolist() == [[1, 0], [1, 1]]
    assert merged["num_items_in_batch"] == 3
    assert dynamic_sampling.select_rows(merged, torch.tensor([1]))["num_items_in_batch"] == 2
    with pytest.raises(RuntimeError, match="pixel_values"):
        dynamic_sampling.select_rows({**a, "pixel_values": torch.zeros(1, 3)}, torch.tensor([0]))


def test_prompt_stream_covers_every_row_before_repeating():
    stream = dynamic_sampling.PromptStream(5, seed=3)
    first, second = stream.take(5), stream.take(5)
    assert sorted(first) == sorted(second) == list(range(5))
    assert dynamic_sampling.PromptStream(5, seed=3).take(5) == first  # seeded


def test_the_switch_is_a_flag_a_recipe_key_and_a_pipeline_parameter(tiny_model_dir, tmp_path):
    from reasoning.config import parse_config
    from reasoning.errors import InputError
    from reasoning.pipeline.params import grpo_stage_config, make_parameters
    from reasoning.stages.grpo import GRPOStageConfig
    base = ["--model", str(tiny_model_dir), "--dataset", "synthetic:math?n=4"]
    assert parse_config(GRPOStageConfig, base, prog="grpo").dynamic_sampling is True
    off = parse_config(GRPOStageConfig, [*base, "--no-dynamic-sampling"], prog="grpo")
    assert off.dynamic_sampling is False
    with pytest.raises(InputError, match="--dynamic-sampling-max-rounds"):
        GRPOStageConfig(model=str(tiny_model_dir), dataset="synthetic:math?n=4", dynamic_sampling_max_rounds=-1)
    params = make_parameters({"grpo_dynamic_sampling": False})
    assert grpo_stage_config(params, model="m", dataset="d", output="o")["dynamic_sampling"] is False
