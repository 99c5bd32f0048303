"""The context stage proves its extension: the sweep chooses by the stated rule and records it,
the gate refuses a model below the threshold (no model written, the report says why), and bad
long-context requests are refused before any weights load, naming the flag."""
from __future__ import annotations

import json

import pytest

from reasoning.errors import EXIT_GATE_REFUSED
from reasoning.evaluation.long_context import GateFailed
from reasoning.io import artifacts
from reasoning.stages import context
from reasoning.stages.context import ContextStageConfig

# tiny model: 2,048 positions; 3,000 tokens lie beyond its window, inside the 4,096 target.
FAST = dict(target_context=4096, long_context_lengths=[512, 2500], long_context_depths=[0.5],
            long_context_tasks=["passkey", "perplexity"], long_context_prefill_chunk=1024)


def test_sweep_chooses_by_the_rule_and_records_it(tiny_model_dir, tmp_path):
    out = tmp_path / "long"
    result = context.run(ContextStageConfig(model=str(tiny_model_dir), output=str(out), scaling_type="linear,ntk",
                                            gate_metric="ppl_retention", **FAST))
    proof = result["long_context"]
    assert set(proof["results"]) == {"unscaled", "linear", "ntk"}
    tails = {k: proof["results"][k]["lengths"]["2500"]["ppl_tail"] for k in ("linear", "ntk")}
    assert tails[proof["choice"]["chosen"]] == min(tails.values())  # the rule for ppl_retention
    meta = artifacts.read_metadata(out)
    lineage = meta["lineage"]["long_context"]
    assert lineage["choice"]["chosen"] == proof["choice"]["chosen"] and "lowest ppl_tail" in lineage["choice"]["rule"]
    assert set(lineage["scores"]["linear"]) == {"512", "2500"}
    from transformers import AutoConfig
    saved = AutoConfig.from_pretrained(out).rope_parameters
    assert saved["rope_type"] == {"ntk": "default"}.get(proof["choice"]["chosen"], proof["choice"]["chosen"])
    report = (out / "long_context" / "report.md").read_text()
    assert "Gate PASSED" in report and "Chosen scaling type" in report and "data:image/png;base64," in report


def test_gate_refuses_a_model_below_the_threshold(tiny_model_dir, tmp_path, capsys):
    # A random tiny model retrieves no passkey: 0 < 0.5, so nothing may go on to GRPO.
    out = tmp_path / "refused"
    argv = ["--model", str(tiny_model_dir), "--output", str(out), "--target-context", "4096",
            "--scaling-type", "yarn", "--long-context-lengths", "3000", "--long-context-depths", "0.5",
            "--long-context-tasks", "passkey", "--no-long-context-baseline",
            "--gate-metric", "passkey", "--gate-min-score", "0.5"]
    assert context.main(argv) == EXIT_GATE_REFUSED
    assert "passkey at 3000 tokens is 0.000, which is below the threshold 0.5" in capsys.readouterr().err
    assert not (out / "config.json").exists() and not (out / "model.safetensors").exists()
    gate = json.loads((out / "gate.json").read_text())
    assert gate["passed"] is False and gate["threshold"] == 0.5
    assert "Gate REFUSED" in (out / "long_context" / "report.md").read_text()


def test_gate_passes_the_same_model_at_a_lower_threshold(tiny_model_dir, tmp_path):
    out = tmp_path / "passed"
    result = context.run(ContextStageConfig(model=str(tiny_model_dir), output=str(out), scaling_type="yarn",
                                            long_context_baseline=False, gate_metric="passkey",
                                            gate_min_score=0.0, **{**FAST, "long_context_lengths": [2500],
                                                                   "long_context_tasks": ["passkey"]}))
    assert result["long_context"]["gate"]["passed"] and (out / "model.safetensors").exists()
    assert artifacts.read_metadata(out)["metrics"]["gate_passed"] is True


