"""The TrainJob each Trainer version gets, and the PyTorchJob, checked against the real CRD schemas
of those releases (tests/data/crds, from github.com/kubeflow/trainer).

The bug these catch: a field the installed Trainer does not declare is pruned by the API server
without an error, so the GPU node selector and toleration vanish and the pods wait forever.
"""
from __future__ import annotations

import pytest

from reasoning.pipeline import launch, trainjob
from tests.crd_schema import load_schema, pruned_fields, schema_errors

SCHEMA_OF = {"v2.0.1": "v2.0", "v2.1.0": "v2.1", "v2.2.1": "v2.2", "v2.3.0": "v2.2"}
GPU_POOL = {"nvidia.com/gpu.present": "true"}
GPU_TAINT = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
OWNER = {"name": "reasoning-r1-pipeline-abc-system-container-impl-1", "uid": "0f9d6c1e-1111-2222-3333-444455556666"}


def job_for(version: str) -> dict:
    config = launch.stage_config("sft", {"dataset": "s3://b/d.jsonl", "output": "s3://b/out",
                                         "checkpoint_uri": "s3://b/ckpt/run-1/sft"})
    return launch.build_trainjob("sft", config, name="reasoning-sft-1", namespace="team", image="reg/gpu:1",
                                 num_nodes=2, gpus_per_node=8, version=version, cpu="16", memory="160Gi",
                                 service_account="reasoning-pipeline-runner", node_selector=GPU_POOL,
                                 tolerations=GPU_TAINT, owner=OWNER, timeout_s=3600)


def pod_spec_patch(job: dict) -> dict:
    """Where each version carries the pod settings."""
    spec = job["spec"]
    if "podSpecOverrides" in spec:
        return spec["podSpecOverrides"][0]
    if "podTemplateOverrides" in spec:
        return spec["podTemplateOverrides"][0]["spec"]
    (patch,) = spec["runtimePatches"]
    (node,) = patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]
    return node["template"]["spec"]["template"]["spec"]


@pytest.mark.parametrize("release", sorted(SCHEMA_OF))
def test_trainjob_is_accepted_whole_by_its_trainer_release(release):
    schema = load_schema(f"trainjobs-{release}")
    job = job_for(SCHEMA_OF[release])
    assert pruned_fields(job, schema) == []
    assert schema_errors(job, schema) == []
    patch = pod_spec_patch(job)
    assert patch["nodeSelector"] == GPU_POOL and patch["tolerations"] == GPU_TAINT
    assert patch["serviceAccountName"] == "reasoning-pipeline-runner"
    assert {"name": "dshm", "emptyDir": {"medium": "Memory"}} in patch["volumes"]
    assert patch["containers"] == [{"name": "node", "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}]}]
    assert job["metadata"]["ownerReferences"] == [{"apiVersion": "v1", "kind": "Pod", **OWNER}]
    resources = job["spec"]["trainer"]["resourcesPerNode"]["limits"]
    assert resources == {"nvidia.com/gpu": "8", "cpu": "16", "memory": "160Gi"}


@pytest.mark.parametrize("release", sorted(SCHEMA_OF))
def test_other_versions_shapes_would_be_pruned_by_this_release(release):
    """Why the version matters (and why strict field validation can tell them apart)."""
    schema = load_schema(f"trainjobs-{release}")
    for version in trainjob.TRAINER_VERSIONS:
        pruned = pruned_fields(job_for(version), schema)
        if version == SCHEMA_OF[release]:
            assert pruned == []
        else:
            assert pruned, (release, version)


@pytest.mark.parametrize("version", ["v2.1", "v2.2"])
def test_trainer_pods_opt_out_of_istio_where_the_version_allows_pod_metadata(version):
    job = job_for(version)
    spec = job["spec"]
    if version == "v2.1":
        metadata = spec["podTemplateOverrides"][0]["metadata"]
    else:
        replicated = spec["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"][0]
        metadata = replicated["template"]["spec"]["template"]["metadata"]
    assert metadata["annotations"]["sidecar.istio.io/inject"] == "false"


def test_v2_2_jobs_carry_their_own_deadline():
    assert job_for("v2.2")["spec"]["activeDeadlineSeconds"] == 3600


def test_pytorchjob_is_accepted_whole_by_the_training_operator():
    schema = load_schema("pytorchjobs-v1.9.3")
    config = launch.stage_config("sft", {"dataset": "s3://b/d.jsonl", "output": "s3://b/out"})
    job = launch.build_pytorchjob("sft", config, name="j", namespace="team", image="reg/gpu:1", num_nodes=3,
                                  gpus_per_node=4, service_account="runner", node_selector=GPU_POOL,
                                  tolerations=GPU_TAINT, owner=OWNER, timeout_s=7200, runtime="ignored")
    assert pruned_fields(job, schema) == []
    assert schema_errors(job, schema) == []
    assert job["spec"]["runPolicy"]["activeDeadlineSeconds"] == 7200
    for replica in job["spec"]["pytorchReplicaSpecs"].values():
        pod = replica["template"]
        assert pod["metadata"]["annotations"]["sidecar.istio.io/inject"] == "false"
        assert pod["spec"]["nodeSelector"] == GPU_POOL and pod["spec"]["tolerations"] == GPU_TAINT
        assert pod["spec"]["containers"][0]["volumeMounts"] == [{"name": "dshm", "mountPath": "/dev/shm"}]
