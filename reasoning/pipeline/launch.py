"""Run a training stage on one device, on several GPUs of one pod, or on several nodes.

    run_stage("sft", {"dataset": "s3://b/cot.jsonl", "output": "s3://b/sft"}, gpus=8, num_nodes=2,
              image="ghcr.io/example/reasoning-gpu:0.1.0")

- one node, at most one GPU: ``reasoning.stages.<stage>.run(Config(**config))`` in this process;
- one node, several GPUs: the resolved config is written as a YAML recipe and
  ``accelerate launch --config_file configs/accelerate/deepspeed_zero{2,3}.yaml --num_processes N
  -m reasoning.stages.<stage> --config <yaml>`` runs as a subprocess (output streamed);
- several nodes: a Kubeflow Trainer v2 ``TrainJob`` (or a Training Operator ``PyTorchJob`` where
  only that is installed, found through API discovery) whose every node runs that same
  ``accelerate launch`` command on the same recipe; it is submitted with the kubernetes client
  (``fieldValidation=Strict``, in the field layout of the installed Trainer version, see
  ``reasoning.pipeline.trainjob``), owned by this KFP task's pod, and rank 0's log is streamed. A failed
  job, one past ``REASONING_JOB_TIMEOUT_SECONDS``, one with a pod that cannot start or stays
  unschedulable past ``REASONING_PENDING_TIMEOUT_SECONDS``, or a cancelled step (SIGTERM) deletes
  the job and raises ``LaunchError``.

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

from reasoning.errors import InputError
from reasoning.io import storage
from reasoning.pipeline import trainjob
from reasoning.pipeline.cluster_settings import (
    HF_TOKEN_SECRET,
    OBJECT_STORE_KEYS,
    OBJECT_STORE_SECRET,
    cluster_settings,
)
from reasoning.pipeline.cluster_settings import job_options as job_options_from
from reasoning.pipeline.trainjob import PYTORCHJOB_API, TRAINJOB_API, job_outcome, rank0_selector  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)

STAGES = {
    "sft": ("reasoning.stages.sft", "SFTStageConfig"),
    "grpo": ("reasoning.stages.grpo", "GRPOStageConfig"),
    "context": ("reasoning.stages.context", "ContextStageConfig"),
}
REPO_ROOT = Path(__file__).resolve().parents[2]
# Where images/*/Dockerfile put configs/ (the package is installed non-editable there).
IMAGE_CONFIG_DIR = "/opt/reasoning/configs"
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
    from reasoning.io import artifacts
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
           # each pod converts into its own disk: a volume cannot follow pods to several nodes
           {"name": "REASONING_CACHE", "value": "/tmp/reasoning-cache"},
           {"name": "HF_HUB_OFFLINE", "value": os.environ.get("HF_HUB_OFFLINE", "1")},
           {"name": "NCCL_DEBUG", "value": "WARN"},
           # a Hub model id in-cluster (HF_HUB_OFFLINE=0) may need a token; the Secret is optional
           {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": HF_TOKEN_SECRET, "key": "HF_TOKEN",
                                                                "optional": True}}}]
    # optional only when nothing remote is read or written: a missing secret then blocks the pod
    # (CreateContainerConfigError), which the launcher reports instead of a late S3 error.
    env_from = [{"secretRef": {"name": OBJECT_STORE_SECRET, "optional": not needs_secret}}]
    return env, env_from


def _uses_remote(config_obj: Any) -> bool:
    return any(storage.is_remote(str(getattr(config_obj, name, "") or ""))
               for name in ("model", "dataset", "output", "checkpoint_uri"))


def _node_pod(stage: str, config_obj: Any, *, num_nodes: int, gpus_per_node: int,
              zero_stage: int) -> tuple[list[str], list[dict], list[dict]]:
    command = ["bash", "-c", node_shell_command(stage, num_nodes=num_nodes, gpus_per_node=gpus_per_node,
                                                zero_stage=zero_stage)]
    env, env_from = _pod_env(config_yaml(config_obj, f"python -m {STAGES[stage][0]} --config <this file>"),
                             _uses_remote(config_obj))
    return command, env, env_from


def build_trainjob(stage: str, config_obj: Any, *, name: str, namespace: str, image: str, num_nodes: int,
                   gpus_per_node: int, zero_stage: int = 2, version: str = "v2.2", **options: Any) -> dict[str, Any]:
    """A Kubeflow Trainer TrainJob running ``stage`` with ``config_obj`` on ``num_nodes`` nodes,
    in the shape Trainer ``version`` accepts (reasoning.pipeline.trainjob)."""
    command, env, env_from = _node_pod(stage, config_obj, num_nodes=num_nodes, gpus_per_node=gpus_per_node,
                                       zero_stage=zero_stage)
    # TrainJob's trainer has no envFrom: the secret keys go in one by one.
    for key in OBJECT_STORE_KEYS:
        env.append({"name": key, "valueFrom": {"secretKeyRef": {
            "name": OBJECT_STORE_SECRET, "key": key, "optional": env_from[0]["secretRef"]["optional"]}}})
    return trainjob.build_trainjob(name=name, namespace=namespace, stage=stage, image=image, command=command,
                                   env=env, num_nodes=num_nodes, gpus_per_node=gpus_per_node, version=version,
                                   **options)


def build_pytorchjob(stage: str, config_obj: Any, *, name: str, namespace: str, image: str, num_nodes: int,
                     gpus_per_node: int, zero_stage: int = 2, **options: Any) -> dict[str, Any]:
    """A Training Operator v1 PyTorchJob (1 Master + num_nodes-1 Workers) running the same command."""
    options.pop("runtime", None)
    command, env, env_from = _node_pod(stage, config_obj, num_nodes=num_nodes, gpus_per_node=gpus_per_node,
                                       zero_stage=zero_stage)
    return trainjob.build_pytorchjob(name=name, namespace=namespace, stage=stage, image=image, command=command,
                                     env=env, env_from=env_from, num_nodes=num_nodes,
                                     gpus_per_node=gpus_per_node, **options)


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


def current_pod(environ: dict[str, str] | None = None) -> dict[str, str] | None:
    """This KFP task's pod (KFP's driver sets KFP_POD_NAME/KFP_POD_UID in every executor), or None."""
    environ = os.environ if environ is None else environ
    name, uid = environ.get("KFP_POD_NAME"), environ.get("KFP_POD_UID")
    return {"name": name, "uid": uid} if name and uid else None


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


def stuck_reason(pod) -> str | None:
    for status in (pod.status.container_statuses or []) if pod.status else []:
        waiting = status.state.waiting if status.state else None
        if waiting and waiting.reason in STUCK_REASONS:
            return f"pod {pod.metadata.name}: {waiting.reason}: {waiting.message or ''}"
    return None


def unschedulable_reason(pod) -> str | None:
    """Why a Pending pod is not placed (no free GPUs, an untolerated taint, a node selector no node has)."""
    if not pod.status or pod.status.phase != "Pending":
        return None
    for condition in pod.status.conditions or []:
        if condition.type == "PodScheduled" and condition.status == "False":
            return f"pod {pod.metadata.name} is not scheduled: {condition.reason}: {condition.message or ''}"
    return None


def _stream_logs(core, namespace: str, pod_name: str) -> None:
    try:
        stream = core.read_namespaced_pod_log(pod_name, namespace, follow=True, _preload_content=False)
        for chunk in stream.stream():
            sys.stdout.write(chunk.decode("utf-8", "replace"))
            sys.stdout.flush()
    except Exception as exc:  # the job status, not the log stream, decides success
        log.warning("log stream of %s ended: %s", pod_name, exc)


def _is_unknown_field(exc: Exception) -> bool:
    """A strict-validation refusal (400 'unknown field ...'), i.e. the wrong Trainer version's shape."""
    return getattr(exc, "status", None) in (400, 422) and "unknown field" in str(getattr(exc, "body", "") or exc)


