"""reasoning.pipeline.launch against a stand-in API server (no Kubernetes runs here): creating a job in the
installed Trainer's shape with strict field validation, and never waiting forever or leaving
GPUs held. The stand-in validates like the real server, with the vendored CRD schemas: a field
the CRD does not declare is refused under fieldValidation=Strict (and would be pruned without it).
"""
from __future__ import annotations

import os
import signal

import pytest
from kubernetes.client import (
    V1ContainerState,
    V1ContainerStateWaiting,
    V1ContainerStatus,
    V1ObjectMeta,
    V1Pod,
    V1PodCondition,
    V1PodStatus,
)

from reasoning.pipeline import launch
from tests.crd_schema import load_schema, pruned_fields

OWNER = {"name": "step-pod", "uid": "uid-1"}


class ApiError(Exception):
    def __init__(self, status: int, body: str):
        super().__init__(body)
        self.status, self.body = status, body


class StandInCluster:
    """custom objects + pods of one namespace; create() checks fields like a server with this CRD."""

    def __init__(self, trainjob_schema: str = "trainjobs-v2.2.1"):
        self.schema = load_schema(trainjob_schema)
        self.jobs: dict[str, dict] = {}
        self.pods: list[V1Pod] = []
        self.deleted: list[str] = []
        self.created_with: list[str | None] = []

    # CustomObjectsApi
    def create_namespaced_custom_object(self, group, version, namespace, plural, body, field_validation=None):
        self.created_with.append(field_validation)
        unknown = pruned_fields(body, self.schema) if plural == "trainjobs" else []
        if unknown and field_validation == "Strict":
            raise ApiError(400, f'TrainJob in version "v1alpha1" cannot be handled: strict decoding error: '
                                f'unknown field "{unknown[0].lstrip(".")}"')
        self.jobs[body["metadata"]["name"]] = body
        return body

    def get_namespaced_custom_object(self, group, version, namespace, plural, name):
        return self.jobs[name]

    def delete_namespaced_custom_object(self, group, version, namespace, plural, name, propagation_policy=None):
        self.deleted.append(name)
        self.jobs.pop(name, None)

    # CoreV1Api
    def list_namespaced_pod(self, namespace, label_selector):
        return type("PodList", (), {"items": list(self.pods)})()

    def read_namespaced_pod_log(self, *args, **kwargs):
        raise ApiError(404, "no log here")

    @property
    def clients(self):
        return self, self, None


def sft_job(version: str) -> dict:
    config = launch.stage_config("sft", {"dataset": "s3://b/d.jsonl", "output": "s3://b/out"})
    return launch.build_trainjob("sft", config, name="reasoning-sft-1", namespace="team", image="reg/gpu:1",
                                 num_nodes=2, gpus_per_node=8, version=version, owner=OWNER,
                                 node_selector={"pool": "gpu"}, tolerations=[{"key": "nvidia.com/gpu",
                                                                              "operator": "Exists"}])


@pytest.mark.parametrize("release, expected", [("v2.0.1", "podSpecOverrides"), ("v2.1.0", "podTemplateOverrides"),
                                               ("v2.2.1", "runtimePatches"), ("v2.3.0", "runtimePatches")])
def test_auto_finds_the_shape_the_installed_trainer_accepts(release, expected):
    cluster = StandInCluster(f"trainjobs-{release}")
    job = launch.create_job(cluster, sft_job, "trainjob", "auto")
    assert expected in job["spec"] and cluster.jobs["reasoning-sft-1"] is job
    assert set(cluster.created_with) == {"Strict"}  # never created with pruning allowed


def test_a_pinned_version_the_server_refuses_fails_naming_the_setting():
    cluster = StandInCluster("trainjobs-v2.1.0")
    with pytest.raises(launch.LaunchError, match="REASONING_TRAINER_VERSION(.|\n)*unknown field \"spec.runtimePatches"):
        launch.create_job(cluster, sft_job, "trainjob", "v2.2")
    assert not cluster.jobs


def unschedulable_pod() -> V1Pod:
    return V1Pod(metadata=V1ObjectMeta(name="reasoning-sft-1-node-0-0", labels={}),
                 status=V1PodStatus(phase="Pending", conditions=[V1PodCondition(
                     type="PodScheduled", status="False", reason="Unschedulable",
                     message="0/4 nodes are available: 4 node(s) had untolerated taint {nvidia.com/gpu: }")]))


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def submitted(cluster: StandInCluster) -> dict:
    return launch.create_job(cluster, sft_job, "trainjob", "v2.2")


