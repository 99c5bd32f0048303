"""The compiled pipeline: images, resources, retries, caching, secrets, PVC; parameters; validation.

Fast (compiles the pipeline a few times, about 10 s); the whole pipeline through kfp.local is in
tests/test_pipeline_local.py.
"""
import dataclasses
import inspect
from pathlib import Path

import pytest
import yaml

from reasoning.fileio import InputError
from reasoning.pipeline_params import PipelineParameters, load_pipeline_recipe, parameter_defaults, validate_parameters

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


def test_every_component_is_in_the_pipeline(compiled):
    _, spec, _ = compiled
    components = {component_of(name) for name in spec["deploymentSpec"]["executors"]}
    assert components == {"validate-parameters", "import-model", "import-dataset", "generate-cot", "reasoning-sft",
                          "extend-context", "reasoning-grpo", "evaluate", "export-model"}


def test_images_resources_and_accelerators(compiled):
    _, spec, _ = compiled
    for name, executor in spec["deploymentSpec"]["executors"].items():
        container = executor["container"]
        kind = "gpu" if component_of(name) in TRAINING else "cpu"
        assert container["image"] == f"ghcr.io/example/reasoning-{kind}:0.1.0", name
        resources = container["resources"]
        for key in ("resourceCpuRequest", "resourceCpuLimit", "resourceMemoryRequest", "resourceMemoryLimit"):
            assert resources.get(key), (name, key)
        if kind == "gpu":
            assert resources["accelerator"] == {
                "resourceCount": "{{$.inputs.parameters['pipelinechannel--gpu_count']}}",
                "resourceType": "{{$.inputs.parameters['pipelinechannel--gpu_type']}}"}, name
        else:
            assert "accelerator" not in resources, name
        env = {e["name"]: e["value"] for e in container.get("env", [])}
        assert env.get("REASONING_CACHE") == "/cache/reasoning", name
        # Lightweight components: no pip install at pod start, the image carries everything.
        assert "pip install" not in " ".join(container["command"]), name


def test_secret_pvc_tolerations_and_node_selectors(compiled):
    _, spec, platform = compiled
    assert set(platform) == set(spec["deploymentSpec"]["executors"])
    for name, settings in platform.items():
        (secret,) = settings["secretAsEnv"]
        assert secret["secretName"] == "reasoning-object-store"
        assert {k["secretKey"]: k["envVar"] for k in secret["keyToEnv"]} == {
            key: key for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL")}
        (pvc,) = settings["pvcMount"]
        assert (pvc["constant"], pvc["mountPath"]) == ("reasoning-model-cache", "/cache")
        if component_of(name) in TRAINING:
            assert settings["tolerations"] == [{"effect": "NoSchedule", "key": "nvidia.com/gpu", "operator": "Exists"}]
            # Inside a condition the parameter arrives as "pipelinechannel--gpu_node_selector".
            source = settings["nodeSelector"]["nodeSelectorJson"]["componentInputParameter"]
            assert source.removeprefix("pipelinechannel--") == "gpu_node_selector", name
        else:
            assert "tolerations" not in settings and "nodeSelector" not in settings, name


def test_retries_and_caching(compiled):
    _, spec, _ = compiled
    seen = set()
    for component, task in all_tasks(spec):
        seen.add(component)
        caching = task.get("cachingOptions", {}).get("enableCache", False)
        assert caching is (component not in ("validate-parameters", "export-model")), component
        retry = task.get("retryPolicy")
        if component == "validate-parameters":
            assert retry is None  # a bad parameter does not get better by retrying
        else:
            assert retry["maxRetryCount"] >= 2 and retry["backoffDuration"] and retry["backoffFactor"] == 2.0, component
    assert len(seen) == 9


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
    _, spec, _ = compiled
    assert set(spec["root"]["inputDefinitions"]["parameters"]) == set(defaults)


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
