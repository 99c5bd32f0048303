"""The evaluation stage end to end on CPU: tiny models, a few rows, a few tokens.

Besides the random tiny model, a "constant" model is built whose greedy and sampled
output is always the token "4" repeated: with 8 new tokens it answers "44444444", so
rows whose reference is 44444444 are right and the others wrong, and the accuracy the
stage reports has a known, non-zero value.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from reasoning.errors import InputError
from reasoning.evaluation.metrics import pass_at_k
from reasoning.io.artifacts import finish_model_artifact, write_train_log
from reasoning.schema import Row, write_rows
from reasoning.stages.eval import (
    EvalStageConfig,
    dataset_specs,
    main,
    merge_repeated_flags,
    model_specs,
    run,
    score_response,
)

CONSTANT_ANSWER = "44444444"  # 8 new tokens of "4"


@pytest.fixture(scope="module")
def constant_model_dir(tmp_path_factory, smollm2_tokenizer_dir) -> Path:
    """A 1-layer Llama that always emits "4" (the logit of "4" is about 80, every other 0).

    Embedding dimension 0 is 100 for every token so it dominates the residual stream; the
    final norm keeps only that dimension and the untied head maps it to the token "4".
    The directory is a "grpo" model artifact with a training log whose parent ("sft")
    has its own log, for the training-curve section of the report.
    """
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(smollm2_tokenizer_dir)
    four = tokenizer("4", add_special_tokens=False)["input_ids"][0]
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=1,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                         tie_word_embeddings=False,
                         rope_parameters={"rope_type": "default", "rope_theta": 100000.0},
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        model.model.embed_tokens.weight[:, 0] = 100.0
        model.model.norm.weight.zero_()
        model.model.norm.weight[0] = 1.0
        model.lm_head.weight.zero_()
        model.lm_head.weight[four, 0] = 10.0
    root = tmp_path_factory.mktemp("constant")
    parent, child = root / "sft", root / "grpo"
    for directory, stage, base, log in (
            (parent, "sft", "builtin:smollm2-135m-instruct", [{"step": 1, "loss": 2.5}, {"step": 2, "loss": 1.9}]),
            (child, "grpo", str(parent), [{"step": 1, "loss": 0.01, "reward": 0.2, "reward_std": 0.1},
                                          {"step": 2, "loss": 0.02, "reward": 0.6, "reward_std": 0.1}])):
        model.save_pretrained(directory, safe_serialization=True)
        tokenizer.save_pretrained(directory)
        write_train_log(directory, log)
        finish_model_artifact(directory, stage=stage, base_model=base, config={})
    return child


def math_row(pid: str, answer: str, rtype: str = "math") -> Row:
    return Row(id=pid, messages=[{"role": "user", "content": f"Problem {pid}: what is the number?"}],
               reasoning_type=rtype, answer=answer, source="test")


@pytest.fixture(scope="module")
def eval_files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("eval-data")
    arith = root / "arith.jsonl"
    write_rows(arith, [math_row("a1", CONSTANT_ANSWER), math_row("a2", "5"), math_row("a3", CONSTANT_ANSWER),
                       math_row("a4", "7"), math_row("a5", CONSTANT_ANSWER)])  # a5 is beyond --limit 4
    mixed = root / "mixed.jsonl"
    write_rows(mixed, [math_row("m1", CONSTANT_ANSWER), math_row("m2", "True", rtype="logic")])
    return {"arith": arith, "mixed": mixed}


def read_samples(output: Path) -> list[dict]:
    return [json.loads(line) for line in (output / "samples.jsonl").read_text().splitlines()]


def test_two_models_two_samples_metrics_consistent_with_samples(tmp_path, constant_model_dir, tiny_model_dir,
                                                                 eval_files):
    output = tmp_path / "report"
    config = EvalStageConfig(models=[f"const={constant_model_dir}", f"tiny={tiny_model_dir}"],
                             datasets=[f"arith={eval_files['arith']}", str(eval_files["mixed"])],
                             limit=4, samples=2, max_new_tokens=8, batch_size=4, output=str(output))
    result = run(config)

    for name in ("metrics.json", "samples.jsonl", "report.md", "report.html", "summary.txt",
                 "resolved_config.yaml"):
        assert (output / name).is_file(), name
    metrics = json.loads((output / "metrics.json").read_text())
    samples = read_samples(output)
    assert metrics["settings"]["temperature"] == 0.7  # --samples 2 with temperature 0 samples at 0.7
    assert set(metrics["datasets"]) == {"arith", "mixed"}
    assert metrics["datasets"]["arith"]["rows"] == 4  # --limit takes the first 4 rows
    assert len(samples) == 2 * (4 + 2) * 2  # models x rows x samples

    for model in ("const", "tiny"):
        for dataset in ("arith", "mixed"):
            subset = [s for s in samples if s["model"] == model and s["dataset"] == dataset]
            overall = metrics["results"][model]["datasets"][dataset]["overall"]
            assert overall["samples"] == len(subset) and overall["samples_per_problem"] == 2
            assert overall["accuracy"] == pytest.approx(sum(s["correct"] for s in subset) / len(subset))
            assert overall["pass@1"] == pytest.approx(overall["accuracy"])
            assert overall["format_compliance"] == pytest.approx(sum(s["format_ok"] for s in subset) / len(subset))
            assert overall["mean_response_tokens"] == pytest.approx(sum(s["tokens"] for s in subset) / len(subset))
            problems = {s["id"] for s in subset}
            expected_pass2 = sum(pass_at_k(2, sum(s["correct"] for s in subset if s["id"] == p), 2)
                                 for p in problems) / len(problems)
            assert overall["pass@2"] == pytest.approx(expected_pass2)
            assert "majority_accuracy" in overall and set(overall["reward_components"]) >= {"format"}
            assert all("format" in s["components"] for s in subset)  # every sample carries its components

    const_arith = metrics["results"]["const"]["datasets"]["arith"]["overall"]
    assert const_arith["accuracy"] == 0.5 and const_arith["majority_accuracy"] == 0.5
    assert const_arith["mean_response_tokens"] == 8.0
    assert all(s["response"] == CONSTANT_ANSWER for s in samples if s["model"] == "const")
    assert {s["id"] for s in samples if s["model"] == "const" and s["correct"]} == {"a1", "a3", "m1"}
    by_type = metrics["results"]["const"]["datasets"]["mixed"]["by_reasoning_type"]
    assert by_type["math"]["accuracy"] == 1.0 and by_type["logic"]["accuracy"] == 0.0
    assert set(metrics["results"]["const"]["by_reasoning_type"]) == {"math", "logic"}
    assert result["metrics"]["const/arith/accuracy"] == 0.5 and result["output"] == str(output)

    markdown = (output / "report.md").read_text()
    page = (output / "report.html").read_text()
    assert "| model | arith | mixed |" in markdown and "| const | 50.0% / 0.0% | 50.0% / 0.0% |" in markdown
    assert "<table>" in page and "<th>arith</th>" in page
    # Accuracy bars + training curves (grpo's own log and its sft parent's) + the GRPO reward curves.
    assert markdown.count("data:image/png;base64,") == 3 and page.count("data:image/png;base64,") == 3
    assert "const (grpo)" in markdown and "sft (sft)" in markdown
    assert "const" in result["summary"] and "tiny" in result["summary"]


def test_score_response_uses_the_shared_checker_and_format_reward():
    row = math_row("x", "12")
    right = score_response(row, "<think>\n3 * 4 = 12\n</think>\n\nThe answer is 12.", _reward(), _Tok())
    assert right["correct"] and right["format_ok"] and right["extracted_answer"] == "12"
    wrong = score_response(row, "<think>\n3 * 4 = 13\n</think>\n\nThe answer is 13.", _reward(), _Tok())
    assert not wrong["correct"] and wrong["format_ok"]
    unformatted = score_response(row, "The answer is 12.", _reward(), _Tok())
    assert unformatted["correct"] and not unformatted["format_ok"]
    assert right["reward"] > wrong["reward"]


def test_humaneval_is_checked_in_the_sandbox():
    from reasoning.data.datasets import resolve_dataset

    rows = resolve_dataset("humaneval", limit=2)
    for row in rows:
        solved = score_response(row, f"<think>\nimplement it\n</think>\n\n```python\n{row.answer}\n```", _reward(), _Tok())
        assert solved["correct"], row.id
        stub = f"def {row.entry_point}(*args):\n    return None\n"
        broken = score_response(row, f"<think>\nguess\n</think>\n\n```python\n{stub}```", _reward(), _Tok())
        assert not broken["correct"], row.id


def test_cli_repeated_model_flag_on_humaneval(tmp_path, constant_model_dir, capsys):
    output = tmp_path / "he"
    from reasoning.cli import main as reasoning_main  # `reasoning eval ...` dispatches to the stage's main

    code = reasoning_main(["eval", "--model", f"a={constant_model_dir}", "--model", f"b={constant_model_dir}",
                 "--datasets", "humaneval", "--limit", "2", "--max-new-tokens", "4", "--output", str(output)])
    assert code == 0
    metrics = json.loads((output / "metrics.json").read_text())
    assert list(metrics["results"]) == ["a", "b"]
    assert metrics["results"]["a"]["datasets"]["humaneval"]["overall"]["problems"] == 2
    assert metrics["results"]["a"]["datasets"]["humaneval"]["overall"]["accuracy"] == 0.0  # "4444" is no program
    assert json.loads(capsys.readouterr().out)["metrics"]["b/humaneval/accuracy"] == 0.0


class _Tok:
    """Whitespace token count: score_response only needs a tokenizer's __call__."""

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": text.split()}


