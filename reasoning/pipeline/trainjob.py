"""The Kubernetes objects of a multi-node training stage: a Kubeflow Trainer ``TrainJob`` in the
shape the installed Trainer version accepts, or a Training Operator v1 ``PyTorchJob``.

Why per version: the place for pod settings (service account, node selector, tolerations,
volumes, pod labels) moved twice, and an unknown field is *pruned* by the API server, not
refused: a v2.0 ``podSpecOverrides`` sent to v2.1+ vanishes, the pods lose their GPU node
selector and toleration and wait forever on a tainted pool.

| Trainer | field | pod metadata (Istio opt-out) | job deadline |
|---|---|---|---|
| v2.0 | ``spec.podSpecOverrides[]`` (``targetJobs``, pod spec fields flat) | not available | launcher |
| v2.1 | ``spec.podTemplateOverrides[]`` (``targetJobs``, ``metadata``, ``spec``) | yes | launcher |
| v2.2, v2.3 | ``spec.runtimePatches[]`` (``manager``, ``trainingRuntimeSpec.template.spec.replicatedJobs[].template.spec.template``) | yes | ``spec.activeDeadlineSeconds`` |

tests/test_trainjob_schemas.py checks every shape against the CRD schemas of those releases
(vendored, descriptions stripped, in tests/data/crds). ``reasoning.pipeline.launch`` submits with
``fieldValidation=Strict`` so a field the server does not know is an error, never a silent drop.
"""
from __future__ import annotations

from typing import Any

TRAINJOB_API = ("trainer.kubeflow.org", "v1alpha1", "trainjobs")
PYTORCHJOB_API = ("kubeflow.org", "v1", "pytorchjobs")
TRAINER_VERSIONS = ("v2.2", "v2.1", "v2.0")  # newest first: the order "auto" tries them in
# The torch runtimes (torch-distributed, deepspeed-distributed) name their trainer job and container "node".
NODE = "node"
PATCH_MANAGER = "reasoning.kubeflow.org/launch"
# Istio's sidecar never exits (the Job would not complete) and intercepts NCCL's ports.
ISTIO_OPT_OUT = {"sidecar.istio.io/inject": "false"}
POD_LABELS = {"app.kubernetes.io/part-of": "reasoning"}
# NCCL and DataLoader workers share memory through /dev/shm; a container's default is 64 MiB.
SHM_VOLUME = {"name": "dshm", "emptyDir": {"medium": "Memory"}}
SHM_MOUNT = {"name": "dshm", "mountPath": "/dev/shm"}


def resources(gpus_per_node: int, cpu: str, memory: str) -> dict[str, Any]:
    limits = {"nvidia.com/gpu": str(gpus_per_node), "cpu": cpu, "memory": memory}
    return {"requests": dict(limits), "limits": limits}


def owner_references(owner: dict[str, str] | None) -> list[dict[str, Any]]:
    """The KFP task pod owns the job: deleting the run's pods (or the run) deletes the job too."""
    if not owner:
        return []
    return [{"apiVersion": "v1", "kind": "Pod", "name": owner["name"], "uid": owner["uid"]}]


def _metadata(name: str, namespace: str, stage: str, owner: dict[str, str] | None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace,
                                "labels": {**POD_LABELS, "reasoning/stage": stage}}
    if owner:
        metadata["ownerReferences"] = owner_references(owner)
    return metadata


def _placed(spec: dict[str, Any], service_account: str | None, node_selector: dict[str, str] | None,
            tolerations: list[dict] | None) -> dict[str, Any]:
    """``spec`` with the pod placement fields that are set (TrainJob patches and PyTorchJob pods alike)."""
    if service_account:
        spec["serviceAccountName"] = service_account
    if node_selector:
        spec["nodeSelector"] = dict(node_selector)
    if tolerations:
        spec["tolerations"] = [dict(t) for t in tolerations]
    return spec


def _pod_spec_patch(service_account: str | None, node_selector: dict[str, str] | None,
                    tolerations: list[dict] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"volumes": [dict(SHM_VOLUME)],
                            "containers": [{"name": NODE, "volumeMounts": [dict(SHM_MOUNT)]}]}
    return _placed(spec, service_account, node_selector, tolerations)


