"""The compiled pipeline: images, resources, retries, caching, secrets, PVC; parameters; validation.

Fast (compiles the pipeline a few times, about 10 s); the whole pipeline through kfp.local is in
tests/test_pipeline_local.py.
"""
import dataclasses
import inspect
from pathlib import Path

import pytest
import yaml

from reasoning.errors import InputError
from reasoning.pipeline.params import (
    PipelineParameters,
    load_pipeline_recipe,
    parameter_defaults,
    parameter_type,
    validate_parameters,
)

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "pipelines" / "reasoning_pipeline.yaml"
TRAINING = ("reasoning-sft", "reasoning-grpo", "extend-context")


def component_of(executor: str) -> str:
    """exec-reasoning-sft-2-3 -> reasoning-sft."""
    name = executor.removeprefix("exec-")
    while name.rsplit("-", 1)[-1].isdigit():
        name = name.rsplit("-", 1)[0]
    return name


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    from pipelines.reasoning_pipeline import compile_pipeline
    path = tmp_path_factory.mktemp("compiled") / "pipeline.yaml"
    compile_pipeline(str(path), "ghcr.io/example", "0.1.0")
    spec, platform = yaml.safe_load_all(path.read_text())
    return path, spec, platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]


def all_tasks(spec):
    """(component name, task spec) of every task in the root DAG and every sub-DAG."""
    dags = [spec["root"]["dag"]] + [c["dag"] for c in spec["components"].values() if "dag" in c]
    for dag in dags:
        for task in dag["tasks"].values():
            name = task["componentRef"]["name"].removeprefix("comp-")
            if "dag" not in spec["components"][task["componentRef"]["name"]]:
                yield component_of(name), task


def test_committed_yaml_is_current(compiled):
    path, _, _ = compiled
    assert COMMITTED.exists(), "run `make compile`"
    assert path.read_text() == COMMITTED.read_text(), "pipelines/reasoning_pipeline.yaml is stale: run `make compile`"


STAGES = ("validate-parameters", "import-model", "import-dataset", "generate-cot", "reasoning-sft", "extend-context",
          "reasoning-grpo", "evaluate", "export-model", "serve-model", "register-model")
# The YAML the nested If/Else graph compiled to when issue 15 was filed (90 component specs, 506 KB);
# the flat graph must be at least three times smaller.
NESTED_GRAPH_BYTES = 506_000


def test_every_component_is_in_the_pipeline_once(compiled):
    """One task per stage: the UI shows each stage once, and no branch repeats the graph below it."""
    path, spec, _ = compiled
    components = [component_of(name) for name in spec["deploymentSpec"]["executors"]]
    assert sorted(components) == sorted(STAGES)
    assert sorted(component for component, _ in all_tasks(spec)) == sorted(STAGES)
    assert len(spec["components"]) <= 15, sorted(spec["components"])
    assert path.stat().st_size * 3 <= NESTED_GRAPH_BYTES, path.stat().st_size
    # the stages up to the evaluation sit in the root DAG, never inside a condition
    root = {component_of(t["componentRef"]["name"].removeprefix("comp-")) for t in spec["root"]["dag"]["tasks"].values()}
    assert root >= set(STAGES[:8])


def test_optional_stages_hand_on_both_their_output_and_the_fallback(compiled):
    """SFT gets the imported rows and the CoT output; GRPO and registration get the SFT model and the context
    output; each keeps one (reasoning.pipeline.steps.stage_input), so a stage that is off costs no copy."""
    _, spec, _ = compiled
    tasks = {component: task for component, task in all_tasks(spec)}

    def source(component, name):
        artifact = tasks[component]["inputs"]["artifacts"][name]
        selector = artifact.get("taskOutputArtifact") or {}
        return selector.get("producerTask") or artifact["componentInputArtifact"], selector.get("outputArtifactKey")

    assert source("reasoning-sft", "dataset") == ("import-dataset", "dataset")
    assert source("reasoning-sft", "cot_dataset") == ("generate-cot", "cot_dataset")
    assert source("extend-context", "model") == ("reasoning-sft", "sft_model")
    assert source("reasoning-grpo", "model") == ("reasoning-sft", "sft_model")
    assert source("reasoning-grpo", "context_model") == ("extend-context", "long_model")
    assert source("register-model", "policy") == ("pipelinechannel--extend-context-long_model", None)
    assert source("register-model", "sft_model") == ("pipelinechannel--reasoning-sft-sft_model", None)
    switches = {"generate-cot": "enable_cot", "extend-context": "enable_context"}
    for component, switch in switches.items():
        assert tasks[component]["inputs"]["parameters"][switch] == {"componentInputParameter": switch}
        assert "triggerPolicy" not in tasks[component]  # it always runs, and skips inside


