"""Every check of the pipeline parameters names its parameter with its exact message, each bound
lets its edge value through, and the mapping to the stage configs and task placement carries
each value to the right field. Milliseconds each: the inputs are a model directory holding only
a config.json, small synthetic datasets and one-row files made here (tests/test_pipeline.py
checks a real tiny model)."""
from __future__ import annotations

import dataclasses
import json

import pytest

from reasoning.errors import InputError
from reasoning.pipeline.params import (
    GPU_TOLERATION,
    KNOWN_DATASETS,
    PipelineParameters,
    check_dataset_spec,
    context_stage_config,
    eval_models,
    grpo_stage_config,
    load_pipeline_recipe,
    make_parameters,
    original_context_length,
    parameter_defaults,
    run_checkpoint_prefix,
    sft_stage_config,
    task_placement,
    validate_parameters,
)

ZERO_WEIGHTS = {"correctness_weight": 0, "format_weight": 0, "consistency_weight": 0, "length_weight": 0,
                "process_weight": 0}

REFUSED = [
    ({"base_model": " "}, "base_model", "must not be empty"),
    ({"dataset": ""}, "dataset", "must not be empty"),
    ({"eval_datasets": "  "}, "eval_datasets", "must not be empty"),
    *[({name: -1}, name, "must be >= 0, got -1") for name in
      ("train_rows", "sft_max_steps", "lora_r", "context_steps", "gpu_count", "eval_gpu_count", "eval_sampled_k")],
    *[({name: 0}, name, "must be > 0, got 0") for name in
      ("sft_batch_size", "max_length", "grpo_iterations", "grpo_batch_size", "max_completion_length", "eval_limit",
       "eval_max_new_tokens", "num_nodes", "target_context")],
    ({"sft_max_steps": 0, "sft_epochs": 0}, "sft_epochs", "must be > 0 when sft_max_steps is 0"),
    ({"sft_learning_rate": 0}, "sft_learning_rate", "must be in (0, 1), got 0.0"),
    ({"sft_learning_rate": 1}, "sft_learning_rate", "must be in (0, 1), got 1.0"),
    ({"grpo_learning_rate": 0}, "grpo_learning_rate", "must be in (0, 1), got 0.0"),
    ({"grpo_learning_rate": 1.0}, "grpo_learning_rate", "must be in (0, 1), got 1.0"),
    ({"group_size": 1}, "group_size", "must be >= 2 (GRPO compares completions within a group), got 1"),
    ({"grpo_batch_size": 6}, "grpo_batch_size", "must be a multiple of group_size (4), got 6"),
    ({"scaling_type": "yarn,magic"}, "scaling_type",
     "unknown scaling type 'yarn,magic'; known: linear, dynamic, yarn, ntk, a comma list or all"),
    ({"scaling_type": " , "}, "scaling_type",
     "unknown scaling type ' , '; known: linear, dynamic, yarn, ntk, a comma list or all"),
    ({"reasoning_type": "poetry"}, "reasoning_type",
     "unknown reasoning type 'poetry'; known: math, code, logic, planning, tool_use, general"),
    ({"correctness_weight": -0.1}, "correctness_weight", "must be >= 0, got -0.1"),
    *[({name: -1}, name, "must be >= 0, got -1.0") for name in
      ("format_weight", "consistency_weight", "length_weight", "process_weight")],
    (ZERO_WEIGHTS, "correctness_weight", "reward weights must not all be 0"),
    ({"num_nodes": 2}, "num_nodes", "multi-node training needs gpu_count > 0"),
    ({"checkpoint_uri": "gs://b/x"}, "checkpoint_uri", "must be an s3:// or minio:// URI (or empty), got 'gs://b/x'"),
    ({"num_nodes": 2, "gpu_count": 1}, "checkpoint_uri",
     "must be set when num_nodes > 1: the nodes exchange the model, data and output through it"),
    ({"serve_model": True}, "export_destination",
     "serving reads the exported model from object storage: set an s3:// export_destination"),
    ({"serve_model": True, "export_destination": "/models/out"}, "export_destination",
     "serving reads the exported model from object storage: set an s3:// export_destination"),
    ({"serve_model": True, "export_destination": "s3://b/m", "serving_name": "Bad_Name"}, "serving_name",
     "must be a DNS label (lower case letters, digits, '-'; at most 45), got 'Bad_Name'"),
    ({"serve_model": True, "export_destination": "s3://b/m", "serving_name": "a" * 46}, "serving_name",
     f"must be a DNS label (lower case letters, digits, '-'; at most 45), got '{'a' * 46}'"),
    ({"serve_model": True, "export_destination": "s3://b/m", "serving_name": "name-"}, "serving_name",
     "must be a DNS label (lower case letters, digits, '-'; at most 45), got 'name-'"),
    ({"register_model": True}, "export_destination",
     "registration records where the model is stored for others to load: set an s3:// export_destination"),
    ({"register_model": True, "export_destination": "s3://b/m", "model_registry_address": "  "},
     "model_registry_address", "must be set when register_model is true"),
    ({"context_steps": 5}, "context_steps", "context_steps > 0 needs a context_dataset to train on"),
    ({"context_gate_metric": "bleu"}, "context_gate_metric",
     "unknown metric 'bleu'; known: passkey, variables, ppl_retention"),
    ({"context_gate_min_score": 1.5}, "context_gate_min_score", "must be in [0, 1], got 1.5"),
    ({"context_gate_min_score": -0.1}, "context_gate_min_score", "must be in [0, 1], got -0.1"),
    ({"context_gate_max_window_ppl_ratio": 0.99}, "context_gate_max_window_ppl_ratio",
     "must be 0 (no limit) or >= 1, got 0.99"),
    ({"context_gate_max_window_ppl_ratio": 1.05}, "context_gate_max_window_ppl_ratio",
     "the window limit compares perplexity with the unscaled model's: it needs long_context_lengths and "
     "'perplexity' in long_context_tasks"),
    ({"context_gate_max_window_ppl_ratio": 1.05, "long_context_lengths": "1024", "long_context_tasks": "passkey"},
     "context_gate_max_window_ppl_ratio", "the window limit compares perplexity with the unscaled model's: it needs "
     "long_context_lengths and 'perplexity' in long_context_tasks"),
    ({"long_context_tasks": " , "}, "long_context_tasks",
     "unknown or no tasks []; known: passkey, variables, perplexity"),
    ({"long_context_tasks": "passkey,magic"}, "long_context_tasks",
     "unknown or no tasks ['passkey', 'magic']; known: passkey, variables, perplexity"),
    ({"long_context_lengths": "1024", "long_context_tasks": "variables"}, "context_gate_metric",
     "'passkey' needs the task 'passkey' in long_context_tasks (variables)"),
    ({"long_context_lengths": "1024", "long_context_tasks": "passkey", "context_gate_metric": "ppl_retention"},
     "context_gate_metric", "'ppl_retention' needs the task 'perplexity' in long_context_tasks (passkey)"),
    ({"long_context_lengths": "255"}, "long_context_lengths", "lengths must be >= 256 tokens, got [255]"),
    ({"long_context_lengths": "1024,255"}, "long_context_lengths", "lengths must be >= 256 tokens, got [1024, 255]"),
    ({"long_context_lengths": "32769"}, "long_context_lengths",
     "lengths must not exceed target_context 32768, got [32769]"),
    ({"long_context_lengths": "1k"}, "long_context_lengths", "must be comma-separated whole numbers, got '1k'"),
    ({"scaling_type": "yarn,linear"}, "scaling_type", "a sweep of scaling types needs long_context_lengths to choose by"),
    ({"context_gate_min_score": 0.5}, "context_gate_min_score", "the gate needs long_context_lengths"),
    ({"scaling_type": "all", "long_context_lengths": "1024", "context_steps": 3, "context_dataset": "x"},
     "context_steps", "a sweep only rescales: fine-tune (context_steps) one chosen scaling_type"),
]