def _reward():
    from reasoning.rewards import create_reward_function
    return create_reward_function("combined")


def test_names_and_repeated_flags():
    assert model_specs(["base=builtin:smollm2-135m-instruct", "checkpoints/grpo/", "builtin:smollm2-135m-instruct"]) == [
        ("base", "builtin:smollm2-135m-instruct"), ("grpo", "checkpoints/grpo/"),
        ("smollm2-135m-instruct", "builtin:smollm2-135m-instruct")]
    assert dataset_specs(["gsm8k=../shared/data/gsm8k/test.jsonl", "../shared/data/folio/validation.jsonl",
                          "data/mine.jsonl", "humaneval", "synthetic:math?n=5&split=test"]) == [
        ("gsm8k", "../shared/data/gsm8k/test.jsonl"), ("folio-validation", "../shared/data/folio/validation.jsonl"),
        ("mine", "data/mine.jsonl"), ("humaneval", "humaneval"), ("synthetic-math", "synthetic:math?n=5&split=test")]
    assert merge_repeated_flags(["--model", "a=x", "--limit", "3", "--model=b=y", "--dataset", "d1"]) == [
        "--limit", "3", "--model", "a=x,b=y", "--datasets", "d1"]


@pytest.mark.parametrize("changes,flag", [
    ({"samples": 0}, "--samples"),
    ({"limit": 0}, "--limit"),
    ({"top_p": 0.0}, "--top-p"),
    ({"models": ["does/not/exist"]}, "--model"),
    ({"models": ["a=x", "a=y"]}, "--model"),
    ({"datasets": ["missing/file.jsonl"]}, "--datasets"),
])
def test_bad_config_is_refused(tiny_model_dir, changes, flag):
    values = {"models": [str(tiny_model_dir)], "datasets": ["humaneval"], **changes}
    with pytest.raises(InputError) as error:
        EvalStageConfig(**values)
    assert flag in str(error.value)