def test_pods_pending_unschedulable_fail_the_step_and_delete_the_job():
    cluster = StandInCluster()
    job = submitted(cluster)
    cluster.pods = [unschedulable_pod()]
    clock = Clock()
    with pytest.raises(launch.LaunchError, match="waited 600 s to be scheduled(.|\n)*untolerated taint"):
        launch.wait_for_job(job, "trainjob", cluster.clients, timeout_s=10**6, pending_timeout_s=600,
                            poll_s=60, clock=clock, sleep=clock.sleep)
    assert 600 < clock.now <= 720 and cluster.deleted == ["reasoning-sft-1"]


def test_a_job_that_never_creates_pods_also_times_out_as_pending():
    cluster = StandInCluster()
    job = submitted(cluster)
    clock = Clock()
    with pytest.raises(launch.LaunchError, match="no pod was created"):
        launch.wait_for_job(job, "trainjob", cluster.clients, timeout_s=10**6, pending_timeout_s=300,
                            poll_s=60, clock=clock, sleep=clock.sleep)
    assert cluster.deleted == ["reasoning-sft-1"]


def running_pod() -> V1Pod:
    return V1Pod(metadata=V1ObjectMeta(name="reasoning-sft-1-node-0-1", labels={}),
                 status=V1PodStatus(phase="Running", conditions=[]))


def test_a_job_past_its_timeout_is_deleted():
    cluster = StandInCluster()
    job = submitted(cluster)
    cluster.pods = [running_pod()]
    clock = Clock()
    with pytest.raises(launch.LaunchError, match="still running after 3600 s"):
        launch.wait_for_job(job, "trainjob", cluster.clients, timeout_s=3600, pending_timeout_s=600, poll_s=60,
                            clock=clock, sleep=clock.sleep)
    assert cluster.deleted == ["reasoning-sft-1"]


def test_image_pull_failure_is_reported_and_cleaned_up():
    cluster = StandInCluster()
    job = submitted(cluster)
    cluster.pods = [V1Pod(metadata=V1ObjectMeta(name="p", labels={}), status=V1PodStatus(
        phase="Pending", container_statuses=[V1ContainerStatus(
            name="node", image="reg/gpu:1", image_id="", ready=False, restart_count=0,
            state=V1ContainerState(waiting=V1ContainerStateWaiting(reason="ImagePullBackOff", message="not found")))]))]
    with pytest.raises(launch.LaunchError, match="ImagePullBackOff"):
        launch.wait_for_job(job, "trainjob", cluster.clients, timeout_s=60, pending_timeout_s=60, poll_s=1,
                            sleep=lambda s: None)
    assert cluster.deleted == ["reasoning-sft-1"]


def test_a_cancelled_step_deletes_its_job():
    """KFP cancels a run by SIGTERM to the step's pod: the launcher must not leave the job holding GPUs."""
    cluster = StandInCluster()
    job = submitted(cluster)
    cluster.pods = [running_pod()]
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit, match="signal"):
        launch.wait_for_job(job, "trainjob", cluster.clients, timeout_s=10**6, pending_timeout_s=600, poll_s=1,
                            sleep=lambda s: os.kill(os.getpid(), signal.SIGTERM))
    assert cluster.deleted == ["reasoning-sft-1"]
    assert signal.getsignal(signal.SIGTERM) is previous


def test_a_finished_job_is_left_alone():
    cluster = StandInCluster()
    job = submitted(cluster)
    cluster.jobs["reasoning-sft-1"] = {**job, "status": {"conditions": [
        {"type": "Complete", "status": "True", "message": "done"}]}}
    assert launch.wait_for_job(job, "trainjob", cluster.clients, timeout_s=60, pending_timeout_s=60,
                               sleep=lambda s: None) == "done"
    assert cluster.deleted == []


def test_the_kfp_task_pod_owns_the_job():
    assert launch.current_pod({"KFP_POD_NAME": "p", "KFP_POD_UID": "u"}) == {"name": "p", "uid": "u"}
    assert launch.current_pod({}) is None
    assert sft_job("v2.1")["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Pod", "name": "step-pod", "uid": "uid-1"}]