@pytest.mark.parametrize("override, field, message", REFUSED, ids=[f"{f}-{i}" for i, (_, f, _) in enumerate(REFUSED)])
def test_each_check_names_its_parameter(override, field, message):
    with pytest.raises(InputError) as error:
        make_parameters(override)
    assert error.value.field == field
    assert str(error.value) == f"field '{field}': pipeline parameter {message}"


ACCEPTED = [
    {name: 0 for name in ("train_rows", "lora_r", "context_steps", "gpu_count", "eval_gpu_count", "eval_sampled_k")},
    {name: 1 for name in ("sft_batch_size", "max_length", "grpo_iterations", "max_completion_length", "eval_limit",
                          "eval_max_new_tokens", "num_nodes", "target_context")} | {"group_size": 2,
                                                                                     "grpo_batch_size": 2},
    {"sft_max_steps": 0, "sft_epochs": 0.5},
    {"sft_max_steps": 1, "sft_epochs": 0},
    {"sft_learning_rate": 1e-9, "grpo_learning_rate": 0.999},
    {"group_size": 3, "grpo_batch_size": 9},
    {**ZERO_WEIGHTS, "process_weight": 0.01},
    {**ZERO_WEIGHTS, "correctness_weight": 1},
    {"num_nodes": 2, "gpu_count": 1, "checkpoint_uri": "s3://b/ckpt"},
    {"checkpoint_uri": "minio://b/ckpt"},
    {"serve_model": True, "export_destination": "s3://b/m", "serving_name": "a" * 45},
    {"serve_model": True, "export_destination": "minio://b/m", "serving_name": "a"},
    {"serve_model": True, "export_destination": "s3://b/m", "serving_name": "r1-7b"},
    {"serving_name": "Not A Label"},  # only checked when serving
    {"register_model": True, "export_destination": "minio://b/m", "model_registry_address": "http://registry:8080"},
    {"context_steps": 3, "context_dataset": "x"},
    {"scaling_type": " LINEAR , ntk ", "long_context_lengths": "256, 32768"},
    {"scaling_type": "all", "long_context_lengths": "1024"},
    {"long_context_lengths": "1024", "context_gate_min_score": 1, "long_context_tasks": " passkey , perplexity "},
    {"long_context_lengths": "1024", "context_gate_metric": "ppl_retention", "long_context_tasks": "perplexity"},
    {"long_context_lengths": "1024", "context_gate_max_window_ppl_ratio": 1},  # the edge: no worse than unscaled
    {"long_context_tasks": "variables"},  # no lengths: the gate metric's task is not needed
    {"reasoning_type": "tool_use"},
]


