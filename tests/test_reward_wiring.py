"""The reward weights given on the command line or as pipeline parameters reach TRL's trainer.

Distinct weights per component (5, 3, 1, 0, 1 -> 0.5, 0.3, 0.1, -, 0.1) so a swap, a dropped
flag or a default silently used in between changes what the trainer holds.
"""
from __future__ import annotations

import pytest

from reasoning.pipeline.params import REWARD_FIELDS, grpo_stage_config, make_parameters
from reasoning.stages import grpo
from tests.test_stage_grpo import write_problems

WEIGHT_FLAGS = ["--correctness-weight", "5", "--format-weight", "3", "--consistency-weight", "1",
                "--length-weight", "0", "--process-weight", "1"]
EXPECTED_NAMES = ["correctness", "format", "consistency", "process"]  # length weighs 0: not computed at all
EXPECTED_WEIGHTS = [0.5, 0.3, 0.1, 0.1]


def test_grpo_stage_gives_the_trainer_exactly_the_normalised_weight_flags(tiny_model_dir, tmp_path, monkeypatch):
    """The real trainer, built by the stage from its command line, holds the flags' weights."""
    from reasoning.fast_grpo import trainer as fast_trainer

    built = []

    class RecordingTrainer(fast_trainer.FastGRPOTrainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            built.append(self)

    monkeypatch.setattr(fast_trainer, "FastGRPOTrainer", RecordingTrainer)
    data = write_problems(tmp_path / "problems.jsonl", n=2)
    code = grpo.main(["--model", str(tiny_model_dir), "--dataset", str(data), "--output", str(tmp_path / "out"),
                      "--iterations", "1", "--group-size", "2", "--batch-size", "2", "--max-completion-length", "4",
                      "--lora-r", "4", "--gradient-checkpointing", "off", *WEIGHT_FLAGS])
    assert code == 0
    (trainer,) = built
    assert trainer.reward_func_names == EXPECTED_NAMES
    assert trainer.reward_weights.tolist() == pytest.approx(EXPECTED_WEIGHTS)
    assert trainer.args.reward_weights == pytest.approx(EXPECTED_WEIGHTS)


def test_pipeline_parameters_reach_the_grpo_stage_config():
    """What the reasoning_grpo component does with its inputs (KFP hands floats, the CLI strings)."""
    from reasoning.pipeline.launch import stage_config
    params = make_parameters({"correctness_weight": "5", "format_weight": 3.0, "consistency_weight": 1,
                              "length_weight": "0", "process_weight": "1.0"})
    config = stage_config("grpo", grpo_stage_config(params, model="m", dataset="d", output="o"))
    assert config.reward_weights() == {"correctness_weight": 5.0, "format_weight": 3.0, "consistency_weight": 1.0,
                                       "length_weight": 0.0, "process_weight": 1.0}
    functions, weights = grpo.reward_functions(config)
    assert [f.__name__ for f in functions] == EXPECTED_NAMES
    assert weights == pytest.approx(EXPECTED_WEIGHTS)


def test_compiled_pipeline_wires_each_weight_from_the_parameter_of_the_same_name(tmp_path):
    """In every DAG of the compiled pipeline, each task's weight input comes from the enclosing
    pipeline's input of the same name, down to the one GRPO task."""
    import yaml

    from pipelines.reasoning_pipeline import compile_pipeline
    path = tmp_path / "pipeline.yaml"
    compile_pipeline(str(path), "ghcr.io/example", "0.1.0")
    spec = next(yaml.safe_load_all(path.read_text()))
    root_inputs = spec["root"]["inputDefinitions"]["parameters"]
    assert set(REWARD_FIELDS) <= set(root_inputs)
    dags = [spec["root"]["dag"]] + [c["dag"] for c in spec["components"].values() if "dag" in c]
    grpo_tasks = 0
    for dag in dags:
        for task_name, task in dag["tasks"].items():
            parameters = task.get("inputs", {}).get("parameters", {})
            for name in REWARD_FIELDS:
                if name in parameters:
                    # inside a dsl.If, KFP names the channel "pipelinechannel--<name>"
                    source = parameters[name].get("componentInputParameter", "").removeprefix("pipelinechannel--")
                    assert source == name, (task_name, name, parameters[name])
            if task["componentRef"]["name"].startswith("comp-reasoning-grpo"):
                grpo_tasks += 1
                assert set(REWARD_FIELDS) <= set(parameters), task_name
    assert grpo_tasks == 1  # one task per stage
