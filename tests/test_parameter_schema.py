"""One parameter schema: PipelineParameters (reasoning/pipeline/params.py) is the only list of the
pipeline's parameters. The pipeline function's signature and its inputs' help are made from it; these
tests fail when a hand-written list (a component's inputs, the reward weights' defaults) drifts from it.

Elsewhere: tests/test_pipeline.py (the signature and the compiled inputs), tests/test_run_script.py
(run_reasoning_pipeline.sh's flags), tests/test_pipeline.py::test_every_pipeline_recipe_is_valid
(recipe keys: an unknown key is refused naming the file and key).
"""
import dataclasses

import pytest

from reasoning.pipeline.params import PARAMETER_NAMES, PipelineParameters, parameter_type
from tests.conftest import ROOT

FIELDS = {field.name: field for field in dataclasses.fields(PipelineParameters)}
# kfp's name for each Python parameter type (ComponentSpec input types)
KFP_TYPES = {str: "String", int: "Integer", float: "Float", bool: "Boolean", dict: "Dict", list: "List"}


def components():
    from pipelines import reasoning_pipeline as pipeline
    builders = [getattr(pipeline, name) for name in dir(pipeline) if name.startswith("build_")
                and name != "build_pipeline"]
    return {component.name: component for component in (build() for build in builders)}


def parameter_inputs(component) -> dict[str, str]:
    from kfp.dsl.types import type_utils
    return {name: spec.type for name, spec in component.component_spec.inputs.items()
            if type_utils.is_parameter_type(spec.type)}


def test_every_component_is_checked():
    assert len(components()) == 11


@pytest.mark.parametrize("name", sorted(components()))
def test_a_component_parameter_input_is_a_pipeline_parameter_of_the_same_type_or_a_wired_one(name):
    """A component input named like a pipeline parameter gets that parameter (pipelines.reasoning_pipeline.
    parameter_inputs), so it must mean it: same type. Any other name must be listed, with what it gets,
    in WIRED_INPUTS."""
    from pipelines.reasoning_pipeline import WIRED_INPUTS
    for input_name, kfp_type in parameter_inputs(components()[name]).items():
        if input_name in FIELDS:
            assert kfp_type == KFP_TYPES[parameter_type(FIELDS[input_name])], (name, input_name, kfp_type)
        else:
            assert input_name in WIRED_INPUTS, f"{name}: input {input_name!r} is neither a pipeline parameter " \
                                               f"nor in WIRED_INPUTS"


def test_validation_takes_every_parameter_and_the_run_id():
    inputs = parameter_inputs(components()["validate-parameters"])
    assert set(inputs) == set(FIELDS) | {"run_id"}


def test_derived_inputs_are_pipeline_parameters():
    from pipelines.reasoning_pipeline import DERIVED_INPUTS, WIRED_INPUTS
    assert set(DERIVED_INPUTS) <= set(FIELDS)
    assert not set(WIRED_INPUTS) & set(FIELDS)  # a wired name that is also a field would be ambiguous


def test_pipeline_values_keep_the_parameters_and_leave_artifacts_out():
    from reasoning.pipeline.params import make_parameters, pipeline_values

    class Artifact:  # what KFP hands a component for Input[Dataset]
        path = "/tmp/rows"

    given = {"dataset": Artifact(), "lora_r": 8, "seed": 3, "model": Artifact(), "gpu_node_selector": {}}
    assert pipeline_values(given) == {"lora_r": 8, "seed": 3, "gpu_node_selector": {}}
    assert make_parameters(pipeline_values(given)).lora_r == 8


def test_reward_weight_defaults_have_one_home():
    """RewardConfig holds each weight's default and help; the GRPO stage and the pipeline take them from it."""
    from reasoning.rewards.config import RewardConfig
    from reasoning.stages.grpo import GRPOStageConfig
    homes = [{f.name: (f.default, f.metadata["help"]) for f in dataclasses.fields(cls) if f.name.endswith("_weight")}
             for cls in (RewardConfig, GRPOStageConfig, PipelineParameters)]
    assert homes[0] and homes[0] == homes[1] == homes[2]


def test_the_readme_parameter_table_is_the_generated_one():
    from reasoning.pipeline.params import TABLE_END, TABLE_START, parameter_table
    readme = (ROOT / "README.md").read_text()
    start, end = readme.index(TABLE_START), readme.index(TABLE_END) + len(TABLE_END)
    assert readme[start:end] == parameter_table(), "run: python -m pipelines.cli params --update README.md"
    for name in PARAMETER_NAMES:
        assert f"| `{name}` |" in readme
