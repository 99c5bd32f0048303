from reasoning.pipeline.params import grpo_stage_config, make_parameters


def test_pipeline_parameters_make_a_valid_grpo_config(tmp_path):
    from reasoning.pipeline.launch import stage_config
    params = make_parameters({"grpo_iterations": 3, "group_size": 2, "grpo_batch_size": 4,
                              "correctness_weight": 1.0, "process_weight": 0.0})
    config = stage_config("grpo", grpo_stage_config(params, model="m", dataset="d", output=str(tmp_path / "o")))
    assert (config.iterations, config.group_size, config.batch_size) == (3, 2, 4)
    assert (config.correctness_weight, config.process_weight) == (1.0, 0.0)