# where each GPU-capable task's GPU count comes from: validate_parameters' placement, or the parameter
GPU_SOURCE = {"reasoning-sft": "validate-parameters-train_task_gpus",
              "reasoning-grpo": "validate-parameters-train_task_gpus",
              "extend-context": "validate-parameters-context_task_gpus",
              "generate-cot": "validate-parameters-cot_task_gpus", "evaluate": "eval_gpu_count"}
# ... and whose tolerations and node selector it takes
PLACEMENT_KIND = {"reasoning-sft": "train", "reasoning-grpo": "train", "extend-context": "context",
                  "generate-cot": "cot", "evaluate": "eval"}


def accelerator_source(resources: dict) -> str:
    """The parameter a task's GPU count comes from: "{{$.inputs.parameters['pipelinechannel--X']}}" -> X."""
    return resources["accelerator"]["resourceCount"].split("pipelinechannel--")[1].split("'")[0]


def test_images_resources_and_accelerators(compiled):
    _, spec, _ = compiled
    for name, executor in spec["deploymentSpec"]["executors"].items():
        container = executor["container"]
        gpu_image = container["image"] == "ghcr.io/example/reasoning-gpu:0.1.0"
        assert gpu_image or container["image"] == "ghcr.io/example/reasoning-cpu:0.1.0", name
        resources = container["resources"]
        for key in ("resourceCpuRequest", "resourceCpuLimit", "resourceMemoryRequest", "resourceMemoryLimit"):
            assert resources.get(key), (name, key)
        if component_of(name) in GPU_SOURCE:
            assert gpu_image and accelerator_source(resources) == GPU_SOURCE[component_of(name)], name
        else:
            assert not gpu_image and "accelerator" not in resources, name
        env = {e["name"]: e["value"] for e in container.get("env", [])}
        assert env.get("REASONING_CACHE") == "/cache/reasoning", name
        # Lightweight components: no pip install at pod start, the image carries everything.
        assert "pip install" not in " ".join(container["command"]), name


def test_secrets_settings_volumes_timeouts_and_gpu_placement(compiled):
    """Per-task cache volumes (no shared ReadWriteOnce claim), step timeouts, the settings ConfigMap and
    Hub token on every task; GPU toleration/node selector only through the validated placement."""
    from reasoning.pipeline.cluster_settings import DEFAULTS
    _, spec, platform = compiled
    assert set(platform) == set(spec["deploymentSpec"]["executors"])
    for name, settings in platform.items():
        secrets = {s["secretName"]: {k["secretKey"]: k["envVar"] for k in s["keyToEnv"]} | {"optional": s["optional"]}
                   for s in settings["secretAsEnv"]}
        # the Model Registry token only where it is used (test_registration_gets_the_lineage_inputs_...)
        if component_of(name) == "register-model":
            assert secrets.pop("reasoning-model-registry")["optional"] is True
        assert secrets == {"reasoning-object-store": {key: key for key in (
            "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL")} | {"optional": True},
            "reasoning-hf-token": {"HF_TOKEN": "HF_TOKEN", "optional": True}}, name
        (config_map,) = settings["configMapAsEnv"]
        assert config_map["configMapName"] == "reasoning-settings" and config_map["optional"] is True
        assert {k["configMapKey"] for k in config_map["keyToEnv"]} == set(DEFAULTS), name
        assert "pvcMount" not in settings, name
        volumes = {v["volumeName"]: v for v in settings["emptyDirMounts"]}
        assert volumes["reasoning-cache"]["mountPath"] == "/cache", name
        assert int(settings["activeDeadlineSeconds"]) > 0, name
        gpu_capable = component_of(name) in PLACEMENT_KIND or "dshm" in volumes
        if gpu_capable:
            assert volumes["dshm"] == {"volumeName": "dshm", "mountPath": "/dev/shm", "medium": "Memory"}, name
            kind = PLACEMENT_KIND[component_of(name)]
            (toleration,) = settings["tolerations"]
            derived = {"producerTask": "validate-parameters"}
            assert toleration["tolerationJson"] == {"taskOutputParameter": {
                **derived, "outputParameterKey": f"{kind}_tolerations"}}, name
            assert settings["nodeSelector"]["nodeSelectorJson"] == {"taskOutputParameter": {
                **derived, "outputParameterKey": f"{kind}_node_selector"}}, name
        else:
            assert "tolerations" not in settings and "nodeSelector" not in settings, name


