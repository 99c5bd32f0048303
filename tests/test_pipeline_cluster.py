"""What the pipeline's tasks do differently on a cluster: multi-node stages exchange their inputs and
output through object storage (KFP gives components local /s3/... paths), per-run checkpoint
prefixes, GPU placement derived from the parameters, and the cluster settings checked up front."""
from __future__ import annotations

import json

import pytest

from reasoning.errors import InputError
from reasoning.io import storage
from reasoning.pipeline import launch
from reasoning.pipeline.params import make_parameters, sft_stage_config
from reasoning.pipeline.steps import run_training_stage, through_object_store


def kfp_local_artifacts(root):
    """What KFP's launcher hands a training component: local copies of its input artifacts."""
    model = root / "s3" / "model"
    model.mkdir(parents=True)
    (model / "config.json").write_text(json.dumps({"model_type": "llama"}))
    data = root / "s3" / "dataset"
    data.mkdir()
    (data / "rows.jsonl").write_text('{"problem": "1+1", "answer": "2"}\n')
    return model, data / "rows.jsonl", root / "s3" / "sft_model"


def test_multi_node_stages_get_object_store_uris_not_kfp_local_paths(s3_server, monkeypatch, tmp_path):
    s3_server.apply_env(monkeypatch)
    bucket = s3_server.new_bucket()
    model, rows, output = kfp_local_artifacts(tmp_path)
    params = make_parameters({"checkpoint_uri": f"s3://{bucket}/ckpt/run-1", "gpu_count": 8, "num_nodes": 2})
    config = sft_stage_config(params, model=str(model), dataset=str(rows), output=str(output))
    remote, local_output = through_object_store(config)
    assert local_output == str(output)
    launch.check_cluster_config(launch.stage_config("sft", remote))  # what refused the old local paths
    assert remote["output"] == f"s3://{bucket}/ckpt/run-1/sft.exchange/output"
    assert storage.exists(remote["model"]) and storage.exists(remote["dataset"])
    assert (storage.fetch(remote["model"]) / "config.json").read_text() == (model / "config.json").read_text()
    # the whole component path gets past the config check to the cluster (none here: no credentials)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.setenv("REASONING_GPU_IMAGE", "reg/reasoning-gpu:1")
    with pytest.raises(launch.LaunchError, match="no Kubernetes credentials"):
        run_training_stage("sft", config, gpus=8, num_nodes=2)


def test_multi_node_needs_a_checkpoint_prefix_to_exchange_through():
    with pytest.raises(InputError, match="checkpoint_uri"):
        make_parameters({"gpu_count": 8, "num_nodes": 2})
    with pytest.raises(InputError, match="checkpoint_uri"):
        through_object_store({"model": "m", "dataset": "d", "output": "/s3/out"})


@pytest.mark.parametrize("key, value, words", [
    ("REASONING_GPU_NODE_SELECTOR", '{"nvidia.com/gpu.present": true}', "label value string"),
    ("REASONING_GPU_NODE_SELECTOR", '["pool=gpu"]', "JSON object"),
    ("REASONING_GPU_NODE_SELECTOR", '{"bad key!": "x"}', "node label key"),
    ("REASONING_GPU_TOLERATIONS", '{"key": "nvidia.com/gpu"}', "JSON list"),
    ("REASONING_GPU_TOLERATIONS", '[{"key": "nvidia.com/gpu", "operator": "Exist"}]', "operator must be one of"),
    ("REASONING_GPU_TOLERATIONS", '[{"key": "nvidia.com/gpu", "effects": "NoSchedule"}]', "unknown toleration"),
    ("REASONING_GPU_TOLERATIONS", '[{"operator": "Exists", "value": "x"}]', "takes no value"),
    ("REASONING_GPU_TOLERATIONS", '[{"key": "k", "tolerationSeconds": "60"}]', "integer"),
    ("REASONING_TRAIN_MEMORY", "64GB", "Kubernetes quantity"),
    ("REASONING_TRAIN_CPU", "eight", "Kubernetes quantity"),
    ("REASONING_TRAINER_VERSION", "v3", "must be one of"),
    ("REASONING_JOB_TIMEOUT_SECONDS", "1h", "whole number of seconds"),
    ("REASONING_PENDING_TIMEOUT_SECONDS", "0", "whole number of seconds"),
    ("HF_HUB_OFFLINE", "yes", "must be one of"),
    ("REASONING_GPU_IMAGE", "ghcr.io/acme/reasoning-gpu", "tag or digest"),
])
def test_every_cluster_setting_is_checked_naming_its_key(key, value, words):
    from reasoning.pipeline.cluster_settings import check_cluster_settings
    with pytest.raises(InputError) as error:
        check_cluster_settings([], {key: value})
    assert error.value.field.startswith(f"ConfigMap reasoning-settings key {key}") and words in str(error.value)


