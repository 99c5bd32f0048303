"""The evaluation stage's statistics section end to end (tiny models, 4 problems): paired bootstrap
of each model against the one before it, pass@1 / maj@k from sampled completions, the GRPO model's
curves, and the evaluation cache (a hit generates nothing; any changed setting misses)."""
from __future__ import annotations

import json

import pytest

from reasoning.stages import eval as eval_stage
from reasoning.stages.eval import EvalStageConfig, run
from tests.test_stage_eval import constant_model_dir, eval_files  # noqa: F401  (fixtures)


def config(tmp_path, constant_model_dir, tiny_model_dir, eval_files, **changes):  # noqa: F811
    values = {"models": [f"const={constant_model_dir}", f"tiny={tiny_model_dir}"],
              "datasets": [f"arith={eval_files['arith']}"], "limit": 4, "max_new_tokens": 8, "batch_size": 4,
              "sampled_k": 2, "bootstrap_resamples": 500, "cache_dir": str(tmp_path / "cache"),
              "output": str(tmp_path / "report"), **changes}
    return EvalStageConfig(**values)


def test_comparison_section_and_cache(tmp_path, constant_model_dir, tiny_model_dir, eval_files):  # noqa: F811
    first = run(config(tmp_path, constant_model_dir, tiny_model_dir, eval_files))
    output = tmp_path / "report"
    metrics = json.loads((output / "metrics.json").read_text())
    samples = [json.loads(line) for line in (output / "samples.jsonl").read_text().splitlines()]
    sampled = [json.loads(line) for line in (output / "sampled_samples.jsonl").read_text().splitlines()]
    assert len(samples) == 2 * 4 and len(sampled) == 2 * 4 * 2  # greedy main pass; k = 2 sampled
    comparison = metrics["comparison"]
    (pair,) = comparison["paired_bootstrap"]
    assert (pair["baseline"], pair["candidate"], pair["dataset"], pair["problems"]) == ("const", "tiny", "arith", 4)
    accuracy = {m: sum(s["correct"] for s in samples if s["model"] == m) / 4 for m in ("const", "tiny")}
    assert accuracy["const"] == 0.5
    assert pair["difference"] == pytest.approx(accuracy["tiny"] - accuracy["const"])
    assert pair["low"] <= pair["difference"] <= pair["high"]
    # The constant model answers 44444444 whatever the temperature: pass@1 = maj@2 = its accuracy.
    assert comparison["sampled"]["const"]["arith"] == {"problems": 4, "k": 2, "pass@1": 0.5, "maj@k": 0.5}
    curve = comparison["grpo_curves"]["const"]["curve"]  # const is a "grpo" artifact with a train log
    assert curve["step"] == [1, 2] and curve["reward"] == [0.2, 0.6]
    markdown = (output / "report.md").read_text()
    assert "## Accuracy differences (paired bootstrap)" in markdown
    assert "## Sampled completions: pass@1 and maj@k" in markdown and "## GRPO training" in markdown
    assert "tiny - const on arith (4 problems)" in first["summary"] and "maj@2 50.0%" in first["summary"]

    # Same weights, rows, settings and code: reused, nothing generated.
    def no_generation(*args, **kwargs):
        raise AssertionError("the cached evaluation should have been reused")

    original = eval_stage.evaluate_model
    eval_stage.evaluate_model = no_generation
    try:
        again = run(config(tmp_path, constant_model_dir, tiny_model_dir, eval_files, output=str(tmp_path / "again")))
    finally:
        eval_stage.evaluate_model = original
    assert again["metrics"] == first["metrics"]
    assert json.loads((tmp_path / "again" / "metrics.json").read_text())["comparison"]["grpo_curves"]
    cached = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert all(seconds == 0.0 for per_model in cached["generation_seconds"].values() for seconds in per_model.values())
    assert [json.loads(line) for line in (tmp_path / "again" / "samples.jsonl").read_text().splitlines()] == samples
    # Any setting that changes the output is a different key.
    calls = []

    def counting(*args, **kwargs):
        calls.append(args[0])
        return original(*args, **kwargs)

    eval_stage.evaluate_model = counting
    try:
        run(config(tmp_path, constant_model_dir, tiny_model_dir, eval_files, max_new_tokens=6,
                   output=str(tmp_path / "changed")))
    finally:
        eval_stage.evaluate_model = original
    assert calls == ["const", "tiny"]


def test_sampled_completions_only_where_asked(tmp_path, constant_model_dir, tiny_model_dir, eval_files):  # noqa: F811
    """--sampled-models / --sampled-datasets restrict the costly k completions; a model left out keeps its
    greedy numbers and reuses the cache entry of a run without sampling."""
    run(config(tmp_path, constant_model_dir, tiny_model_dir, eval_files, sampled_k=0,
               output=str(tmp_path / "plain")))
    calls = []
    original = eval_stage.evaluate_model

    def counting(*args, **kwargs):
        calls.append(args[0])
        return original(*args, **kwargs)

    eval_stage.evaluate_model = counting
    try:
        run(config(tmp_path, constant_model_dir, tiny_model_dir, eval_files, sampled_models=["const"],
                   output=str(tmp_path / "one_model")))
        run(config(tmp_path, constant_model_dir, tiny_model_dir, eval_files,
                   datasets=[f"arith={eval_files['arith']}", f"again={eval_files['arith']}"],
                   sampled_models=["const"], sampled_datasets=["again"], output=str(tmp_path / "one_dataset")))
    finally:
        eval_stage.evaluate_model = original
    assert calls == ["const", "const", "tiny"]  # tiny without samples: the plain run's entry; new rows: a miss

    def sampled_pairs(report):
        lines = (tmp_path / report / "sampled_samples.jsonl").read_text().splitlines()
        return [(s["model"], s["dataset"]) for s in map(json.loads, lines)]
    assert sampled_pairs("one_model") == [("const", "arith")] * 4 * 2
    assert sampled_pairs("one_dataset") == [("const", "again")] * 4 * 2
    metrics = json.loads((tmp_path / "one_dataset" / "metrics.json").read_text())
    assert metrics["comparison"]["sampled"] == {"const": {"again": {"problems": 4, "k": 2, "pass@1": 0.5,
                                                                     "maj@k": 0.5}}}
    assert set(metrics["results"]["tiny"]["datasets"]) == {"arith", "again"}  # greedy numbers for every pair


def test_sampled_selection_names_models_and_datasets(tmp_path, constant_model_dir, tiny_model_dir, eval_files):  # noqa: F811
    from reasoning.errors import InputError
    with pytest.raises(InputError, match="--sampled-models.*nope"):
        config(tmp_path, constant_model_dir, tiny_model_dir, eval_files, sampled_models=["nope"])
    with pytest.raises(InputError, match="--sampled-datasets.*gsm8k"):
        config(tmp_path, constant_model_dir, tiny_model_dir, eval_files, sampled_datasets=["gsm8k"])


def test_compare_names_models_that_exist(tmp_path, constant_model_dir, tiny_model_dir, eval_files):  # noqa: F811
    from reasoning.errors import InputError
    assert config(tmp_path, constant_model_dir, tiny_model_dir, eval_files,
                  compare=["tiny:const"]).comparison_pairs == [("tiny", "const")]
    with pytest.raises(InputError, match="--compare"):
        config(tmp_path, constant_model_dir, tiny_model_dir, eval_files, compare=["sft:grpo"])
