"""Run a training stage on one device, on several GPUs of one pod, or on several nodes.

    run_stage("sft", {"dataset": "s3://b/cot.jsonl", "output": "s3://b/sft"}, gpus=8, num_nodes=2,
              image="ghcr.io/example/reasoning-gpu:0.1.0")

- one node, at most one GPU: ``reasoning.stages.<stage>.run(Config(**config))`` in this process;
- one node, several GPUs: the resolved config is written as a YAML recipe and
  ``accelerate launch --config_file configs/accelerate/deepspeed_zero{2,3}.yaml --num_processes N
  -m reasoning.stages.<stage> --config <yaml>`` runs as a subprocess (output streamed);
- several nodes: a Kubeflow Trainer v2 ``TrainJob`` (or a Training Operator ``PyTorchJob`` where
  only that is installed, found through API discovery) whose every node runs that same
  ``accelerate launch`` command on the same recipe; it is submitted with the kubernetes client,
  rank 0's log is streamed, and a failed job raises ``LaunchError``.

All three run the same stage module with the same config, so a recipe behaves the same on a
laptop and on a cluster. No kfp import here: the KFP training components call ``run_stage``.
"""
from __future__ import annotations

import dataclasses
import importlib
import logging
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from reasoning import storage
from reasoning.fileio import InputError

log = logging.getLogger(__name__)

STAGES = {
    "sft": ("reasoning.stages.sft", "SFTStageConfig"),
    "grpo": ("reasoning.stages.grpo", "GRPOStageConfig"),
    "context": ("reasoning.stages.context", "ContextStageConfig"),
}
REPO_ROOT = Path(__file__).resolve().parents[1]
# Where images/*/Dockerfile put configs/ (the package is installed non-editable there).
IMAGE_CONFIG_DIR = "/opt/reasoning/configs"
OBJECT_STORE_SECRET = "reasoning-object-store"
TRAINJOB_API = ("trainer.kubeflow.org", "v1alpha1", "trainjobs")
PYTORCHJOB_API = ("kubeflow.org", "v1", "pytorchjobs")
# Pod states that never fix themselves: waiting on them would hang the launcher forever.
STUCK_REASONS = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError",
                 "CreateContainerError"}
CONFIG_ENV = "REASONING_STAGE_CONFIG"


class LaunchError(RuntimeError):
    """A launched stage failed (non-zero exit, failed TrainJob/PyTorchJob, stuck pod)."""


# ---------------------------------------------------------------- configs and commands

def stage_config(stage: str, config: dict[str, Any]) -> Any:
    """Build (and so validate) the stage's config dataclass; cheap, nothing loaded yet."""
    if stage not in STAGES:
        raise InputError(f"unknown stage {stage!r}; known: {', '.join(STAGES)}", field="stage")
    module_name, class_name = STAGES[stage]
    cls = getattr(importlib.import_module(module_name), class_name)  # lazy: stages import torch
    known = {f.name for f in dataclasses.fields(cls) if f.init}
    for key in config:
        if key not in known:
            raise InputError(f"unknown key for {class_name}; known keys: {', '.join(sorted(known))}", field=key)
    return cls(**config)


def config_yaml(config_obj: Any, command: str) -> str:
    from reasoning.config import config_to_dict
    return f"# {command}\n" + yaml.safe_dump(config_to_dict(config_obj), sort_keys=False)


def accelerate_config_file(zero_stage: int, config_dir: str | os.PathLike | None = None) -> Path:
    """configs/accelerate/deepspeed_zero{2,3}.yaml (REASONING_CONFIG_DIR, the repo, or the image)."""
    if zero_stage not in (2, 3):
        raise InputError(f"DeepSpeed ZeRO stage must be 2 or 3, got {zero_stage}", field="zero_stage")
    if config_dir is None:
        config_dir = os.environ.get("REASONING_CONFIG_DIR") or (
            REPO_ROOT / "configs" if (REPO_ROOT / "configs").is_dir() else IMAGE_CONFIG_DIR)
    return Path(config_dir) / "accelerate" / f"deepspeed_zero{zero_stage}.yaml"