@pytest.mark.parametrize("override", ACCEPTED, ids=[str(i) for i in range(len(ACCEPTED))])
def test_edge_values_are_accepted(override):
    params = make_parameters(override)
    for name, value in override.items():
        assert getattr(params, name) == value


def test_registry_settings_are_checked_when_an_address_is_given():
    with pytest.raises(InputError) as error:
        make_parameters({"model_registry_address": "ftp://x"})
    assert error.value.field == "model_registry_address"
    with pytest.raises(InputError) as error:
        make_parameters({"register_model": True, "export_destination": "s3://b/m",
                         "model_registry_address": "http://registry:8080", "registered_model_name": ""})
    assert error.value.field == "registered_model_name"


def test_derived_lists():
    params = make_parameters({"scaling_type": " Yarn, ntk,", "long_context_lengths": " 512, ,1024 ",
                              "eval_datasets": " synthetic-test , ,gsm8k-test?limit=5 "})
    assert params.scaling_type_list == ["yarn", "ntk"]
    assert params.long_context_length_list == [512, 1024]
    assert params.eval_dataset_list == ["synthetic-test", "gsm8k-test?limit=5"]
    assert make_parameters({"scaling_type": " ALL ", "long_context_lengths": "512"}).scaling_type_list == [
        "linear", "dynamic", "yarn", "ntk"]
    weights = make_parameters({"correctness_weight": 1, "process_weight": "0"}).reward_weights
    assert weights == {"correctness_weight": 1.0, "format_weight": 0.2, "consistency_weight": 0.2,
                       "length_weight": 0.1, "process_weight": 0.0}
    assert all(type(value) is float for value in weights.values())


# ---------------------------------------------------------------- coercion of CLI / KFP values

@pytest.mark.parametrize("text, value", [("true", True), ("false", False), ("1", True), ("0", False), ("yes", True),
                                         ("no", False), (" TRUE ", True), ("No", False)])
def test_bool_words(text, value):
    assert make_parameters({"enable_cot": text}).enable_cot is value


