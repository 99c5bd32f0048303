"""The end-to-end proof, reduced: the default recipe's stages teach the real default model.

Runs the same steps as ``make run`` (recipes/pipeline_default_cpu.yaml) directly, without
kfp.local, on the real SmolLM2-135M-Instruct with fewer rows and steps (480 rows, 60 SFT steps): synthetic problems
-> templated CoT -> LoRA SFT -> 2 GRPO steps -> evaluation of base vs SFT vs GRPO on the
first 32 held-out synthetic problems. A regression in any stage (data, loss masking, LoRA
merge, rewards, answer checking, generation) shows up as SFT no longer beating the base
model. About 8 minutes on 2 cores, hence slow (`make test-all`).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def test_reduced_default_recipe_teaches_the_default_model(tmp_path: Path):
    from reasoning.pipeline import steps as pipeline_steps
    from reasoning.pipeline.params import (
        grpo_stage_config,
        load_pipeline_recipe,
        make_parameters,
        sft_stage_config,
        validate_parameters,
    )

    recipe = load_pipeline_recipe(ROOT / "recipes" / "pipeline_default_cpu.yaml")
    recipe.update(dataset="synthetic:math?n=480&seed=0&split=train&family=arithmetic&difficulty=1",
                  sft_max_steps=60, grpo_iterations=2, eval_datasets="synthetic-test", eval_limit=32,
                  eval_max_new_tokens=96)
    validate_parameters(recipe)
    params = make_parameters(recipe)

    base = tmp_path / "base"
    pipeline_steps.import_model(params.base_model, base)
    problems = tmp_path / "problems"
    pipeline_steps.import_dataset(params.dataset, problems)
    cot = tmp_path / "cot"
    pipeline_steps.generate_cot(problems, cot, reasoning_type=params.reasoning_type, seed=params.seed)

    sft = tmp_path / "sft"
    pipeline_steps.run_training_stage("sft", sft_stage_config(
        params, model=str(base), dataset=str(pipeline_steps.dataset_rows(cot)), output=str(sft)))
    grpo = tmp_path / "grpo"
    pipeline_steps.run_training_stage("grpo", grpo_stage_config(
        params, model=str(sft), dataset=str(pipeline_steps.dataset_rows(problems)), output=str(grpo)))

    report = tmp_path / "report"
    pipeline_steps.evaluate_models({"base": str(base), "sft": str(sft), "grpo": str(grpo)},
                                   params.eval_dataset_list, report, limit=params.eval_limit,
                                   max_new_tokens=params.eval_max_new_tokens, seed=params.seed)
    results = json.loads((report / "metrics.json").read_text())["results"]
    overall = {model: results[model]["datasets"]["synthetic-test"]["overall"] for model in ("base", "sft", "grpo")}
    print({model: (o["accuracy"], o["format_compliance"]) for model, o in overall.items()})

    # 80 SFT steps (make proof) reach ~86% from ~11%, the default's 40 about 68%; 60 must still clear the base
    # model by a wide margin (24 steps were measured not to: 31% vs 25%, format learnt first)
    # and produce the <think> format almost always.
    assert overall["sft"]["accuracy"] >= overall["base"]["accuracy"] + 0.25
    assert overall["sft"]["format_compliance"] >= 0.8
    assert overall["grpo"]["format_compliance"] >= 0.8