def accelerate_command(stage: str, recipe: str | os.PathLike, *, num_processes: int, zero_stage: int = 2,
                       config_file: str | os.PathLike | None = None, python: str | None = None) -> list[str]:
    """The single-node multi-GPU command: accelerate (DeepSpeed) running the stage module."""
    config_file = config_file or accelerate_config_file(zero_stage)
    return [python or sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config_file),
            "--num_processes", str(num_processes), "-m", STAGES[stage][0], "--config", str(recipe)]


def node_shell_command(stage: str, *, num_nodes: int, gpus_per_node: int, zero_stage: int = 2) -> str:
    """What every node of a multi-node job runs (bash): write the recipe from the env, then
    ``accelerate launch`` with this node's rank.

    Trainer v2's torch runtime exports PET_NODE_RANK/PET_MASTER_ADDR/PET_MASTER_PORT; the
    Training Operator's PyTorchJob exports RANK/MASTER_ADDR/MASTER_PORT: accept either.
    """
    config_file = f"{IMAGE_CONFIG_DIR}/accelerate/deepspeed_zero{zero_stage}.yaml"
    launch = ["accelerate", "launch", "--config_file", config_file,
              "--num_machines", str(num_nodes), "--num_processes", str(num_nodes * gpus_per_node)]
    return ("set -euo pipefail; "
            # accelerate's config names configs/deepspeed/*.json relative to the image's workdir
            f"if [ -d {IMAGE_CONFIG_DIR} ]; then cd {IMAGE_CONFIG_DIR.rsplit('/', 1)[0]}; fi; "
            'recipe="${TMPDIR:-/tmp}/reasoning-stage.yaml"; '
            f'printf "%s" "${CONFIG_ENV}" > "$recipe"; '
            f"exec {shlex.join(launch)} "
            '--machine_rank "${PET_NODE_RANK:-${RANK:-0}}" '
            '--main_process_ip "${PET_MASTER_ADDR:-${MASTER_ADDR}}" '
            '--main_process_port "${PET_MASTER_PORT:-${MASTER_PORT:-29500}}" '
            f'-m {STAGES[stage][0]} --config "$recipe"')


# ---------------------------------------------------------------- in-process and one pod

def run_in_process(stage: str, config_obj: Any) -> dict[str, Any]:
    module = importlib.import_module(STAGES[stage][0])
    return module.run(config_obj)


def run_streaming(command: list[str], *, env: dict[str, str] | None = None, cwd: str | os.PathLike | None = None,
                  echo: Callable[[str], None] | None = None) -> None:
    """Run ``command``, forwarding each output line as it comes; raise LaunchError on failure."""
    echo = echo or (lambda line: print(line, end="", flush=True))
    log.info("running: %s", shlex.join(command))
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   env=env, cwd=cwd, bufsize=1)
    except FileNotFoundError as exc:
        raise LaunchError(f"cannot start {command[0]!r}: {exc}") from None
    tail: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        echo(line)
        tail = (tail + [line])[-20:]
    code = process.wait()
    if code != 0:
        raise LaunchError(f"{shlex.join(command)} exited with status {code}; last lines:\n{''.join(tail)}")


def run_multi_gpu(stage: str, config_obj: Any, *, gpus: int, zero_stage: int = 2) -> dict[str, Any]:
    config_file = accelerate_config_file(zero_stage)
    if not config_file.exists():
        raise InputError("the accelerate/DeepSpeed config is missing", file=config_file)
    try:
        import deepspeed  # noqa: F401  (fail here, not in N worker tracebacks)
    except ImportError:
        raise InputError("several GPUs use DeepSpeed: pip install '.[gpu]' (or use the reasoning-gpu image)",
                         field="gpus") from None
    config_obj = absolute_paths(config_obj)
    with tempfile.TemporaryDirectory(prefix=f"reasoning-{stage}-") as tmp:
        recipe = Path(tmp) / f"{stage}.yaml"
        command = accelerate_command(stage, recipe, num_processes=gpus, zero_stage=zero_stage,
                                     config_file=config_file.resolve())
        recipe.write_text(config_yaml(config_obj, shlex.join(command)), encoding="utf-8")
        # accelerate's config names configs/deepspeed/*.json relative to the folder holding configs/
        run_streaming(command, cwd=config_file.resolve().parents[2])
    return {"output": config_obj.output, "metrics": output_metrics(config_obj.output),
            "launcher": "accelerate", "processes": gpus}