def test_values_are_coerced_to_the_field_types():
    params = make_parameters({"lora_r": "16", "train_rows": 5.0, "sft_learning_rate": "0.001", "sft_epochs": 2,
                              "teacher_model": None, "serving_name": 7, "gpu_node_selector": '{"pool": 1}',
                              "seed": True, "enable_context": False})
    assert (params.lora_r, params.train_rows, params.sft_learning_rate, params.sft_epochs) == (16, 5, 0.001, 2.0)
    assert type(params.train_rows) is int and type(params.sft_epochs) is float
    assert (params.teacher_model, params.serving_name) == ("", "7")
    assert params.gpu_node_selector == {"pool": "1"}
    assert params.seed is True and params.enable_context is False  # bools pass through unchanged
    assert make_parameters({"gpu_node_selector": None}).gpu_node_selector == {}
    assert make_parameters({"gpu_node_selector": {1: 2}}).gpu_node_selector == {"1": "2"}
    assert make_parameters({"correctness_weight": True}).correctness_weight is True


@pytest.mark.parametrize("key, value, kind, shown", [
    ("enable_cot", "maybe", "bool", "'maybe'"),
    ("lora_r", "many", "int", "'many'"),
    ("lora_r", 2.5, "int", "2.5"),
    ("sft_learning_rate", "fast", "float", "'fast'"),
    ("gpu_node_selector", "[1]", "dict[str, str]", "[1]"),
    ("gpu_node_selector", "{not json", "dict[str, str]", "'{not json'"),
])
def test_values_that_cannot_be_coerced_name_the_type(key, value, kind, shown):
    with pytest.raises(InputError) as error:
        make_parameters({key: value})
    assert error.value.field == key
    assert str(error.value) == f"field '{key}': pipeline parameter expects {kind}, got {shown}"


def test_unknown_parameters_list_the_known_ones():
    with pytest.raises(InputError) as error:
        make_parameters({"group_size": 4, "no_such_parameter": 1})
    known = ", ".join(sorted(f.name for f in dataclasses.fields(PipelineParameters)))
    assert error.value.field == "no_such_parameter"
    assert str(error.value) == f"field 'no_such_parameter': unknown pipeline parameter; known: {known}"


def test_no_values_are_the_defaults_and_the_caller_dict_is_not_changed():
    values = {"lora_r": "8"}
    assert make_parameters(values).lora_r == 8 and values == {"lora_r": "8"}
    assert make_parameters(None) == make_parameters({}) == PipelineParameters()
    defaults = parameter_defaults()
    assert list(defaults) == [f.name for f in dataclasses.fields(PipelineParameters)]
    assert defaults["group_size"] == 4 and defaults["gpu_node_selector"] == {}


def test_a_recipe_is_read_with_unknown_keys_refused(tmp_path):
    recipe = tmp_path / "pipeline.yaml"
    recipe.write_text("group_size: 2\ngrpo_batch_size: 4\n")
    assert load_pipeline_recipe(recipe) == {"group_size": 2, "grpo_batch_size": 4}
    recipe.write_text("group_sise: 2\n")
    with pytest.raises(InputError) as error:
        load_pipeline_recipe(str(recipe))
    assert str(recipe) in str(error.value) and "group_sise" in str(error.value)


# ---------------------------------------------------------------- placement and the run prefix

def test_gpu_tasks_get_the_toleration_and_node_selector_cpu_tasks_do_not():
    selector = {"nvidia.com/gpu.present": "true"}
    one_node = task_placement(make_parameters({"gpu_count": 2, "eval_gpu_count": 0, "gpu_node_selector": selector}))
    off = {"tolerations": [], "node_selector": {}}  # context and CoT are off (defaults): no GPU for their marker
    assert one_node == {"train_task_gpus": 2, "context_task_gpus": 0, "cot_task_gpus": 0,
                        "train_tolerations": [GPU_TOLERATION], "train_node_selector": selector,
                        **{f"{kind}_{what}": value for kind in ("context", "cot", "eval") for what, value in off.items()}}
    one_node["train_tolerations"][0]["key"] = "changed"
    one_node["train_node_selector"]["x"] = "y"
    assert GPU_TOLERATION["key"] == "nvidia.com/gpu"  # copies, not the module's dict
    assert "x" not in selector
    several = task_placement(make_parameters({"gpu_count": 1, "num_nodes": 2, "checkpoint_uri": "s3://b/c",
                                              "eval_gpu_count": 1, "gpu_node_selector": selector}))
    assert several == {"train_task_gpus": 0, "context_task_gpus": 0, "cot_task_gpus": 0,
                       **{f"{kind}_{what}": value for kind in ("train", "context", "cot") for what, value in off.items()},
                       "eval_tolerations": [GPU_TOLERATION], "eval_node_selector": selector}
    assert task_placement(make_parameters({"gpu_count": 1}))["train_tolerations"] == [GPU_TOLERATION]
    cpu = task_placement(make_parameters())
    assert cpu == {"train_task_gpus": 0, "context_task_gpus": 0, "cot_task_gpus": 0,
                   **{f"{kind}_{what}": value for kind in ("train", "context", "cot", "eval")
                      for what, value in off.items()}}


