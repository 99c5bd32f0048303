"""The pipeline inside its own image (`make test-containers`, run by CI after `make test`).

Every task runs in the CPU image through kfp.local's DockerRunner, as the image's non-root user,
with the CI recipe and the default evaluation sets, on the default model the image carries; the
training tasks push checkpoints and the export task uploads the model to the SeaweedFS server
the tests start, reached from inside the containers with credentials from the environment.
Needs a Docker engine and the image: `make test-containers` builds and starts both.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pipelines.local_docker import DEFAULT_IMAGE, EngineError, check_engine
from reasoning.pipeline.params import load_pipeline_recipe, parameter_defaults

pytestmark = pytest.mark.containers

ROOT = Path(__file__).resolve().parents[1]
IMAGE = os.environ.get("LOCAL_IMAGE") or DEFAULT_IMAGE
IMAGE_USER = 10001
SIZE_BUDGET = 2.5e9  # issue 13: the CPU image stays within 2.5 GB
# Names a credential would be stored under; none may be set by the image or appear in its history.
CREDENTIAL_NAME = re.compile(r"(?i)\b(AWS_SECRET_ACCESS_KEY|AWS_ACCESS_KEY_ID|AWS_SESSION_TOKEN|MINIO_ROOT_USER|"
                             r"MINIO_ROOT_PASSWORD|MINIO_ACCESS_KEY|MINIO_SECRET_KEY|HF_TOKEN|"
                             r"HUGGING_FACE_HUB_TOKEN|[A-Z_]*PASSWORD|[A-Z_]*SECRET[A-Z_]*|[A-Z_]*_TOKEN)=")


@pytest.fixture(scope="module")
def engine():
    try:
        client = check_engine(IMAGE)
    except EngineError as exc:  # not a skip: make test-containers builds the image and starts the engine
        pytest.fail(f"{exc}")
    yield client
    client.close()


def run_in_image(engine, *command: str) -> str:
    """Run a command in the image with no network, as its default user; its output."""
    return engine.containers.run(IMAGE, list(command), remove=True, network_mode="none").decode()


def test_image_runs_as_its_non_root_user_within_the_size_budget_and_carries_no_credentials(engine):
    attrs = engine.images.get(IMAGE).attrs
    assert attrs["Config"]["User"] == f"{IMAGE_USER}:{IMAGE_USER}"
    assert attrs["Size"] <= SIZE_BUDGET, f"{IMAGE} is {attrs['Size'] / 1e9:.2f} GB"
    env = "\n".join(attrs["Config"].get("Env") or [])
    assert not CREDENTIAL_NAME.search(env), env
    for layer in engine.api.history(IMAGE):
        assert not CREDENTIAL_NAME.search(layer.get("CreatedBy", "")), layer["CreatedBy"]
    assert run_in_image(engine, "id", "-u").strip() == str(IMAGE_USER)


def test_default_parameters_and_every_default_evaluation_set_work_inside_the_image(engine):
    """No data folder beside the repository in the image: the defaults resolve from the package."""
    script = ("import json\n"
              "from reasoning.pipeline.params import parameter_defaults, validate_parameters\n"
              "from reasoning.data.datasets import resolve_dataset\n"
              "params = validate_parameters(parameter_defaults())\n"
              "sizes = {name: len(resolve_dataset(name)) for name in ('gsm8k-test', 'math500', "
              "'folio-validation', 'humaneval', 'synthetic-test')}\n"
              "print(json.dumps({'eval_datasets': params['eval_datasets'], 'sizes': sizes}))\n")
    result = json.loads(run_in_image(engine, "python", "-c", script).strip().splitlines()[-1])
    assert result["eval_datasets"] == parameter_defaults()["eval_datasets"]
    assert result["sizes"] == {"gsm8k-test": 1319, "math500": 500, "folio-validation": 204, "humaneval": 164,
                               "synthetic-test": 200}


SANDBOX_CHECK = ("import json\n"
                 "from reasoning.scoring import sandbox\n"
                 "tests = 'def check(candidate):\\n    assert candidate(1) == 2\\n'\n"
                 "good = sandbox.run_tests('def f(x):\\n    return x + 1\\n', tests, 'f')\n"
                 "early_exit = sandbox.run_tests('import os\\ndef f(x):\\n    os._exit(0)\\n', tests, 'f')\n"
                 "print(json.dumps({'isolation': sandbox.isolation(), 'good': good.status, "
                 "'early_exit': early_exit.status}))\n")
# What a runtime must allow for unprivileged user namespaces with their own /proc (Kubernetes:
# seccompProfile Unconfined, appArmorProfile Unconfined, procMount Unmasked; docs/cluster.md).
USER_NAMESPACES = ["seccomp=unconfined", "apparmor=unconfined", "systempaths=unconfined"]


def test_the_sandbox_runs_code_as_the_image_user_only_where_user_namespaces_are_allowed(engine):
    def sandbox_in_image(security_opt):
        # The docker CLI: it turns systempaths=unconfined into the API's empty masked paths (docker-py cannot).
        options = [f"--security-opt={option}" for option in security_opt]
        output = subprocess.run([shutil.which("docker"), "run", "--rm", "--network=none", *options, IMAGE,
                                 "python", "-c", SANDBOX_CHECK], capture_output=True, text=True, check=True,
                                timeout=300).stdout
        return json.loads(output.strip().splitlines()[-1])

    allowed = sandbox_in_image(USER_NAMESPACES)
    assert allowed["isolation"].startswith("namespaces") and "user namespace" in allowed["isolation"]
    assert (allowed["good"], allowed["early_exit"]) == ("passed", "failed")
    # The engine's default profile: no namespaces, so untrusted code is refused, not run unguarded.
    default = sandbox_in_image([])
    assert default["isolation"].startswith("unavailable") and default["good"] == "error"


def test_a_missing_image_is_named_before_any_task_runs(engine, tmp_path):
    from pipelines.cli import run_locally
    params = load_pipeline_recipe(ROOT / "recipes" / "pipeline_tiny_ci.yaml")
    with pytest.raises(EngineError, match=r"reasoning-cpu:no-such-tag is not in the engine.*make images-local"):
        run_locally(params, tmp_path / "runs", run_name="x", runner="docker",
                    image="localhost/reasoning-cpu:no-such-tag")
    assert not list((tmp_path / "runs" / "x" / "artifacts").glob("*")), "no task may have started"


def test_whole_pipeline_in_the_image_with_the_default_eval_sets_and_an_object_store(engine, s3_server,
                                                                                    monkeypatch, tmp_path):
    from pipelines.cli import collect_outputs, run_locally
    from tests.test_pipeline_local import artifact, check_common_tasks

    if not s3_server.running:
        s3_server.start()
    s3_server.apply_env(monkeypatch)
    bucket = s3_server.new_bucket("containers")
    params = load_pipeline_recipe(ROOT / "recipes" / "pipeline_tiny_ci.yaml")
    assert params["eval_datasets"] == parameter_defaults()["eval_datasets"], "the CI recipe evaluates the defaults"
    params["checkpoint_uri"] = f"s3://{bucket}/checkpoints"
    runs = tmp_path / "runs"
    summary = run_locally(params, runs, storage=f"s3://{bucket}/runs", run_name="in-image", runner="docker",
                          image=IMAGE)
    assert summary["runner"] == "docker" and summary["image"] == IMAGE

    outputs = collect_outputs(Path(summary["artifacts"]))
    check_common_tasks(summary, outputs)
    sft, _ = artifact(outputs, "reasoning-sft", "sft_model")
    assert (sft / "model.safetensors").stat().st_uid == IMAGE_USER, "tasks run as the image's user"
    report = Path(summary["report"]["report.md"]).read_text()
    assert "gsm8k-test" in report and "synthetic-test" in report

    keys = [o.object_name for o in s3_server.client().list_objects(bucket, recursive=True)]
    exported = "runs/models/in-image/model.safetensors"
    assert exported in keys, keys
    for stage in ("sft", "grpo"):  # under a per-run prefix: checkpoints/<run id>/<stage>/...
        assert any(re.match(rf"checkpoints/[^/]+/{stage}/", k) for k in keys), f"no {stage} checkpoint in {keys}"
    assert "runs/reports/in-image/report.html" in keys

    # The credentials reached the containers (the uploads above) and no output holds them.
    secrets = [s3_server.secret_key.encode(), s3_server.access_key.encode()]
    for path in runs.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(secret in data for secret in secrets), f"a credential is written in {path}"