def test_window_limit_in_a_sweep_keeps_a_type_that_leaves_the_window_as_it_was(tiny_model_dir, tmp_path):
    """Dynamic RoPE changes nothing inside the original window (the first 2,048 positions are
    scored before the prefill passes it), so its in-window perplexity is the unscaled model's:
    ratio 1.0, within any limit; the choice and the gate see it, the lineage and report record it."""
    out = tmp_path / "windowed"
    result = context.run(ContextStageConfig(model=str(tiny_model_dir), output=str(out), scaling_type="linear,dynamic",
                                            gate_metric="ppl_retention", gate_max_window_ppl_ratio=1.0, **FAST))
    proof = result["long_context"]
    ratios = {k: proof["results"][k]["lengths"]["2500"]["window_ppl_ratio"] for k in ("unscaled", "linear", "dynamic")}
    assert ratios["unscaled"] == pytest.approx(1.0) and ratios["dynamic"] == pytest.approx(1.0, abs=1e-6)
    chosen = proof["choice"]["chosen"]
    assert ratios[chosen] <= 1.0 + 1e-6  # linear only if it happened to lower in-window perplexity
    gate = proof["gate"]
    assert gate["passed"] and gate["max_window_ppl_ratio"] == 1.0 and "inside the original window" in gate["reason"]
    scores = artifacts.read_metadata(out)["lineage"]["long_context"]["scores"]
    assert scores["dynamic"]["2500"]["window_ppl_ratio"] == pytest.approx(1.0, abs=1e-6)
    assert "in-window ppl / unscaled" in (out / "long_context" / "report.md").read_text()


def test_gate_failed_carries_the_decision():
    decision = {"reason": "passkey at 8 tokens is 0.000, which is below the threshold 0.5", "passed": False}
    assert str(GateFailed(decision)) == decision["reason"]


@pytest.mark.parametrize("argv, flag, message", [
    (["--long-context-lengths", "8192"], "--long-context-lengths", "above --target-context"),
    (["--long-context-lengths", "2000", "--gate-min-score", "0.5"], "--gate-length", "inside the original window"),
    (["--long-context-lengths", "1024,3000", "--gate-length", "2000"], "--gate-length", "must be one of"),
    (["--scaling-type", "linear,yarn"], "--scaling-type", "needs --long-context-lengths"),
    (["--scaling-type", "linear,cubic", "--long-context-lengths", "3000"], "--scaling-type", "unknown"),
    (["--gate-min-score", "0.5"], "--gate-min-score", "needs --long-context-lengths"),
    (["--gate-metric", "bleu", "--long-context-lengths", "3000"], "--gate-metric", "unknown"),
    (["--long-context-lengths", "3000", "--long-context-depths", "1.5"], "--long-context-depths", "fractions"),
    (["--long-context-lengths", "3000", "--long-context-tasks", "perplexity"], "--gate-metric", "needs the task"),
    (["--target-context", "1024"], "--target-context", "must be above"),
    (["--long-context-lengths", "3000", "--gate-max-window-ppl-ratio", "0.9"], "--gate-max-window-ppl-ratio",
     "must be 0 (no limit) or >= 1"),
    (["--long-context-lengths", "3000", "--long-context-tasks", "passkey", "--gate-max-window-ppl-ratio", "1.05"],
     "--gate-max-window-ppl-ratio", "needs --long-context-lengths, 'perplexity'"),
    (["--long-context-lengths", "3000", "--no-long-context-baseline", "--gate-max-window-ppl-ratio", "1.05"],
     "--gate-max-window-ppl-ratio", "--long-context-baseline"),
    (["--gate-max-window-ppl-ratio", "1.05"], "--gate-max-window-ppl-ratio", "needs --long-context-lengths"),
])
def test_bad_long_context_requests_name_the_flag(tiny_model_dir, tmp_path, capsys, argv, flag, message):
    base = ["--model", str(tiny_model_dir), "--output", str(tmp_path / "o"), "--target-context", "4096"]
    assert context.main(base + argv) == 2
    err = capsys.readouterr().err
    assert flag in err and message in err
    assert not (tmp_path / "o").exists()