def test_the_checkpoint_prefix_is_per_run():
    assert run_checkpoint_prefix("", "run-1") == ""
    assert run_checkpoint_prefix("s3://b/ckpt/", " run-1 ") == "s3://b/ckpt/run-1"
    assert run_checkpoint_prefix("/s3://b/ckpt", "r") == "/s3://b/ckpt/r"
    assert run_checkpoint_prefix("s3://b/BOX//", "r") == "s3://b/BOX/r"  # only slashes are stripped
    for run_id in ("", None, "  ", "{{$.pipeline_job_uuid}}"):
        with pytest.raises(InputError) as error:
            run_checkpoint_prefix("s3://b/ckpt", run_id)
        shown = repr(str(run_id or "").strip())
        assert str(error.value) == f"field 'run_id': a run id is needed to give checkpoints a per-run prefix, " \
                                   f"got {shown}"


# ---------------------------------------------------------------- stage configs

def test_sft_config():
    params = make_parameters({"seed": 3, "lora_r": 8, "sft_epochs": 2, "sft_max_steps": 0, "sft_learning_rate": 0.01,
                              "sft_batch_size": 4, "max_length": 256, "train_rows": 10, "gpu_count": 1})
    assert sft_stage_config(params, model="m", dataset="d", output="o") == {
        "model": "m", "dataset": "d", "output": "o", "seed": 3, "use_lora": True, "lora_r": 8, "lora_alpha": 16,
        "epochs": 2.0, "max_steps": -1, "learning_rate": 0.01, "batch_size": 4, "max_length": 256, "limit": 10}
    full = sft_stage_config(make_parameters({"lora_r": 0, "sft_max_steps": 7}), model="m", dataset="d", output="o")
    assert full["use_lora"] is False and "lora_r" not in full and full["max_steps"] == 7
    assert "use_gradient_checkpointing" not in full  # left to the stage, which resolves auto where it runs


def test_grpo_config_with_checkpoints():
    params = make_parameters({"grpo_iterations": 5, "group_size": 2, "grpo_learning_rate": 1e-5, "grpo_batch_size": 4,
                              "max_completion_length": 64, "train_rows": 3, "grpo_dynamic_sampling": "false",
                              "checkpoint_uri": "s3://b/ckpt/", "correctness_weight": 1, "lora_r": 4})
    config = grpo_stage_config(params, model="m", dataset="d", output="o")
    assert config == {"model": "m", "dataset": "d", "output": "o", "seed": 0, "use_lora": True, "lora_r": 4,
                      "lora_alpha": 8,
                      "checkpoint_uri": "s3://b/ckpt/grpo", "resume": True,
                      "iterations": 5, "group_size": 2, "learning_rate": 1e-5, "batch_size": 4,
                      "max_completion_length": 64, "limit": 3, "dynamic_sampling": False,
                      "correctness_weight": 1.0, "format_weight": 0.2, "consistency_weight": 0.2,
                      "length_weight": 0.1, "process_weight": 0.1}
    assert grpo_stage_config(make_parameters(), model="m", dataset="d", output="o")["dynamic_sampling"] is True


def test_context_config():
    params = make_parameters({"long_context_lengths": "1024, 2048", "long_context_tasks": "passkey, perplexity",
                              "context_gate_metric": "ppl_retention", "context_gate_min_score": 0.5,
                              "context_gate_max_window_ppl_ratio": 1.05, "target_context": 8192, "scaling_type": "linear", "context_steps": 4,
                              "context_dataset": "x", "gpu_count": 1})
    config = context_stage_config(params, model="m", output="o", dataset="long.jsonl")
    assert config == {"model": "m", "dataset": "long.jsonl", "output": "o", "seed": 0, "use_lora": True,
                      "lora_r": 32, "lora_alpha": 64, "long_context_lengths": [1024, 2048],
                      "long_context_tasks": ["passkey", "perplexity"], "gate_metric": "ppl_retention",
                      "gate_min_score": 0.5, "gate_max_window_ppl_ratio": 1.05, "target_context": 8192,
                      "scaling_type": "linear", "steps": 4}
    rescale_only = context_stage_config(params, model="m", output="o")
    assert rescale_only["dataset"] == "" and rescale_only["steps"] == 0
    resumed = context_stage_config(make_parameters({"checkpoint_uri": "s3://b/BOX/", "lora_r": 1}), model="m",
                                   output="o")
    assert (resumed["checkpoint_uri"], resumed["resume"]) == ("s3://b/BOX/context", True)
    assert (resumed["use_lora"], resumed["lora_r"], resumed["lora_alpha"]) == (True, 1, 2)


