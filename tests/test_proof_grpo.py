"""Issue 16's acceptance check, as a regression test: `make proof` (SFT on easy arithmetic, then GRPO with
dynamic sampling on fresh carry/borrow problems: recipes/grpo_proof_cpu.yaml says why) leaves the GRPO
model ahead of the SFT model by at least 5 points on the 200 held-out carry problems, by a paired
bootstrap 95% interval that excludes zero, and SFT still lifts the base model on the easy family.

Runs the three proof recipes stage by stage (recipes/sft_proof_cpu.yaml, recipes/grpo_proof_cpu.yaml,
recipes/eval_proof_cpu.yaml), in a temporary directory. About 41 minutes on a quiet 2-core machine (`make proof`: 2,454 s): slow (`make test-all`).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def test_grpo_beats_sft_on_held_out_problems(tmp_path: Path):
    from reasoning.config import parse_config
    from reasoning.stages import eval as eval_stage
    from reasoning.stages import grpo, sft

    sft_config = parse_config(sft.SFTStageConfig, ["--config", str(ROOT / "recipes" / "sft_proof_cpu.yaml"),
                                                   "--output", str(tmp_path / "sft")], prog="sft")
    sft.run(sft_config)
    grpo_config = parse_config(grpo.GRPOStageConfig, ["--config", str(ROOT / "recipes" / "grpo_proof_cpu.yaml"),
                                                      "--model", sft_config.output,
                                                      "--output", str(tmp_path / "grpo")], prog="grpo")
    grpo.run(grpo_config)
    report = tmp_path / "report"
    eval_config = parse_config(eval_stage.EvalStageConfig, [
        "--config", str(ROOT / "recipes" / "eval_proof_cpu.yaml"), "--cache-dir", "", "--output", str(report),
        "--model", f"base=builtin:smollm2-135m-instruct,sft={sft_config.output},grpo={grpo_config.output}"],
        prog="eval")
    eval_stage.run(eval_config)
    metrics = json.loads((report / "metrics.json").read_text())
    pairs = {(e["baseline"], e["candidate"], e["dataset"]): e for e in metrics["comparison"]["paired_bootstrap"]}
    print(json.dumps(pairs, indent=1))
    gain = pairs[("sft", "grpo", "carry-test")]
    assert gain["problems"] >= 200
    assert gain["difference"] >= 0.05 and gain["low"] > 0, gain
    lift = pairs[("base", "sft", "synthetic-test")]
    assert lift["low"] > 0, lift  # SFT still teaches the easy family
    assert metrics["comparison"]["sampled"]["grpo"]["carry-test"]["k"] == 4
