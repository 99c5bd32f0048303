import json

from reasoning.pipeline.params import context_stage_config, make_parameters
from reasoning.pipeline.steps import run_training_stage


def test_rescales_the_tiny_model(tiny_model_dir, tmp_path):
    params = make_parameters({"target_context": 8192, "scaling_type": "linear"})
    config = context_stage_config(params, model=str(tiny_model_dir), output=str(tmp_path / "long"))
    assert config["steps"] == 0  # no long dataset: only the RoPE rescale
    run_training_stage("context", config)
    saved = json.loads((tmp_path / "long" / "config.json").read_text())
    assert saved["max_position_embeddings"] == 8192
    assert json.loads((tmp_path / "long" / "reasoning_artifact.json").read_text())["stage"] == "context"