def create_job(custom, build: Callable[[str], dict[str, Any]], kind: str, trainer_version: str) -> dict[str, Any]:
    """Create the job with fieldValidation=Strict, so a field the server does not know is refused, never
    pruned. For a TrainJob with ``trainer_version`` "auto", try each Trainer shape, newest first."""
    group, version, plural = TRAINJOB_API if kind == "trainjob" else PYTORCHJOB_API
    versions = [None] if kind != "trainjob" else (
        list(trainjob.TRAINER_VERSIONS) if trainer_version == "auto" else [trainer_version])
    refusals = []
    for trainer in versions:
        job = build(trainer) if trainer else build("")
        try:
            custom.create_namespaced_custom_object(group, version, job["metadata"]["namespace"], plural, job,
                                                   field_validation="Strict")
        except Exception as exc:
            if trainer and _is_unknown_field(exc) and trainer != versions[-1]:
                refusals.append(f"{trainer}: {getattr(exc, 'body', exc)}")
                continue
            hint = " (set REASONING_TRAINER_VERSION in the reasoning-settings ConfigMap)" if trainer else ""
            raise LaunchError(f"creating {job['kind']} {job['metadata']['namespace']}/{job['metadata']['name']} "
                              f"was refused{hint}: {getattr(exc, 'body', None) or exc}") from None
        log.info("submitted %s %s/%s%s", job["kind"], job["metadata"]["namespace"], job["metadata"]["name"],
                 f" (Trainer {trainer} fields)" if trainer else "")
        return job
    raise AssertionError("unreachable")


def delete_job(custom, job: dict[str, Any]) -> None:
    """Delete a job we gave up on, with its pods (they hold GPUs); never raises."""
    group, version, plural = TRAINJOB_API if job["kind"] == "TrainJob" else PYTORCHJOB_API
    try:
        custom.delete_namespaced_custom_object(group, version, job["metadata"]["namespace"], plural,
                                               job["metadata"]["name"], propagation_policy="Background")
        log.warning("deleted %s %s/%s", job["kind"], job["metadata"]["namespace"], job["metadata"]["name"])
    except Exception as exc:  # the ownerReference still collects it with this pod
        log.warning("could not delete %s %s: %s", job["kind"], job["metadata"]["name"], exc)