def test_unknown_dataset_refused_before_loading_a_model(tmp_path, tiny_model_dir, monkeypatch):
    import reasoning.modeling.models
    # Loading a model at all would be the failure here.
    monkeypatch.setattr(reasoning.modeling.models, "load_model", lambda *a, **k: pytest.fail("a model was loaded"))
    config = EvalStageConfig(models=[str(tiny_model_dir)], datasets=["no-such-dataset"], output=str(tmp_path / "o"))
    with pytest.raises(InputError, match="no-such-dataset"):
        run(config)
    assert not (tmp_path / "o").exists()
    assert main(["--model", str(tiny_model_dir), "--samples", "0"]) == 2


def test_recipe_yaml_and_flags_give_one_config(tmp_path, tiny_model_dir):
    from reasoning.config import parse_config

    recipe = tmp_path / "eval.yaml"
    recipe.write_text(f"models: [base={tiny_model_dir}, other={tiny_model_dir}]\ndatasets: [humaneval]\n"
                      "samples: 4\nlimit: 3\n")
    config = parse_config(EvalStageConfig, ["--config", str(recipe), "--limit", "5"], prog="eval")
    assert config.models == [f"base={tiny_model_dir}", f"other={tiny_model_dir}"]
    assert (config.samples, config.limit, config.effective_temperature) == (4, 5, 0.7)
    recipe.write_text("modls: [x]\n")
    with pytest.raises(InputError, match="modls"):
        parse_config(EvalStageConfig, ["--config", str(recipe)], prog="eval")