def build_trainjob(*, name: str, namespace: str, stage: str, image: str, command: list[str],
                   env: list[dict[str, Any]], num_nodes: int, gpus_per_node: int, version: str,
                   runtime: str = "torch-distributed", cpu: str = "8", memory: str = "64Gi",
                   service_account: str | None = None, node_selector: dict[str, str] | None = None,
                   tolerations: list[dict] | None = None, owner: dict[str, str] | None = None,
                   timeout_s: int | None = None) -> dict[str, Any]:
    """A TrainJob for Trainer ``version`` (v2.0, v2.1, v2.2; v2.3 takes v2.2's shape)."""
    if version not in TRAINER_VERSIONS:
        raise ValueError(f"unknown Trainer version {version!r}; known: {', '.join(TRAINER_VERSIONS)}")
    spec: dict[str, Any] = {
        "runtimeRef": {"name": runtime},
        "trainer": {"image": image, "command": command, "numNodes": num_nodes, "numProcPerNode": gpus_per_node,
                    "resourcesPerNode": resources(gpus_per_node, cpu, memory), "env": env},
    }
    pod_spec = _pod_spec_patch(service_account, node_selector, tolerations)
    pod_metadata = {"labels": dict(POD_LABELS), "annotations": dict(ISTIO_OPT_OUT)}
    if version == "v2.0":
        # no pod metadata here: opt out of Istio in the runtime or the namespace (docs/cluster.md)
        spec["podSpecOverrides"] = [{"targetJobs": [{"name": NODE}], **pod_spec}]
    elif version == "v2.1":
        spec["podTemplateOverrides"] = [{"targetJobs": [{"name": NODE}], "metadata": pod_metadata,
                                         "spec": pod_spec}]
    else:
        spec["runtimePatches"] = [{"manager": PATCH_MANAGER, "trainingRuntimeSpec": {"template": {"spec": {
            "replicatedJobs": [{"name": NODE, "template": {"spec": {"template": {
                "metadata": pod_metadata, "spec": pod_spec}}}}]}}}}]
        if timeout_s:
            spec["activeDeadlineSeconds"] = int(timeout_s)
    return {"apiVersion": f"{TRAINJOB_API[0]}/{TRAINJOB_API[1]}", "kind": "TrainJob",
            "metadata": _metadata(name, namespace, stage, owner), "spec": spec}


def build_pytorchjob(*, name: str, namespace: str, stage: str, image: str, command: list[str],
                     env: list[dict[str, Any]], env_from: list[dict[str, Any]], num_nodes: int, gpus_per_node: int,
                     cpu: str = "8", memory: str = "64Gi", service_account: str | None = None,
                     node_selector: dict[str, str] | None = None, tolerations: list[dict] | None = None,
                     owner: dict[str, str] | None = None, timeout_s: int | None = None) -> dict[str, Any]:
    """A Training Operator v1 PyTorchJob (1 Master + num_nodes-1 Workers) running ``command``."""

    def replica(count: int) -> dict[str, Any]:
        pod_spec: dict[str, Any] = {
            "containers": [{
                # the operator finds the training container by this name
                "name": "pytorch", "image": image, "command": command, "env": env, "envFrom": env_from,
                "resources": resources(gpus_per_node, cpu, memory), "volumeMounts": [dict(SHM_MOUNT)]}],
            "volumes": [dict(SHM_VOLUME)]}
        _placed(pod_spec, service_account, node_selector, tolerations)
        return {"replicas": count, "restartPolicy": "OnFailure",
                "template": {"metadata": {"labels": dict(POD_LABELS), "annotations": dict(ISTIO_OPT_OUT)},
                             "spec": pod_spec}}

    specs = {"Master": replica(1)}
    if num_nodes > 1:
        specs["Worker"] = replica(num_nodes - 1)
    run_policy: dict[str, Any] = {"backoffLimit": 3, "cleanPodPolicy": "Running"}
    if timeout_s:
        run_policy["activeDeadlineSeconds"] = int(timeout_s)
    return {"apiVersion": f"{PYTORCHJOB_API[0]}/{PYTORCHJOB_API[1]}", "kind": "PyTorchJob",
            "metadata": _metadata(name, namespace, stage, owner),
            "spec": {"runPolicy": run_policy, "pytorchReplicaSpecs": specs}}


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


def pods_selector(kind: str, name: str) -> str:
    """Every pod of the job (stuck checks look at all of them, not only rank 0)."""
    if kind == "trainjob":
        return f"jobset.sigs.k8s.io/jobset-name={name}"
    return f"training.kubeflow.org/job-name={name}"


def rank0_selector(kind: str, name: str) -> str:
    if kind == "trainjob":
        return f"{pods_selector(kind, name)},batch.kubernetes.io/job-completion-index=0"
    return f"{pods_selector(kind, name)},training.kubeflow.org/replica-type=master"