def wait_for_job(job: dict[str, Any], kind: str, clients, *, timeout_s: float, pending_timeout_s: float,
                 poll_s: float = 10.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> str:
    """Follow the job to its end; return its success message or raise LaunchError.

    A job that fails, outlives ``timeout_s``, or has a pod that cannot start (image pull, missing
    secret) or stays unschedulable for ``pending_timeout_s`` is deleted before the error is raised,
    so a failed or cancelled step never leaves pods holding GPUs.
    """
    custom, core, _ = clients
    group, version, plural = TRAINJOB_API if kind == "trainjob" else PYTORCHJOB_API
    name, namespace = job["metadata"]["name"], job["metadata"]["namespace"]
    what = f"{job['kind']} {namespace}/{name}"
    started, streamer, pending_since = clock(), None, None
    finished = False
    previous_sigterm = _raise_on_sigterm()
    try:
        while True:
            current = custom.get_namespaced_custom_object(group, version, namespace, plural, name)
            outcome, message = job_outcome(kind, current)
            if outcome == "succeeded":
                finished = True
                if streamer:
                    streamer.join(timeout=30)
                return message
            if outcome == "failed":
                raise LaunchError(f"{what} failed: {message}")
            pods = core.list_namespaced_pod(namespace, label_selector=trainjob.pods_selector(kind, name)).items
            for pod in pods:
                reason = stuck_reason(pod)
                if reason:
                    raise LaunchError(f"{what} cannot start: {reason}")
            unscheduled = [r for r in map(unschedulable_reason, pods) if r]
            if unscheduled or not pods:
                pending_since = pending_since if pending_since is not None else clock()
                if clock() - pending_since > pending_timeout_s:
                    why = unscheduled[0] if unscheduled else "no pod was created (check the job's events)"
                    raise LaunchError(f"{what} has waited {pending_timeout_s:.0f} s to be scheduled: {why} "
                                      "(REASONING_PENDING_TIMEOUT_SECONDS)")
            else:
                pending_since = None
            rank0 = [p for p in pods if p.metadata.labels and (
                p.metadata.labels.get("batch.kubernetes.io/job-completion-index") == "0"
                or p.metadata.labels.get("training.kubeflow.org/replica-type") == "master")]
            if streamer is None and rank0 and rank0[0].status and rank0[0].status.phase in (
                    "Running", "Succeeded", "Failed"):
                streamer = threading.Thread(target=_stream_logs, args=(core, namespace, rank0[0].metadata.name),
                                            daemon=True)
                streamer.start()
            if clock() - started > timeout_s:
                raise LaunchError(f"{what} still running after {timeout_s:.0f} s (REASONING_JOB_TIMEOUT_SECONDS)")
            sleep(poll_s)
    finally:
        signal_restore(previous_sigterm)
        if not finished:  # failed, timed out, stuck, or this step was cancelled (SIGTERM) / interrupted
            delete_job(custom, job)


def _raise_on_sigterm():
    """A cancelled KFP run SIGTERMs the step's pod: turn it into SystemExit so ``finally`` deletes the job."""
    import signal
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        raise SystemExit(f"terminated by signal {signum}")
    return signal.signal(signal.SIGTERM, handler)


def signal_restore(previous) -> None:
    import signal
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


def run_multi_node(stage: str, config_obj: Any, *, gpus: int, num_nodes: int, image: str | None,
                   namespace: str | None, zero_stage: int = 2, timeout_s: float | None = None,
                   job_api: str = "auto", **job_options: Any) -> dict[str, Any]:
    settings = cluster_settings()
    image = image or settings["gpu_image"] or os.environ.get("REASONING_GPU_IMAGE")
    if not image:
        raise InputError("a multi-node run needs the training image (image=... or REASONING_GPU_IMAGE)",
                         field="image")
    check_cluster_config(config_obj)
    clients = _kube_clients()
    trainer_version = settings["trainer_version"]
    if job_api == "auto":
        job_api = "pytorchjob" if trainer_version == "pytorchjob" else detect_job_api(clients[2])
    timeout_s = timeout_s or settings["timeout_s"]
    options = {**job_options_from(settings), **job_options, "owner": current_pod(), "timeout_s": int(timeout_s)}
    name = f"reasoning-{stage}-{uuid.uuid4().hex[:8]}"
    common = dict(name=name, namespace=namespace or current_namespace(), image=image, num_nodes=num_nodes,
                  gpus_per_node=gpus, zero_stage=zero_stage)
    if job_api == "trainjob":
        def build(version: str) -> dict[str, Any]:
            return build_trainjob(stage, config_obj, version=version, **common, **options)
    else:
        def build(_version: str) -> dict[str, Any]:
            return build_pytorchjob(stage, config_obj, **common, **options)
    job = create_job(clients[0], build, job_api, trainer_version if trainer_version != "pytorchjob" else "auto")
    message = wait_for_job(job, job_api, clients, timeout_s=timeout_s, pending_timeout_s=settings["pending_timeout_s"])
    return {"output": config_obj.output, "metrics": output_metrics(config_obj.output), "launcher": job_api,
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