def test_validate_derives_gpu_placement_and_the_run_prefix():
    from reasoning.pipeline.params import make_parameters, run_checkpoint_prefix, task_placement
    cpu = task_placement(make_parameters({"gpu_node_selector": {"pool": "gpu"}}))
    assert cpu == {"train_task_gpus": 0, "context_task_gpus": 0, "cot_task_gpus": 0,
                   **{f"{kind}_{what}": empty for kind in ("train", "context", "cot", "eval")
                      for what, empty in (("tolerations", []), ("node_selector", {}))}}
    one_node = task_placement(make_parameters({"gpu_count": 4, "gpu_node_selector": {"pool": "gpu"}}))
    assert one_node["train_task_gpus"] == 4 and one_node["train_tolerations"][0]["key"] == "nvidia.com/gpu"
    assert one_node["train_node_selector"] == {"pool": "gpu"} and one_node["eval_tolerations"] == []
    # a stage that is off (context by default; CoT without a teacher) asks for no GPU to write its marker
    assert one_node["context_task_gpus"] == 0 and one_node["context_tolerations"] == []
    assert one_node["cot_task_gpus"] == 0 and one_node["cot_node_selector"] == {}
    on = task_placement(make_parameters({"gpu_count": 4, "eval_gpu_count": 1, "enable_context": True,
                                         "teacher_model": "builtin:smollm2-135m-instruct",
                                         "gpu_node_selector": {"pool": "gpu"}}))
    assert (on["context_task_gpus"], on["cot_task_gpus"]) == (4, 1)
    assert on["context_node_selector"] == on["cot_node_selector"] == {"pool": "gpu"}
    off = task_placement(make_parameters({"gpu_count": 4, "eval_gpu_count": 1, "enable_cot": False,
                                          "teacher_model": "builtin:smollm2-135m-instruct"}))
    assert off["cot_task_gpus"] == 0 and off["cot_tolerations"] == []
    multi = task_placement(make_parameters({"gpu_count": 8, "num_nodes": 4, "checkpoint_uri": "s3://b/c",
                                            "eval_gpu_count": 1}))
    assert multi["train_task_gpus"] == 0 and multi["train_tolerations"] == []  # the TrainJob holds the GPUs
    assert multi["eval_tolerations"] and multi["eval_node_selector"] == {}
    assert run_checkpoint_prefix("s3://b/ckpt/", "6f1c-run") == "s3://b/ckpt/6f1c-run"
    assert run_checkpoint_prefix("", "6f1c-run") == ""
    with pytest.raises(InputError, match="run id"):
        run_checkpoint_prefix("s3://b/ckpt", "{{$.pipeline_job_uuid}}")


def test_validate_task_gets_the_kfp_run_id(compiled):
    _, spec, _ = compiled
    task = spec["root"]["dag"]["tasks"]["validate-parameters"]
    assert task["inputs"]["parameters"]["run_id"]["runtimeValue"]["constant"] == "{{$.pipeline_job_uuid}}"
    training_checkpoints = [t["inputs"]["parameters"]["checkpoint_uri"] for c, t in all_tasks(spec)
                            if c in TRAINING]
    assert len(training_checkpoints) == 3 and all(s == {"taskOutputParameter": {
        "outputParameterKey": "checkpoint_prefix", "producerTask": "validate-parameters"}}
        for s in training_checkpoints)
    # ... and where the root hands checkpoint_uri down, it is the validated per-run prefix
    given = [(task_name, p) for task_name, task in spec["root"]["dag"]["tasks"].items()
             for p in task.get("inputs", {}).get("parameters", {}).values()]
    assert [t for t, p in given if p.get("componentInputParameter") == "checkpoint_uri"] == ["validate-parameters"]
    assert [t for t, p in given if p.get("taskOutputParameter") == {"outputParameterKey": "checkpoint_prefix",
                                                                    "producerTask": "validate-parameters"}]


def test_retries_and_caching(compiled):
    _, spec, _ = compiled
    seen = set()
    for component, task in all_tasks(spec):
        seen.add(component)
        caching = task.get("cachingOptions", {}).get("enableCache", False)
        assert caching is (component not in ("validate-parameters", "export-model", "serve-model",
                                             "register-model")), component
        retry = task.get("retryPolicy")
        if component == "validate-parameters":
            assert retry is None  # a bad parameter does not get better by retrying
        else:
            assert retry["maxRetryCount"] >= 2 and retry["backoffDuration"] and retry["backoffFactor"] == 2.0, component
    assert len(seen) == 11


