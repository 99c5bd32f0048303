"""Every recipe in recipes/ loads into its config class, so none can rot unnoticed.

The stage is chosen by the file name's prefix (sft_, grpo_, context_, eval_); pipeline_*.yaml
recipes belong to the pipeline and load with its own loader.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from reasoning.config import load_recipe, parse_config

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def stage_class(prefix: str):
    from reasoning.stages.context import ContextStageConfig
    from reasoning.stages.eval import EvalStageConfig
    from reasoning.stages.grpo import GRPOStageConfig
    from reasoning.stages.sft import SFTStageConfig
    return {"sft": SFTStageConfig, "grpo": GRPOStageConfig, "context": ContextStageConfig,
            "eval": EvalStageConfig}.get(prefix)


def all_recipes() -> list[Path]:
    return sorted(RECIPES.glob("*.yaml"))


def test_the_stage_recipes_exist():
    names = {p.name for p in all_recipes()}
    for required in ("sft_default_cpu.yaml", "grpo_default_cpu.yaml", "context_default_cpu.yaml",
                     "sft_7b_gpu.yaml", "grpo_7b_gpu.yaml"):
        assert required in names


@pytest.mark.parametrize("recipe", all_recipes(), ids=lambda p: p.name)
def test_recipe_loads_into_its_config(recipe: Path):
    prefix = recipe.name.split("_", 1)[0]
    first_line = recipe.read_text().splitlines()[0]
    if prefix == "pipeline":
        pytest.importorskip("reasoning.pipeline.params")
        from reasoning.pipeline.params import load_pipeline_recipe
        assert load_pipeline_recipe(recipe)
        return
    cls = stage_class(prefix)
    assert cls is not None, f"{recipe.name}: no stage for prefix {prefix!r} (expected sft_, grpo_, context_, eval_)"
    # Headed by the exact command that runs it, naming this very file.
    assert first_line.startswith("# ") and f"recipes/{recipe.name}" in first_line
    assert f"reasoning.stages.{prefix}" in first_line
    values = load_recipe(recipe, cls)
    flags = []
    if prefix == "eval":  # its models are the earlier steps' outputs: same names, a model that exists here
        values["models"] = [f"{spec.split('=')[0]}=builtin:smollm2-135m-instruct" for spec in values["models"]]
        flags = ["--model", ",".join(values["models"])]
    config = cls(**values)
    # The same recipe through the CLI gives the same config (flags and keys are one set).
    via_cli = parse_config(cls, ["--config", str(recipe), *flags], prog="test")
    assert dataclasses.asdict(via_cli) == dataclasses.asdict(config)


def test_gpu_recipes_use_bf16_and_the_cpu_ones_fp32_defaults():
    from reasoning.stages.grpo import GRPOStageConfig
    gpu = GRPOStageConfig(**load_recipe(RECIPES / "grpo_7b_gpu.yaml", GRPOStageConfig))
    assert gpu.precision == "bf16" and gpu.vllm == "colocate" and gpu.batch_size % gpu.group_size == 0
    cpu = GRPOStageConfig(**load_recipe(RECIPES / "grpo_default_cpu.yaml", GRPOStageConfig))
    assert cpu.precision == "auto" and cpu.iterations == 20 and cpu.group_size == 4


def test_flag_overrides_recipe():
    from reasoning.stages.sft import SFTStageConfig
    config = parse_config(SFTStageConfig, ["--config", str(RECIPES / "sft_default_cpu.yaml"), "--lora-r", "8",
                                           "--no-lora"], prog="test")
    assert config.lora_r == 8 and config.use_lora is False


def test_the_context_run_is_the_default_run_plus_stage_3():
    """`make run-context` is `make run` with context extension: every other setting is the default's, so the
    two runs' times and tables compare (the context recipe once lagged the default by 40 SFT steps)."""
    pytest.importorskip("reasoning.pipeline.params")
    from reasoning.pipeline.params import load_pipeline_recipe, make_parameters
    default = dataclasses.asdict(make_parameters(load_pipeline_recipe(RECIPES / "pipeline_default_cpu.yaml")))
    context = dataclasses.asdict(make_parameters(load_pipeline_recipe(RECIPES / "pipeline_context_cpu.yaml")))
    stage_3 = {"enable_context", "target_context", "scaling_type", "context_dataset", "context_steps",
               "long_context_lengths", "long_context_tasks", "context_gate_metric", "context_gate_min_score",
               "context_gate_max_window_ppl_ratio"}
    differ = {name for name in default if default[name] != context[name]}
    assert differ - stage_3 == set()
    assert context["enable_context"] is True and context["long_context_lengths"]
