import pytest

from components.validate_parameters.component import build
from reasoning.errors import InputError
from reasoning.pipeline.params import parameter_defaults, validate_parameters


def test_normalises_and_checks_inputs(tiny_model_dir):
    values = validate_parameters({"base_model": str(tiny_model_dir), "dataset": "synthetic:math?n=2",
                                  "eval_datasets": "synthetic-test", "group_size": "2", "grpo_batch_size": 4,
                                  "enable_cot": "false"})
    assert values["group_size"] == 2 and values["enable_cot"] is False
    assert set(values) == set(parameter_defaults())


def test_rejects_group_size_below_two():
    with pytest.raises(InputError, match="group_size"):
        validate_parameters({"group_size": 1}, check_inputs=False)


def test_component_takes_every_parameter_and_the_image():
    component = build("registry.example/reasoning-cpu:9")
    assert component.component_spec.implementation.container.image == "registry.example/reasoning-cpu:9"
    assert set(component.component_spec.inputs) == set(parameter_defaults()) | {"run_id"}
