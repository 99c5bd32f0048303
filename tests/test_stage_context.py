"""Context stage: each scaling type writes a model whose config loads with the scaling,
optional long-sequence tuning runs, and bad requests are refused before loading."""
from __future__ import annotations

import json

import pytest

from reasoning.io import artifacts
from reasoning.stages import context
from reasoning.stages.context import ContextStageConfig


@pytest.mark.parametrize("scaling_type", ["yarn", "linear", "dynamic", "ntk"])
def test_each_scaling_type_is_saved_in_the_config(tiny_model_dir, tmp_path, scaling_type):
    out = tmp_path / scaling_type
    result = context.run(ContextStageConfig(model=str(tiny_model_dir), output=str(out), target_context=8192,
                                            scaling_type=scaling_type))
    from transformers import AutoConfig, AutoModelForCausalLM
    config = AutoConfig.from_pretrained(out)  # no extra flag: the scaling is in config.json
    rope = config.rope_parameters
    expected_type = {"ntk": "default"}.get(scaling_type, scaling_type)
    assert rope["rope_type"] == expected_type
    if scaling_type == "ntk":
        assert rope["rope_theta"] > 100000.0  # a larger base instead of a factor
    else:
        assert rope["factor"] == 4.0
    # dynamic NTK measures growth from the original length (see reasoning.modeling.context_extension)
    assert config.max_position_embeddings == (2048 if scaling_type == "dynamic" else 8192)
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.rope_parameters["rope_type"] == expected_type
    meta = artifacts.read_metadata(out)
    assert meta["lineage"]["context"]["target_length"] == 8192 and result["metrics"]["rope_factor"] == 4.0


def test_fine_tunes_on_long_rows(tiny_model_dir, tmp_path):
    data = tmp_path / "long.jsonl"
    text = " ".join(f"fact {i} is {i * 7}." for i in range(60))
    rows = [{"messages": [{"role": "user", "content": text + f" What is fact {k}?"},
                          {"role": "assistant", "content": str(k * 7)}], "answer": str(k * 7)} for k in range(4)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "long"
    code = context.main(["--model", str(tiny_model_dir), "--output", str(out), "--target-context", "4096",
                         "--scaling-type", "yarn", "--dataset", str(data), "--steps", "2", "--max-length", "512",
                         "--lora-r", "4"])
    assert code == 0
    log = [r for r in artifacts.read_train_log(out) if "loss" in r]
    assert [r["step"] for r in log] == [1, 2]
    from transformers import AutoConfig
    assert AutoConfig.from_pretrained(out).rope_parameters["rope_type"] == "yarn"


@pytest.mark.parametrize("argv, message", [
    (["--target-context", "1024"], "must be above"),          # tiny model: 2048 positions
    (["--target-context", "4096", "--original-context", "8192"], "must be above"),
    (["--scaling-type", "cubic"], "unknown scaling type"),
    (["--steps", "5"], "need a --dataset"),
    (["--model", "/nonexistent"], "model path does not exist"),
])
def test_bad_requests_are_refused(tiny_model_dir, tmp_path, capsys, argv, message):
    code = context.main(["--model", str(tiny_model_dir), "--output", str(tmp_path / "o"), *argv])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