def absolute_paths(config_obj: Any) -> Any:
    """The config with local model/dataset/output paths made absolute (the subprocess runs elsewhere)."""
    changes = {}
    for field in ("model", "dataset", "output"):
        value = str(getattr(config_obj, field, "") or "")
        if not value or storage.is_remote(value) or ":" in value:  # builtin:, synthetic:, URIs
            continue
        path = Path(value).expanduser()
        if field == "output" or path.exists():
            changes[field] = str(path.resolve())
    return dataclasses.replace(config_obj, **changes) if changes else config_obj


def output_metrics(output: str) -> dict[str, Any]:
    """Metrics the stage recorded in its model artifact (the subprocess cannot return them)."""
    from reasoning import artifacts
    try:
        metadata_path = f"{output.rstrip('/')}/{artifacts.METADATA_FILE}"
        path = storage.fetch(metadata_path)
        import json
        return json.loads(Path(path).read_text(encoding="utf-8")).get("metrics", {})
    except (InputError, OSError, ValueError) as exc:
        log.warning("the stage finished but its metrics could not be read from %s: %s", output, exc)
        return {}


# ---------------------------------------------------------------- several nodes

def _pod_env(config_text: str, needs_secret: bool) -> tuple[list[dict], list[dict]]:
    env = [{"name": CONFIG_ENV, "value": config_text},
           # the PVC is ReadWriteOnce and cannot follow pods to several nodes: convert into the pod
           {"name": "REASONING_CACHE", "value": "/tmp/reasoning-cache"},
           {"name": "HF_HUB_OFFLINE", "value": os.environ.get("HF_HUB_OFFLINE", "1")},
           {"name": "NCCL_DEBUG", "value": "WARN"}]
    # optional only when nothing remote is read or written: a missing secret then blocks the pod
    # (CreateContainerConfigError), which the launcher reports instead of a late S3 error.
    env_from = [{"secretRef": {"name": OBJECT_STORE_SECRET, "optional": not needs_secret}}]
    return env, env_from


def _resources(gpus_per_node: int, cpu: str, memory: str) -> dict[str, Any]:
    limits = {"nvidia.com/gpu": str(gpus_per_node), "cpu": cpu, "memory": memory}
    return {"requests": dict(limits), "limits": limits}