def test_every_task_runs_after_validation(compiled):
    _, spec, _ = compiled
    tasks = spec["root"]["dag"]["tasks"]

    def upstream(name: str) -> set[str]:
        direct = set(tasks[name].get("dependentTasks", []))
        return direct.union(*(upstream(d) for d in direct)) if direct else direct

    for name in tasks:
        if name != "validate-parameters":
            assert "validate-parameters" in upstream(name), name


def test_images_follow_registry_and_tag(tmp_path):
    from pipelines.reasoning_pipeline import compile_pipeline
    path = compile_pipeline(str(tmp_path / "p.yaml"), "registry.local:5000/team", "1.2.3")
    spec = next(yaml.safe_load_all(Path(path).read_text()))
    images = {e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()}
    assert images == {"registry.local:5000/team/reasoning-cpu:1.2.3", "registry.local:5000/team/reasoning-gpu:1.2.3"}


def test_pipeline_parameters_match_the_parameter_dataclass(compiled):
    from pipelines.reasoning_pipeline import reasoning_pipeline
    signature = inspect.signature(reasoning_pipeline.pipeline_func)
    defaults = parameter_defaults()
    assert list(signature.parameters) == [f.name for f in dataclasses.fields(PipelineParameters)]
    assert {name: p.default for name, p in signature.parameters.items()} == defaults
    fields = dataclasses.fields(PipelineParameters)
    assert {name: p.annotation for name, p in signature.parameters.items()} == {f.name: parameter_type(f)
                                                                                for f in fields}
    _, spec, _ = compiled
    inputs = spec["root"]["inputDefinitions"]["parameters"]
    assert set(inputs) == set(defaults)
    # the run form in the Kubeflow UI: each parameter's type and its help from the dataclass
    kinds = {str: "STRING", int: "NUMBER_INTEGER", float: "NUMBER_DOUBLE", bool: "BOOLEAN", dict: "STRUCT"}
    assert {f.name: (inputs[f.name]["parameterType"], inputs[f.name]["description"]) for f in fields} == {
        f.name: (kinds[parameter_type(f)], f.metadata["help"]) for f in fields}


def test_every_pipeline_recipe_is_valid():
    recipes = sorted((ROOT / "recipes").glob("pipeline_*.yaml"))
    assert {r.name for r in recipes} >= {"pipeline_default_cpu.yaml", "pipeline_tiny_ci.yaml"}
    for recipe in recipes:
        assert recipe.read_text().startswith("# python -m pipelines.cli run --recipe"), recipe
        validate_parameters(load_pipeline_recipe(recipe), check_inputs=False)


def test_default_recipe_matches_the_plan():
    values = validate_parameters(load_pipeline_recipe(ROOT / "recipes" / "pipeline_default_cpu.yaml"),
                                 check_inputs=False)
    assert values["base_model"] == "builtin:smollm2-135m-instruct"
    assert values["dataset"].startswith("synthetic:math?")
    assert values["enable_cot"] is True and values["lora_r"] == 32 and values["group_size"] == 4


@pytest.mark.parametrize("override, field, words", [
    ({"group_size": 1}, "group_size", ">= 2"),
    ({"grpo_batch_size": 6, "group_size": 4}, "grpo_batch_size", "multiple of group_size"),
    ({"scaling_type": "rope-magic"}, "scaling_type", "known: linear"),
    ({"correctness_weight": -1}, "correctness_weight", ">= 0"),
    ({"eval_limit": 0}, "eval_limit", "> 0"),
    ({"checkpoint_uri": "/tmp/ckpt"}, "checkpoint_uri", "s3://"),
    ({"lora_r": "many"}, "lora_r", "expects int"),
    ({"enable_cot": "maybe"}, "enable_cot", "expects bool"),
    ({"no_such_parameter": 1}, "no_such_parameter", "unknown pipeline parameter"),
])
def test_cheap_validation_names_the_parameter(override, field, words):
    with pytest.raises(InputError) as error:
        validate_parameters(override, check_inputs=False)
    assert error.value.field == field and words in str(error.value)


def test_input_checks(tiny_model_dir, tmp_path):
    base = {"base_model": str(tiny_model_dir), "dataset": "synthetic:math?n=4", "eval_datasets": "synthetic-test"}
    assert validate_parameters(base)["group_size"] == 4
    cases = [({"dataset": "gsm9k"}, "dataset", "unknown dataset 'gsm9k'"),
             ({"eval_datasets": "synthetic-test,nope"}, "eval_datasets", "unknown dataset 'nope'"),
             ({"dataset": str(tmp_path / "missing.jsonl")}, "dataset", "unknown dataset"),
             ({"base_model": str(tmp_path / "no-model")}, "base_model", "does not exist"),
             ({"enable_context": True, "target_context": 2048}, "target_context", "context length 2048")]
    for override, field, words in cases:
        with pytest.raises(InputError) as error:
            validate_parameters({**base, **override})
        assert error.value.field == field and words in str(error.value), (override, str(error.value))
    assert validate_parameters({**base, "enable_context": True, "target_context": 4096})["target_context"] == 4096


