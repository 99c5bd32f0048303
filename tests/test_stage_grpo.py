"""GRPO stage on the tiny random model: two iterations log rewards (total and per component),
KL, completion length and clipped ratio, and change the weights; bad input refused first."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from reasoning.errors import InputError
from reasoning.io import artifacts
from reasoning.stages import grpo
from reasoning.stages.grpo import GRPOStageConfig


def write_problems(path: Path, n: int = 8) -> Path:
    rows = [{"id": f"p{i}", "answer": str(i + 7),
             "messages": [{"role": "user", "content": f"What is {i} + 7?"}]} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize(("trainer", "profile"), [("fast", False), ("trl", True)])
def test_two_iterations_log_rewards_and_change_the_weights(tiny_model_dir, tmp_path, trainer, profile):
    data = write_problems(tmp_path / "problems.jsonl")
    out = tmp_path / "grpo"
    config = GRPOStageConfig(model=str(tiny_model_dir), dataset=str(data), output=str(out), iterations=2,
                             group_size=2, batch_size=4, max_completion_length=12, learning_rate=1e-2,
                             warmup_ratio=0.0, lora_r=8, lora_alpha=16, use_gradient_checkpointing=False,
                             trainer=trainer, profile=profile)
    result = grpo.run(config)
    log = [r for r in artifacts.read_train_log(out) if "reward" in r]
    assert [r["step"] for r in log] == [1, 2]
    for key in ("reward", "reward_std", "kl", "completions/mean_length", "completions/clipped_ratio",
                "rewards/correctness/mean", "rewards/format/mean", "rewards/consistency/mean",
                "rewards/length/mean", "rewards/process/mean"):
        assert key in log[-1], key
    assert log[-1]["completions/mean_length"] <= 12
    # Dynamic sampling is on by default: every step says how many prompts it sampled and dropped.
    assert all(r["dynamic_sampling/prompts_sampled"] >= 2 for r in log)
    assert all(0 <= r["dynamic_sampling/rounds"] <= 1 + config.dynamic_sampling_max_rounds for r in log)
    from safetensors.torch import load_file
    before = load_file(str(tiny_model_dir / "model.safetensors"))
    after = load_file(str(out / "model.safetensors"))
    assert any(not (before[k] == after[k]).all() for k in before if "proj" in k)
    # The profile only when asked for; it works on TRL's own trainer too.
    assert all(("profile/generation_s" in r) is profile for r in log)
    meta = artifacts.read_metadata(out)
    # dynamic sampling (on by default) wraps whichever trainer was chosen
    assert meta["lineage"]["trainer"] == {"fast": "DynamicSamplingFastGRPOTrainer",
                                          "trl": "DynamicSamplingGRPOTrainer"}[trainer]
    assert meta["stage"] == "grpo" and "mean_reward" in meta["metrics"]
    assert meta["lineage"]["reward_weights"]["correctness_weight"] == 0.4
    assert result["metrics"]["global_step"] == 2


def test_min_completion_length_reaches_the_sampler(tmp_path):
    from reasoning.stages.common import Hardware, resolve_settings
    cpu = Hardware(cuda=False, bf16=False, flash_attention=False, vllm=False, gpus=0)

    def trl_config(**fields):
        config = GRPOStageConfig(**fields)
        return config.to_trl_config(resolve_settings(config, cpu).precision, tmp_path, cpu, [1.0] * 5)

    assert trl_config(min_completion_length=16, max_completion_length=32).generation_kwargs == {"min_new_tokens": 16}
    assert not trl_config().generation_kwargs  # by default completions end at EOS


def test_rows_keep_the_columns_the_rewards_read():
    from reasoning.schema import validate_row
    row = validate_row({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
                        "answer": "3", "reasoning_type": "logic"})
    (record,) = grpo.grpo_records([row])
    assert record["prompt"] == [{"role": "user", "content": "q"}]  # the assistant turn is not the prompt
    assert record["answer"] == "3" and record["reasoning_type"] == "logic"
    assert {"tests", "entry_point"} <= set(record)


@pytest.mark.parametrize("argv, message", [
    (["--group-size", "1", "--batch-size", "4"], "--group-size"),
    (["--group-size", "3", "--batch-size", "4"], "multiple of --group-size"),
    (["--lora-r", "0"], "--lora-r"),
    (["--correctness-weight", "-1"], "--correctness-weight"),
    (["--model", "/nonexistent/sft"], "model path does not exist"),
    (["--vllm", "colocate"], "vLLM needs a GPU"),
    (["--trainer", "unsloth"], "--trainer"),
    (["--min-completion-length", "300", "--max-completion-length", "256"], "--min-completion-length"),
])
def test_bad_flags_are_refused(tiny_model_dir, tmp_path, capsys, argv, message):
    data = write_problems(tmp_path / "p.jsonl", n=2)
    code = grpo.main(["--model", str(tiny_model_dir), "--dataset", str(data), "--output", str(tmp_path / "o"),
                      *argv])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_rows_without_an_answer_are_refused_naming_file_line_and_field(tiny_model_dir, tmp_path):
    data = write_problems(tmp_path / "p.jsonl", n=3)
    lines = data.read_text().splitlines()
    lines[2] = json.dumps({"messages": [{"role": "user", "content": "no reference"}]})
    data.write_text("\n".join(lines) + "\n")
    config = GRPOStageConfig(model=str(tiny_model_dir), dataset=str(data), output=str(tmp_path / "o"))
    with pytest.raises(InputError) as error:
        grpo.check_inputs(config)
    assert (error.value.line, error.value.field) == (3, "answer")
    # code rows need tests instead of an answer
    data.write_text(json.dumps({"reasoning_type": "code", "messages": [{"role": "user", "content": "f"}]}) + "\n")
    with pytest.raises(InputError) as error:
        grpo.check_inputs(config)
    assert error.value.field == "tests"


def test_named_synthetic_datasets_are_accepted(tiny_model_dir, tmp_path):
    pytest.importorskip("reasoning.data.datasets")
    config = GRPOStageConfig(model=str(tiny_model_dir), dataset="synthetic:math?n=6&seed=0&split=train",
                             output=str(tmp_path / "o"))
    rows, lineage = grpo.check_inputs(config)
    assert len(rows) == 6 and all(r.answer for r in rows) and len(lineage["dataset_sha256"]) == 64
