from components.reasoning_sft.component import build
from reasoning.pipeline.params import make_parameters, sft_stage_config


def test_pipeline_parameters_make_a_valid_sft_config(tmp_path):
    from reasoning.pipeline.launch import stage_config
    params = make_parameters({"sft_max_steps": 0, "sft_epochs": 2, "lora_r": 8, "train_rows": 10,
                              "checkpoint_uri": "s3://bucket/run1"})
    config = stage_config("sft", sft_stage_config(params, model="m", dataset="d.jsonl", output=str(tmp_path / "o")))
    assert (config.max_steps, config.epochs, config.lora_r, config.lora_alpha, config.limit) == (-1, 2.0, 8, 16, 10)
    assert config.checkpoint_uri == "s3://bucket/run1/sft" and config.resume is True


def test_full_fine_tuning_when_lora_r_is_zero(tmp_path):
    from reasoning.pipeline.launch import stage_config
    config = stage_config("sft", sft_stage_config(make_parameters({"lora_r": 0}), model="m", dataset="d",
                                                  output=str(tmp_path / "o")))
    assert config.use_lora is False


def test_component_runs_on_the_gpu_image():
    assert build().component_spec.implementation.container.image.endswith("/reasoning-gpu:0.1.0")
