"""Settings given as ``auto`` (gradient checkpointing, precision, attention) are resolved once,
in ``stages.common.resolve_settings``; what it returns is what the trainer gets and what the
artifact's resolved_config.yaml records (the SFT stage test checks the file on a real run)."""
from __future__ import annotations

import pytest

from reasoning.errors import InputError
from reasoning.stages import common
from reasoning.stages.grpo import GRPOStageConfig
from reasoning.stages.sft import SFTStageConfig

CPU = common.Hardware(cuda=False, bf16=False, flash_attention=False, vllm=False, gpus=0)
GPU = common.Hardware(cuda=True, bf16=True, flash_attention=False, vllm=False, gpus=1)


def sft_config(tmp_path, **overrides) -> SFTStageConfig:
    return SFTStageConfig(model="builtin:smollm2-135m-instruct", dataset="synthetic:math?n=4",
                          output=str(tmp_path / "out"), **overrides)


@pytest.mark.parametrize(("hardware", "choice", "long_sequences", "expected"), [
    (CPU, "auto", False, False), (CPU, "on", False, True), (CPU, "off", False, False),
    (CPU, "auto", True, True),  # context extension: activations grow with length, even on a CPU
    (GPU, "auto", False, True), (GPU, "on", False, True), (GPU, "off", False, False), (GPU, "off", True, False),
])
def test_gradient_checkpointing_table(tmp_path, hardware, choice, long_sequences, expected):
    config = sft_config(tmp_path, use_gradient_checkpointing=choice)
    resolved = common.resolve_settings(config, hardware, long_sequences=long_sequences)
    assert resolved.gradient_checkpointing is expected
    assert config.use_gradient_checkpointing == ("on" if expected else "off")  # what gets recorded


@pytest.mark.parametrize(("hardware", "choice", "expected"), [
    (CPU, "auto", "fp32"), (CPU, "fp32", "fp32"), (GPU, "auto", "bf16"), (GPU, "fp16", "fp16"), (GPU, "fp32", "fp32"),
])
def test_precision_table(tmp_path, hardware, choice, expected):
    config = sft_config(tmp_path, precision=choice)
    assert common.resolve_settings(config, hardware).precision == expected == config.precision


def test_half_precision_on_a_cpu_names_the_flag(tmp_path):
    with pytest.raises(InputError, match="--precision"):
        common.resolve_settings(sft_config(tmp_path, precision="bf16"), CPU)


@pytest.mark.parametrize(("given", "normalised"), [(True, "on"), (False, "off"), ("true", "on"), ("False", "off"),
                                                   ("AUTO", "auto"), ("on", "on")])
def test_booleans_from_older_recipes_mean_on_and_off(tmp_path, given, normalised):
    assert sft_config(tmp_path, use_gradient_checkpointing=given).use_gradient_checkpointing == normalised


def test_unknown_switch_value_names_the_flag(tmp_path):
    with pytest.raises(InputError, match="--gradient-checkpointing"):
        sft_config(tmp_path, use_gradient_checkpointing="sometimes")


def test_an_unresolved_auto_never_reaches_the_trainer(tmp_path):
    config = sft_config(tmp_path)
    with pytest.raises(ValueError, match="resolve_settings"):
        config.to_trl_config("fp32", tmp_path / "checkpoints")


@pytest.mark.parametrize("choice", ["auto", "on"])
def test_the_resolved_value_reaches_the_trainer(tiny_model_dir, tmp_path, choice):
    """transformers 5 reads ``activation_checkpointing`` (at train time) and TRL its alias
    ``gradient_checkpointing`` (when it wraps the model in LoRA): both must carry the value."""
    from datasets import Dataset
    from trl import GRPOTrainer

    config = GRPOStageConfig(model=str(tiny_model_dir), dataset="synthetic:math?n=4", output=str(tmp_path / "out"),
                             use_gradient_checkpointing=choice, batch_size=4, group_size=4, lora_r=4)
    settings = common.resolve_settings(config, CPU)
    trl_config = config.to_trl_config(settings.precision, tmp_path / "checkpoints", CPU, [1.0])
    assert trl_config.activation_checkpointing is trl_config.gradient_checkpointing is (choice == "on")
    trainer = GRPOTrainer(model=common.load_causal_lm(str(tiny_model_dir), "fp32", "sdpa"),
                          reward_funcs=lambda completions, **_: [0.0] * len(completions), args=trl_config,
                          train_dataset=Dataset.from_list([{"prompt": "1 + 1 ="}] * 4),
                          peft_config=common.lora_config(config))  # as the stage builds it
    if choice == "auto":  # off on this CPU: TRL's LoRA wrapping must not have turned it on
        assert not trainer.model.get_base_model().is_activation_checkpointing