def test_submit_cli_refuses_bad_parameters_before_contacting_a_host(capsys):
    from pipelines.cli import main
    assert main(["submit", "--host", "http://127.0.0.1:9", "group_size=1"]) == 2
    assert "group_size" in capsys.readouterr().err


def test_run_script_flags():
    import subprocess
    script = ROOT / "run_reasoning_pipeline.sh"
    bad = subprocess.run([str(script), "--no-such-flag"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown flag --no-such-flag" in bad.stderr
    refused = subprocess.run([str(script), "--host", "http://127.0.0.1:9", "--group-size", "1"],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "group_size" in refused.stderr


def enclosing_conditions(spec, component: str):
    """For each task of ``component``: (its DAG, the task, the trigger conditions of every dsl.If around it
    (innermost first), and the tasks the task or any group around it waits for)."""
    parents = {}
    for name, body in [("root", spec["root"]), *spec["components"].items()]:
        for task in (body.get("dag") or {}).get("tasks", {}).values():
            parents.setdefault(task["componentRef"]["name"], []).append((name, task))
    found = []
    for name, body in spec["components"].items():
        for task in (body.get("dag") or {}).get("tasks", {}).values():
            if component_of(task["componentRef"]["name"].removeprefix("comp-")) != component:
                continue
            conditions, current, after = [], name, set(task.get("dependentTasks", []))
            while current in parents:
                (current, holder), = parents[current]  # each sub-DAG is used by one task
                conditions.append((holder.get("triggerPolicy") or {}).get("condition", ""))
                after |= set(holder.get("dependentTasks", []))
            found.append((name, task, [c for c in conditions if c], after))
    return found


@pytest.mark.parametrize("component, switch", [("serve-model", "serve_model"), ("register-model", "register_model")])
def test_serving_and_registration_are_gated_on_the_evaluation(compiled, component, switch):
    """The task runs only inside the evaluation's `promote` condition, its own switch and the export branch,
    and after the export (it hands others the exported copy)."""
    _, spec, _ = compiled
    found = enclosing_conditions(spec, component)
    assert len(found) == 1
    for dag, _task, conditions, after in found:
        switch_condition, promote_condition, export_condition = conditions[:3]
        assert switch_condition == f"inputs.parameter_values['pipelinechannel--{switch}'] == true"
        assert "evaluate" in promote_condition and "-promote'] == true" in promote_condition
        assert export_condition == "inputs.parameter_values['pipelinechannel--export_destination'] != ''"
        assert any(d.startswith("export-model") for d in after), after
        assert len(spec["components"][dag]["dag"]["tasks"]) == 1  # the switch's branch holds only this task


def test_registration_gets_the_lineage_inputs_and_the_optional_token(compiled):
    _, spec, executors = compiled
    for _dag, task, _, _ in enclosing_conditions(spec, "register-model"):
        artifacts, parameters = task["inputs"]["artifacts"], task["inputs"]["parameters"]
        assert set(artifacts) == {"model", "sft_model", "policy", "base_model", "problems", "evaluation"}
        # channels from the enclosing DAGs: the evaluation's metrics and reason, the GRPO model
        assert artifacts["evaluation"]["componentInputArtifact"] == "pipelinechannel--evaluate-metrics"
        assert artifacts["model"]["componentInputArtifact"] == "pipelinechannel--reasoning-grpo-grpo_model"
        assert parameters["promotion_reason"]["componentInputParameter"] == "pipelinechannel--evaluate-promotion_reason"
        assert parameters["run_id"]["runtimeValue"]["constant"] == "{{$.pipeline_job_uuid}}"
        executor = executors[spec["components"][task["componentRef"]["name"]]["executorLabel"]]
        secrets = {s["secretName"]: s for s in executor["secretAsEnv"]}
        token = secrets["reasoning-model-registry"]
        assert token["optional"] is True and token["keyToEnv"] == [
            {"secretKey": "MODEL_REGISTRY_TOKEN", "envVar": "MODEL_REGISTRY_TOKEN"}]
    # no other task sees the registry token
    others = [label for label, executor in executors.items() if not label.startswith("exec-register-model")
              and "reasoning-model-registry" in str(executor.get("secretAsEnv"))]
    assert not others