def test_eval_models_keep_pipeline_order_and_drop_absent_ones():
    assert list(eval_models("b", "s", "g").items()) == [("base", "b"), ("sft", "s"), ("grpo", "g")]
    assert eval_models("b", None, "") == {"base": "b"}


# ---------------------------------------------------------------- checks that read inputs

@pytest.fixture
def model_dir(tmp_path):
    """A model reference the checks accept without loading anything: a config.json."""
    path = tmp_path / "model"
    path.mkdir()
    (path / "config.json").write_text(json.dumps({"max_position_embeddings": 2048}))
    return path


def _config(tmp_path, name, config):
    path = tmp_path / name
    path.mkdir()
    (path / "config.json").write_text(json.dumps(config))
    return str(path)


def test_the_original_context_length_comes_from_the_config(tmp_path, monkeypatch, model_dir):
    assert original_context_length(str(model_dir)) == 2048
    assert original_context_length(model_dir) == 2048
    assert original_context_length(_config(tmp_path, "a", {"max_position_embeddings": 8192,
                                                           "rope_parameters": {"original_max_position_embeddings":
                                                                               1024}})) == 1024
    assert original_context_length(_config(tmp_path, "b", {"max_position_embeddings": 8192, "rope_parameters": None,
                                                           "rope_scaling": {"original_max_position_embeddings":
                                                                            512}})) == 512
    assert original_context_length(_config(tmp_path, "c", {"max_position_embeddings": 8192,
                                                           "rope_scaling": {"type": "linear"}})) == 8192
    assert original_context_length(_config(tmp_path, "d", {"max_position_embeddings": "4096"})) == 4096
    assert original_context_length(_config(tmp_path, "e", {"hidden_size": 64})) is None
    assert original_context_length(str(tmp_path / "missing")) is None  # a hub id: checked once downloaded
    assert original_context_length("s3://bucket/model") is None
    assert original_context_length("minio://bucket/model") is None
    monkeypatch.setenv("HOME", str(tmp_path))
    assert original_context_length("~/model") == 2048
    # An object-store URI is never read as a local path, even where one of that name exists.
    for scheme in ("s3:", "minio:"):
        (tmp_path / scheme / "bucket").mkdir(parents=True)
        _config(tmp_path / scheme / "bucket", "model", {"max_position_embeddings": 4096})
    monkeypatch.chdir(tmp_path)
    assert original_context_length("s3://bucket/model") is None
    assert original_context_length("minio://bucket/model") is None


def test_a_cached_builtin_model_is_read_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REASONING_CACHE", str(tmp_path))
    (tmp_path / "models" / "tiny:v1").mkdir(parents=True)
    (tmp_path / "models" / "tiny:v1" / "config.json").write_text(json.dumps({"max_position_embeddings": 1536}))
    assert original_context_length("builtin:tiny:v1") == 1536
    with pytest.raises(InputError):  # not cached: resolved, and an unknown builtin is refused
        original_context_length("builtin:no-such-model")