def test_a_model_without_rope_is_refused_naming_the_scaling_type(tmp_path, capsys):
    from transformers import GPT2Config
    model = tmp_path / "gpt2"
    model.mkdir()
    GPT2Config(n_layer=1, n_embd=32, n_head=2, n_positions=1024).save_pretrained(model)
    (model / "model.safetensors").write_bytes(b"")  # never read: refused from config.json alone
    code = context.main(["--model", str(model), "--output", str(tmp_path / "o"), "--target-context", "4096",
                         "--scaling-type", "ntk"])
    err = capsys.readouterr().err
    assert code == 2 and "--scaling-type" in err and "cannot be applied" in err, err


def test_lengths_beyond_memory_are_refused_before_loading(tiny_model_dir, tmp_path, capsys, monkeypatch):
    import psutil

    class Small:  # a machine with 1 MiB free: the tiny model's weights alone exceed it
        available = 2**20
    monkeypatch.setattr(psutil, "virtual_memory", lambda: Small)
    code = context.main(["--model", str(tiny_model_dir), "--output", str(tmp_path / "o"), "--target-context",
                         "4096", "--long-context-lengths", "3000"])
    err = capsys.readouterr().err
    assert code == 2 and "--long-context-lengths" in err and "GiB" in err


def test_pipeline_task_refuses_to_hand_on_a_model_below_the_gate(tiny_model_dir, tmp_path):
    """The pipeline's context task (same call as components/extend_context) fails on a refused model,
    so the GRPO task after it never starts; at threshold 0 the same call hands the model on."""
    from reasoning.pipeline.params import context_stage_config, make_parameters
    from reasoning.pipeline.steps import run_training_stage
    values = {"enable_context": True, "target_context": 4096, "scaling_type": "yarn",
              "long_context_lengths": "2500", "context_gate_metric": "passkey"}
    refused = context_stage_config(make_parameters({**values, "context_gate_min_score": 0.5}),
                                   model=str(tiny_model_dir), output=str(tmp_path / "refused"))
    refused.update(long_context_tasks=["passkey"], long_context_depths=[0.5], long_context_baseline=False)
    with pytest.raises(GateFailed, match="below the threshold 0.5"):
        run_training_stage("context", refused)
    assert (tmp_path / "refused" / "gate.json").exists() and not (tmp_path / "refused" / "config.json").exists()
    passed = {**refused, "gate_min_score": 0.0, "output": str(tmp_path / "passed")}
    run_training_stage("context", passed)
    assert artifacts.read_metadata(tmp_path / "passed")["lineage"]["long_context"]["gate"]["passed"]


@pytest.mark.parametrize("values, name", [
    ({"scaling_type": "linear,cubic", "long_context_lengths": "4096"}, "scaling_type"),
    ({"scaling_type": "all"}, "scaling_type"),                                   # a sweep needs lengths
    ({"long_context_lengths": "4096,65536"}, "long_context_lengths"),             # beyond target_context
    ({"long_context_lengths": "4k"}, "long_context_lengths"),
    ({"context_gate_min_score": 0.5}, "context_gate_min_score"),                  # a gate needs lengths
    ({"context_gate_metric": "bleu", "long_context_lengths": "4096"}, "context_gate_metric"),
    ({"long_context_lengths": "4096", "long_context_tasks": "perplexity"}, "context_gate_metric"),
    ({"long_context_lengths": "4096", "long_context_tasks": "summaries"}, "long_context_tasks"),
    ({"scaling_type": "all", "long_context_lengths": "4096", "context_steps": 5, "context_dataset": "x.jsonl"},
     "context_steps"),
])
def test_pipeline_parameters_refuse_bad_context_settings(values, name):
    from reasoning.errors import InputError
    from reasoning.pipeline.params import make_parameters
    with pytest.raises(InputError, match=f"'{name}'"):
        make_parameters(values)


def test_pipeline_refuses_a_gate_inside_the_original_window(tiny_model_dir):
    from reasoning.errors import InputError
    from reasoning.pipeline.params import validate_parameters
    values = {"base_model": str(tiny_model_dir), "enable_context": True, "target_context": 4096,
              "long_context_lengths": "1024,2048", "context_gate_min_score": 0.5}
    with pytest.raises(InputError, match="'long_context_lengths'.*inside the model's window 2048"):
        validate_parameters(values)
    validate_parameters({**values, "long_context_lengths": "1024,3000"})