def test_defaults_and_the_overlay_style_values_parse():
    from reasoning.pipeline.cluster_settings import DEFAULTS, cluster_settings
    assert cluster_settings(dict(DEFAULTS))["trainer_version"] == "auto"
    settings = cluster_settings({"REASONING_GPU_TOLERATIONS": '[{"key": "nvidia.com/gpu", "operator": "Exists", '
                                                              '"effect": "NoSchedule", "tolerationSeconds": 30}]',
                                 "REASONING_TRAIN_MEMORY": "160Gi", "REASONING_TRAIN_CPU": "500m",
                                 "REASONING_GPU_IMAGE": "ghcr.io/a/reasoning-gpu@sha256:" + "0" * 64})
    assert settings["tolerations"][0]["tolerationSeconds"] == 30 and settings["memory"] == "160Gi"


def test_missing_object_store_secret_keys_are_named_in_a_pod_only():
    from reasoning.pipeline.cluster_settings import check_object_store_secret
    pod = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "AWS_ACCESS_KEY_ID": "id"}
    with pytest.raises(InputError) as error:
        check_object_store_secret(["builtin:x", "s3://bucket/data.jsonl"], pod)
    assert error.value.field == "Secret reasoning-object-store key AWS_SECRET_ACCESS_KEY"
    check_object_store_secret(["builtin:x", "synthetic:math?n=4"], pod)  # nothing remote: no secret needed
    check_object_store_secret(["s3://bucket/data.jsonl"], {})  # a laptop: credentials are the user's business


def test_gpu_image_shows_no_gpus_to_pods_that_request_none():
    """The CUDA base image's NVIDIA_VISIBLE_DEVICES=all would expose every GPU of a node to a CPU task."""
    from pathlib import Path
    text = (Path(__file__).resolve().parents[1] / "images" / "gpu" / "Dockerfile").read_text()
    settings = [line.split("=", 1)[1].strip() for line in text.splitlines()
                if line.strip().removeprefix("ENV ").startswith("NVIDIA_VISIBLE_DEVICES=")]
    assert settings == ["void"]


def test_submit_passes_the_service_account(monkeypatch, tmp_path):
    """KFP's API server does not run here: a stand-in kfp.Client records what would be sent."""
    import kfp

    from pipelines.cli import main
    sent = {}

    class RecordingClient:
        def __init__(self, host, namespace=None):
            sent["host"] = host

        def create_run_from_pipeline_package(self, package, **kwargs):
            sent.update(kwargs)
            return type("Run", (), {"run_id": "run-1"})()

    monkeypatch.setattr(kfp, "Client", RecordingClient)
    assert main(["submit", "--host", "http://kfp", "--namespace", "team-reasoning",
                 "--service-account", "reasoning-pipeline-runner", "gpu_count=1"]) == 0
    assert sent["service_account"] == "reasoning-pipeline-runner" and sent["namespace"] == "team-reasoning"
    assert sent["arguments"]["gpu_count"] == 1


def test_serving_needs_an_object_store_export_and_a_dns_name():
    with pytest.raises(InputError) as error:
        make_parameters({"serve_model": True, "export_destination": "/tmp/model"})
    assert error.value.field == "export_destination"
    with pytest.raises(InputError) as error:
        make_parameters({"serve_model": True, "export_destination": "s3://b/m", "serving_name": "R1_model"})
    assert error.value.field == "serving_name"
    assert make_parameters({"serve_model": True, "export_destination": "s3://b/m"}).serving_name == "reasoning-r1"


@pytest.mark.parametrize("values, field", [
    ({"export_destination": "/tmp/model", "model_registry_address": "http://registry:8080"}, "export_destination"),
    ({"export_destination": "s3://b/m"}, "model_registry_address"),
    ({"export_destination": "s3://b/m", "model_registry_address": "registry:8080"}, "model_registry_address"),
    ({"export_destination": "s3://b/m", "model_registry_address": "http://u:pw@registry:8080"},
     "model_registry_address"),
    ({"export_destination": "s3://b/m", "model_registry_address": "http://registry:8080", "registered_model_name": ""},
     "registered_model_name"),
])
def test_registration_needs_an_object_store_export_and_a_registry_address(values, field):
    """Refused by the first task, before anything trains (the registry is called only at the end)."""
    with pytest.raises(InputError) as error:
        make_parameters({"register_model": True, **values})
    assert error.value.field == field and "pw@" not in str(error.value)
    # an address is checked even while registration is off (it may be switched on in the UI later)
    with pytest.raises(InputError):
        make_parameters({"model_registry_address": "http://u:pw@registry:8080"})
    accepted = make_parameters({"register_model": True, "export_destination": "s3://b/m",
                                "model_registry_address": "http://model-registry-service.kubeflow:8080"})
    assert accepted.registered_model_name == "reasoning-r1"