def test_dataset_specs(tmp_path):
    one = tmp_path / "one.jsonl"
    one.write_text(json.dumps({"messages": [{"role": "user", "content": "1+1?"}], "answer": "2"}) + "\n")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    for spec in ("synthetic:math?n=2", " synthetic-test?limit=3 ", str(one), f"train={one}", "s3://bucket/x.jsonl",
                 "minio://bucket/x.jsonl", "synthetic-test"):
        check_dataset_spec(spec, "dataset")
    cases = [("gsm9k", "unknown dataset 'gsm9k' (not a known name and no such file); known names: "
                       f"{', '.join(KNOWN_DATASETS)}, synthetic:math?n=..., a file or an s3:// URI"),
             (str(empty), f"dataset '{empty}' cannot be read: {empty}: no records found"),
             (f"x={tmp_path}/missing.jsonl", f"dataset 'x={tmp_path}/missing.jsonl' cannot be read: field 'dataset': "
                                             f"not a file, URI or known data set: '{tmp_path}/missing.jsonl'"),
             ("synthetic:math?n=0", "dataset 'synthetic:math?n=0' has no rows")]
    unknown = "unknown dataset '{}' (not a known name and no such file)"
    cases += [(spec, unknown.format(spec)) for spec in ("gsm9k?a=1", "gsm9k?a=1?b")]  # '=' after '?' is no name=path
    for spec, message in cases:
        with pytest.raises(InputError) as error:
            check_dataset_spec(spec, "eval_datasets")
        assert error.value.field == "eval_datasets"
        assert str(error.value).startswith(f"field 'eval_datasets': pipeline parameter: {message}"), str(error.value)


def _inputs(model_dir, **override):
    return {"base_model": str(model_dir), "dataset": "synthetic:math?n=4", "eval_datasets": "synthetic-test",
            **override}


def test_validation_resolves_each_input_and_names_it(tmp_path, model_dir):
    assert validate_parameters(_inputs(model_dir)) == dataclasses.asdict(make_parameters(_inputs(model_dir)))
    no_config = tmp_path / "no-config"
    no_config.mkdir()
    cases = [({"teacher_model": str(tmp_path / "nope")}, "teacher_model",
              f"pipeline parameter: {tmp_path / 'nope'}, field 'model': model path does not exist"),
             ({"base_model": str(no_config)}, "base_model",
              f"pipeline parameter: {no_config}, field 'model': not a Hugging Face model directory (no config.json)"),
             ({"dataset": "gsm9k"}, "dataset", "pipeline parameter: unknown dataset 'gsm9k'"),
             ({"eval_datasets": "synthetic-test, nope"}, "eval_datasets", "pipeline parameter: unknown dataset 'nope'"),
             ({"context_dataset": "nope"}, "context_dataset", "pipeline parameter: unknown dataset 'nope'")]
    for override, field, message in cases:
        with pytest.raises(InputError) as error:
            validate_parameters(_inputs(model_dir, **override))
        assert error.value.field == field
        assert str(error.value).startswith(f"field '{field}': {message}"), str(error.value)
    # without input checks only the cheap ones run
    assert validate_parameters(_inputs(tmp_path / "nope", dataset="gsm9k"), check_inputs=False)["dataset"] == "gsm9k"
    assert validate_parameters(_inputs(model_dir, teacher_model=str(model_dir)))["teacher_model"] == str(model_dir)


def test_the_target_context_must_extend_the_model(model_dir):
    with pytest.raises(InputError) as error:
        validate_parameters(_inputs(model_dir, enable_context=True, target_context=2048))
    assert error.value.field == "target_context"
    assert str(error.value) == ("field 'target_context': pipeline parameter must exceed the model's context length "
                                "2048 (got 2048)")
    assert validate_parameters(_inputs(model_dir, enable_context=True, target_context=2049))["target_context"] == 2049
    assert validate_parameters(_inputs(model_dir, target_context=1024))["target_context"] == 1024  # not extending
    unknown = _inputs("s3://bucket/model", enable_context=True, target_context=1024)
    assert validate_parameters(unknown)["target_context"] == 1024  # the context task checks it once downloaded


def test_the_gate_length_must_lie_outside_the_model_window(model_dir):
    gated = dict(enable_context=True, target_context=8192, context_gate_min_score=0.5)
    with pytest.raises(InputError) as error:
        validate_parameters(_inputs(model_dir, long_context_lengths="1024,2048", **gated))
    assert error.value.field == "long_context_lengths"
    assert str(error.value) == ("field 'long_context_lengths': pipeline parameter: the gate length 2048 lies inside "
                                "the model's window 2048, so it would not test the extension")
    assert validate_parameters(_inputs(model_dir, long_context_lengths="1024,2049", **gated))
    ungated = dict(gated, context_gate_min_score=0)
    assert validate_parameters(_inputs(model_dir, long_context_lengths="1024", **ungated))
    hub = _inputs("s3://bucket/model", long_context_lengths="1024", **gated)
    assert validate_parameters(hub)["long_context_lengths"] == "1024"