def cluster_settings(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Job sizing and GPU scheduling from the reasoning-settings ConfigMap (exposed as env)."""
    import json
    environ = dict(os.environ if environ is None else environ)
    settings: dict[str, Any] = {"cpu": environ.get("REASONING_TRAIN_CPU", "8"),
                                "memory": environ.get("REASONING_TRAIN_MEMORY", "64Gi")}
    for key, env_name, kind in (("node_selector", "REASONING_GPU_NODE_SELECTOR", dict),
                                ("tolerations", "REASONING_GPU_TOLERATIONS", list)):
        text = environ.get(env_name, "").strip()
        try:
            value = json.loads(text) if text else kind()
        except ValueError as exc:
            raise InputError(f"not valid JSON: {exc}", field=env_name) from None
        if not isinstance(value, kind):
            raise InputError(f"must be a JSON {kind.__name__}", field=env_name)
        settings[key] = value
    return settings


def _uses_remote(config_obj: Any) -> bool:
    return any(storage.is_remote(str(getattr(config_obj, name, "") or ""))
               for name in ("model", "dataset", "output", "checkpoint_uri"))


def build_trainjob(stage: str, config_obj: Any, *, name: str, namespace: str, image: str, num_nodes: int,
                   gpus_per_node: int, zero_stage: int = 2, runtime: str = "torch-distributed",
                   cpu: str = "8", memory: str = "64Gi", service_account: str | None = None,
                   node_selector: dict[str, str] | None = None,
                   tolerations: list[dict] | None = None) -> dict[str, Any]:
    """A Kubeflow Trainer v2 TrainJob running ``stage`` with ``config_obj`` on ``num_nodes`` nodes."""
    command = node_shell_command(stage, num_nodes=num_nodes, gpus_per_node=gpus_per_node, zero_stage=zero_stage)
    env, env_from = _pod_env(config_yaml(config_obj, f"python -m {STAGES[stage][0]} --config <this file>"),
                             _uses_remote(config_obj))
    job: dict[str, Any] = {
        "apiVersion": f"{TRAINJOB_API[0]}/{TRAINJOB_API[1]}", "kind": "TrainJob",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {"app.kubernetes.io/part-of": "reasoning", "reasoning/stage": stage}},
        "spec": {
            "runtimeRef": {"name": runtime},
            "trainer": {"image": image, "command": ["bash", "-c", command], "numNodes": num_nodes,
                        "numProcPerNode": gpus_per_node,
                        "resourcesPerNode": _resources(gpus_per_node, cpu, memory), "env": env},
        },
    }
    # TrainJob's trainer has no envFrom: the secret keys go in one by one.
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        env.append({"name": key, "valueFrom": {"secretKeyRef": {
            "name": OBJECT_STORE_SECRET, "key": key, "optional": env_from[0]["secretRef"]["optional"]}}})
    override: dict[str, Any] = {}
    if service_account:
        override["serviceAccountName"] = service_account
    if node_selector:
        override["nodeSelector"] = dict(node_selector)
    if tolerations:
        override["tolerations"] = list(tolerations)
    if override:
        # "node" is the replicated job that runs the trainer in the torch runtimes
        job["spec"]["podSpecOverrides"] = [{"targetJobs": [{"name": "node"}], **override}]
    return job


def build_pytorchjob(stage: str, config_obj: Any, *, name: str, namespace: str, image: str, num_nodes: int,
                     gpus_per_node: int, zero_stage: int = 2, cpu: str = "8", memory: str = "64Gi",
                     service_account: str | None = None, node_selector: dict[str, str] | None = None,
                     tolerations: list[dict] | None = None) -> dict[str, Any]:
    """A Training Operator v1 PyTorchJob (1 Master + num_nodes-1 Workers) running the same command."""
    command = node_shell_command(stage, num_nodes=num_nodes, gpus_per_node=gpus_per_node, zero_stage=zero_stage)
    env, env_from = _pod_env(config_yaml(config_obj, f"python -m {STAGES[stage][0]} --config <this file>"),
                             _uses_remote(config_obj))

    def replica(count: int) -> dict[str, Any]:
        pod_spec: dict[str, Any] = {"containers": [{
            # the operator finds the training container by this name
            "name": "pytorch", "image": image, "command": ["bash", "-c", command], "env": env,
            "envFrom": env_from, "resources": _resources(gpus_per_node, cpu, memory)}]}
        if service_account:
            pod_spec["serviceAccountName"] = service_account
        if node_selector:
            pod_spec["nodeSelector"] = dict(node_selector)
        if tolerations:
            pod_spec["tolerations"] = list(tolerations)
        return {"replicas": count, "restartPolicy": "OnFailure", "template": {"spec": pod_spec}}

    specs = {"Master": replica(1)}
    if num_nodes > 1:
        specs["Worker"] = replica(num_nodes - 1)
    return {"apiVersion": f"{PYTORCHJOB_API[0]}/{PYTORCHJOB_API[1]}", "kind": "PyTorchJob",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {"app.kubernetes.io/part-of": "reasoning", "reasoning/stage": stage}},
            "spec": {"runPolicy": {"backoffLimit": 3}, "pytorchReplicaSpecs": specs}}


def check_cluster_config(config_obj: Any) -> None:
    """Pods on other nodes cannot see this machine's files: the output must be in object storage."""
    if not storage.is_remote(config_obj.output):
        raise InputError("a multi-node run must write to object storage (s3:// or minio://)", field="--output")
    for field in ("dataset", "model"):
        value = str(getattr(config_obj, field, "") or "")
        if value and not storage.is_remote(value) and Path(value).expanduser().exists():
            raise InputError(f"{value!r} is a local path the cluster's pods cannot read; upload it and pass "
                             "an s3:// URI", field=f"--{field}")


def current_namespace() -> str:
    in_cluster = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
    if in_cluster.exists():
        return in_cluster.read_text().strip()
    return os.environ.get("REASONING_NAMESPACE", "reasoning")


def _kube_clients():
    from kubernetes import client, config
    try:
        config.load_incluster_config()
    except config.ConfigException:
        try:
            config.load_kube_config()
        except (config.ConfigException, FileNotFoundError) as exc:
            raise LaunchError(f"no Kubernetes credentials (in-cluster or kubeconfig): {exc}") from None
    api = client.ApiClient()
    return client.CustomObjectsApi(api), client.CoreV1Api(api), client.ApisApi(api)


def detect_job_api(apis_api) -> str:
    """'trainjob' when Kubeflow Trainer v2 is installed, else 'pytorchjob', else LaunchError."""
    groups = {g.name: [v.version for v in g.versions] for g in apis_api.get_api_versions().groups}
    if TRAINJOB_API[1] in groups.get(TRAINJOB_API[0], []):
        return "trainjob"
    if PYTORCHJOB_API[1] in groups.get(PYTORCHJOB_API[0], []):
        return "pytorchjob"
    raise LaunchError("neither Kubeflow Trainer (trainjobs.trainer.kubeflow.org) nor the Training Operator "
                      "(pytorchjobs.kubeflow.org) is installed in this cluster: install one for num_nodes > 1")


def job_outcome(kind: str, job: dict[str, Any]) -> tuple[str | None, str]:
    """('succeeded' | 'failed' | None while running, message) from a job's status conditions."""
    done = {"trainjob": ("Complete", "Failed"), "pytorchjob": ("Succeeded", "Failed")}[kind]
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == done[0]:
            return "succeeded", condition.get("message", "")
        if condition.get("type") == done[1]:
            return "failed", condition.get("message") or condition.get("reason", "")
    return None, ""


def rank0_selector(kind: str, name: str) -> str:
    if kind == "trainjob":
        return f"jobset.sigs.k8s.io/jobset-name={name},batch.kubernetes.io/job-completion-index=0"
    return f"training.kubeflow.org/job-name={name},training.kubeflow.org/replica-type=master"


def stuck_reason(pod) -> str | None:
    for status in (pod.status.container_statuses or []) if pod.status else []:
        waiting = status.state.waiting if status.state else None
        if waiting and waiting.reason in STUCK_REASONS:
            return f"pod {pod.metadata.name}: {waiting.reason}: {waiting.message or ''}"
    return None


def _stream_logs(core, namespace: str, pod_name: str) -> None:
    try:
        stream = core.read_namespaced_pod_log(pod_name, namespace, follow=True, _preload_content=False)
        for chunk in stream.stream():
            sys.stdout.write(chunk.decode("utf-8", "replace"))
            sys.stdout.flush()
    except Exception as exc:  # the job status, not the log stream, decides success
        log.warning("log stream of %s ended: %s", pod_name, exc)


def submit_and_wait(job: dict[str, Any], kind: str, *, poll_s: float = 10.0, timeout_s: float | None = None,
                    clients=None) -> str:
    """Create the job, stream rank 0's log, return its success message or raise LaunchError."""
    custom, core, _ = clients or _kube_clients()
    group, version, plural = TRAINJOB_API if kind == "trainjob" else PYTORCHJOB_API
    name, namespace = job["metadata"]["name"], job["metadata"]["namespace"]
    custom.create_namespaced_custom_object(group, version, namespace, plural, job)
    log.info("submitted %s %s/%s", job["kind"], namespace, name)
    started, streamer = time.monotonic(), None
    while True:
        current = custom.get_namespaced_custom_object(group, version, namespace, plural, name)
        outcome, message = job_outcome(kind, current)
        if outcome == "succeeded":
            if streamer:
                streamer.join(timeout=30)
            return message
        if outcome == "failed":
            raise LaunchError(f"{job['kind']} {namespace}/{name} failed: {message}")
        pods = core.list_namespaced_pod(namespace, label_selector=rank0_selector(kind, name)).items
        for pod in pods:
            reason = stuck_reason(pod)
            if reason:
                raise LaunchError(f"{job['kind']} {namespace}/{name} cannot start: {reason}")
        if streamer is None and pods and pods[0].status and pods[0].status.phase in ("Running", "Succeeded",
                                                                                      "Failed"):
            streamer = threading.Thread(target=_stream_logs, args=(core, namespace, pods[0].metadata.name),
                                        daemon=True)
            streamer.start()
        if timeout_s is not None and time.monotonic() - started > timeout_s:
            raise LaunchError(f"{job['kind']} {namespace}/{name} still running after {timeout_s:.0f} s")
        time.sleep(poll_s)


def run_multi_node(stage: str, config_obj: Any, *, gpus: int, num_nodes: int, image: str | None,
                   namespace: str | None, zero_stage: int = 2, timeout_s: float | None = None,
                   job_api: str = "auto", **job_options: Any) -> dict[str, Any]:
    image = image or os.environ.get("REASONING_GPU_IMAGE")
    if not image:
        raise InputError("a multi-node run needs the training image (image=... or REASONING_GPU_IMAGE)",
                         field="image")
    check_cluster_config(config_obj)
    clients = _kube_clients()
    kind = detect_job_api(clients[2]) if job_api == "auto" else job_api
    name = f"reasoning-{stage}-{uuid.uuid4().hex[:8]}"
    build = build_trainjob if kind == "trainjob" else build_pytorchjob
    job_options = {**cluster_settings(), **job_options}
    if kind != "trainjob":
        job_options.pop("runtime", None)
    job = build(stage, config_obj, name=name, namespace=namespace or current_namespace(), image=image,
                num_nodes=num_nodes, gpus_per_node=gpus, zero_stage=zero_stage, **job_options)
    message = submit_and_wait(job, kind, timeout_s=timeout_s, clients=clients)
    return {"output": config_obj.output, "metrics": output_metrics(config_obj.output), "launcher": kind,
            "job": name, "message": message}


# ---------------------------------------------------------------- entry point

def run_stage(stage: str, config: dict[str, Any], *, gpus: int = 0, num_nodes: int = 1, image: str | None = None,
              namespace: str | None = None, zero_stage: int = 2, timeout_s: float | None = None,
              **job_options: Any) -> dict[str, Any]:
    """Run a training stage where ``gpus`` (per node) and ``num_nodes`` say; see the module doc.

    Returns the stage's result ({"output", "metrics", ...}). ``job_options`` go to
    build_trainjob/build_pytorchjob (cpu, memory, runtime, service_account, job_api).
    """
    if gpus < 0:
        raise InputError(f"must be >= 0, got {gpus}", field="gpus")
    if num_nodes < 1:
        raise InputError(f"must be >= 1, got {num_nodes}", field="num_nodes")
    if num_nodes > 1 and gpus < 1:
        raise InputError("a multi-node run needs at least one GPU per node", field="gpus")
    config_obj = stage_config(stage, config)  # validates before anything is started
    if num_nodes == 1 and gpus <= 1:
        return run_in_process(stage, config_obj)
    if num_nodes == 1:
        return run_multi_gpu(stage, config_obj, gpus=gpus, zero_stage=zero_stage)
    return run_multi_node(stage, config_obj, gpus=gpus, num_nodes=num_nodes, image=image, namespace=namespace,
                          zero_stage=zero_stage, timeout_s=timeout_s, **job_options)
