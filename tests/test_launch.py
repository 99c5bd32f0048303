"""reasoning.pipeline.launch: the in-process path trains for real on the tiny model; the multi-GPU and
multi-node paths are checked offline (their commands and job objects run the same stage module
with the same config; the node command is executed by bash to check its quoting)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from reasoning.config import config_to_dict
from reasoning.errors import InputError
from reasoning.pipeline import launch

CONFIG = {"dataset": "s3://bucket/cot.jsonl", "output": "s3://bucket/models/sft", "max_steps": 5,
          "learning_rate": 1e-4, "checkpoint_uri": "s3://bucket/ckpt/sft"}


def sft_config(**overrides):
    return launch.stage_config("sft", {**CONFIG, **overrides})


def env_value(env: list[dict], name: str):
    (item,) = [e for e in env if e["name"] == name]
    return item.get("value", item.get("valueFrom"))


def test_stage_config_validates_stage_and_keys():
    with pytest.raises(InputError, match="unknown stage 'pretrain'"):
        launch.stage_config("pretrain", {})
    with pytest.raises(InputError, match="lora_rank"):
        launch.stage_config("sft", {"lora_rank": 8})
    with pytest.raises(InputError, match="--max-steps"):
        launch.stage_config("sft", {"max_steps": 0})
    assert sft_config().max_steps == 5


def test_run_stage_refuses_bad_topologies_before_starting_anything(tmp_path):
    with pytest.raises(InputError, match="gpus"):
        launch.run_stage("sft", CONFIG, gpus=-1)
    with pytest.raises(InputError, match="at least one GPU per node"):
        launch.run_stage("sft", CONFIG, gpus=0, num_nodes=2)
    local = {**CONFIG, "output": str(tmp_path / "out")}
    with pytest.raises(InputError, match="--output"):
        launch.run_stage("sft", local, gpus=8, num_nodes=2, image="registry/reasoning-gpu:1")
    data = tmp_path / "cot.jsonl"
    data.write_text("{}\n")
    with pytest.raises(InputError, match="--dataset"):
        launch.run_stage("sft", {**CONFIG, "dataset": str(data)}, gpus=8, num_nodes=2, image="img")
    with pytest.raises(InputError, match="image"):
        launch.run_stage("sft", CONFIG, gpus=8, num_nodes=2)


def test_multi_gpu_without_deepspeed_or_its_config_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("REASONING_CONFIG_DIR", str(tmp_path))
    with pytest.raises(InputError, match="deepspeed_zero2.yaml"):
        launch.run_stage("sft", CONFIG, gpus=2)
    (tmp_path / "accelerate").mkdir()
    (tmp_path / "accelerate" / "deepspeed_zero3.yaml").write_text("distributed_type: DEEPSPEED\n")
    try:
        import deepspeed  # noqa: F401
        pytest.skip("deepspeed is installed here")
    except ImportError:
        pass
    with pytest.raises(InputError, match="DeepSpeed"):
        launch.run_stage("sft", CONFIG, gpus=2, zero_stage=3)


def test_accelerate_command_runs_the_stage_module_through_accelerate(tmp_path):
    command = launch.accelerate_command("grpo", tmp_path / "r.yaml", num_processes=4, zero_stage=3)
    assert command[command.index("--num_processes") + 1] == "4"
    assert command[command.index("--config_file") + 1].endswith("configs/accelerate/deepspeed_zero3.yaml")
    assert command[-4:] == ["-m", "reasoning.stages.grpo", "--config", str(tmp_path / "r.yaml")]
    # the launcher module is runnable with this interpreter (accelerate is a pinned dependency)
    help_text = subprocess.run(command[:3] + ["--help"], capture_output=True, text=True, timeout=120)
    assert help_text.returncode == 0 and "--num_processes" in help_text.stdout


def test_local_paths_become_absolute_for_the_subprocess(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cot.jsonl").write_text("{}\n")
    config = launch.absolute_paths(launch.stage_config("sft", {"dataset": "cot.jsonl", "output": "out/sft"}))
    assert (config.dataset, config.output) == (str(tmp_path / "cot.jsonl"), str(tmp_path / "out" / "sft"))
    assert config.model == "builtin:smollm2-135m-instruct"


def test_run_streaming_forwards_output_and_raises_on_failure():
    lines: list[str] = []
    launch.run_streaming([sys.executable, "-c", "print('a'); print('b')"], echo=lines.append)
    assert lines == ["a\n", "b\n"]
    with pytest.raises(launch.LaunchError, match=r"exited with status 3(.|\n)*boom"):
        launch.run_streaming([sys.executable, "-c", "print('boom'); raise SystemExit(3)"], echo=lambda _: None)
    with pytest.raises(launch.LaunchError, match="cannot start"):
        launch.run_streaming(["/nonexistent/accelerate"], echo=lambda _: None)


def test_trainjob_runs_the_same_stage_with_the_same_config():
    config = sft_config()
    job = launch.build_trainjob("sft", config, name="reasoning-sft-x", namespace="team", image="reg/gpu:1",
                                num_nodes=3, gpus_per_node=8, node_selector={"gpu": "h100"},
                                tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists"}])
    assert job["apiVersion"] == "trainer.kubeflow.org/v1alpha1" and job["kind"] == "TrainJob"
    assert job["metadata"] == {"name": "reasoning-sft-x", "namespace": "team", "labels": {
        "app.kubernetes.io/part-of": "reasoning", "reasoning/stage": "sft"}}
    trainer = job["spec"]["trainer"]
    assert job["spec"]["runtimeRef"] == {"name": "torch-distributed"}
    assert (trainer["image"], trainer["numNodes"], trainer["numProcPerNode"]) == ("reg/gpu:1", 3, 8)
    assert trainer["resourcesPerNode"]["limits"]["nvidia.com/gpu"] == "8"
    assert trainer["command"][:2] == ["bash", "-c"]
    script = trainer["command"][2]
    assert "-m reasoning.stages.sft --config" in script and "--num_machines 3 --num_processes 24" in script
    assert yaml.safe_load(env_value(trainer["env"], launch.CONFIG_ENV)) == config_to_dict(config)
    secret = env_value(trainer["env"], "AWS_SECRET_ACCESS_KEY")["secretKeyRef"]
    assert secret == {"name": "reasoning-object-store", "key": "AWS_SECRET_ACCESS_KEY", "optional": False}
    (override,) = job["spec"]["runtimePatches"]  # Trainer v2.2+ unless told otherwise
    pod = override["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]
    assert pod["spec"]["nodeSelector"] == {"gpu": "h100"} and pod["spec"]["tolerations"][0]["operator"] == "Exists"


def test_pytorchjob_has_one_master_and_workers_running_the_same_command():
    config = sft_config()
    job = launch.build_pytorchjob("sft", config, name="j", namespace="team", image="reg/gpu:1", num_nodes=4,
                                  gpus_per_node=2, service_account="reasoning-pipeline-runner")
    assert job["apiVersion"] == "kubeflow.org/v1" and job["kind"] == "PyTorchJob"
    specs = job["spec"]["pytorchReplicaSpecs"]
    assert specs["Master"]["replicas"] == 1 and specs["Worker"]["replicas"] == 3
    master, worker = (specs[k]["template"]["spec"] for k in ("Master", "Worker"))
    assert master["containers"][0]["name"] == "pytorch"
    assert master["containers"][0]["command"] == worker["containers"][0]["command"]
    trainjob = launch.build_trainjob("sft", config, name="j", namespace="team", image="reg/gpu:1", num_nodes=4,
                                     gpus_per_node=2)
    assert master["containers"][0]["command"] == trainjob["spec"]["trainer"]["command"]
    assert yaml.safe_load(env_value(master["containers"][0]["env"], launch.CONFIG_ENV)) == config_to_dict(config)
    assert master["serviceAccountName"] == "reasoning-pipeline-runner"
    assert master["containers"][0]["envFrom"] == [{"secretRef": {"name": "reasoning-object-store",
                                                                 "optional": False}}]


@pytest.mark.parametrize("rank_env", [
    {"PET_NODE_RANK": "2", "PET_MASTER_ADDR": "trainer-node-0", "PET_MASTER_PORT": "29400"},  # Trainer v2
    {"RANK": "2", "MASTER_ADDR": "trainer-node-0", "MASTER_PORT": "29400"},  # Training Operator v1
])
def test_node_command_runs_in_bash_with_either_operators_env(tmp_path, rank_env):
    """Execute the node script with a recording `accelerate` first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "accelerate"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$TMPDIR/argv"\n')
    fake.chmod(0o755)
    config = sft_config()
    text = launch.config_yaml(config, "test")
    script = launch.node_shell_command("sft", num_nodes=3, gpus_per_node=4, zero_stage=3)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "TMPDIR": str(tmp_path), launch.CONFIG_ENV: text,
           **rank_env}
    subprocess.run(["bash", "-c", script], env=env, check=True, timeout=30)
    argv = (tmp_path / "argv").read_text().split("\n")
    assert argv[:3] == ["launch", "--config_file", "/opt/reasoning/configs/accelerate/deepspeed_zero3.yaml"]
    value = {argv[i]: argv[i + 1] for i in range(1, len(argv) - 1) if argv[i].startswith("--")}
    assert value["--num_machines"] == "3" and value["--num_processes"] == "12"
    assert value["--machine_rank"] == "2" and value["--main_process_ip"] == "trainer-node-0"
    assert value["--main_process_port"] == "29400"
    assert argv[argv.index("-m") + 1] == "reasoning.stages.sft"
    recipe = Path(value["--config"])
    assert yaml.safe_load(recipe.read_text()) == config_to_dict(config)


def test_job_outcome_reads_status_conditions():
    running = {"status": {"conditions": [{"type": "Created", "status": "True"}]}}
    assert launch.job_outcome("trainjob", running) == (None, "")
    failed = {"status": {"conditions": [{"type": "Failed", "status": "True", "message": "node 1 OOM"}]}}
    assert launch.job_outcome("trainjob", failed) == ("failed", "node 1 OOM")
    done = {"status": {"conditions": [{"type": "Succeeded", "status": "True", "message": "ok"}]}}
    assert launch.job_outcome("pytorchjob", done) == ("succeeded", "ok")
    assert launch.job_outcome("trainjob", {}) == (None, "")


def test_detect_job_api_prefers_trainer_v2():
    from kubernetes.client import V1APIGroup, V1APIGroupList, V1GroupVersionForDiscovery

    def discovery(*groups):
        versions = {"trainer.kubeflow.org": "v1alpha1", "kubeflow.org": "v1", "apps": "v1"}
        listed = [V1APIGroup(name=g, versions=[V1GroupVersionForDiscovery(group_version=f"{g}/{versions[g]}",
                                                                          version=versions[g])]) for g in groups]
        return type("Apis", (), {"get_api_versions": lambda self: V1APIGroupList(groups=listed)})()

    assert launch.detect_job_api(discovery("apps", "kubeflow.org", "trainer.kubeflow.org")) == "trainjob"
    assert launch.detect_job_api(discovery("apps", "kubeflow.org")) == "pytorchjob"
    with pytest.raises(launch.LaunchError, match="neither Kubeflow Trainer"):
        launch.detect_job_api(discovery("apps"))


def test_cluster_settings_come_from_the_settings_configmap_env():
    settings = launch.cluster_settings({"REASONING_GPU_NODE_SELECTOR": '{"nvidia.com/gpu.present": "true"}',
                                        "REASONING_GPU_TOLERATIONS": "[]", "REASONING_TRAIN_CPU": "16"})
    assert {k: settings[k] for k in ("cpu", "memory", "node_selector", "tolerations", "trainer_version")} == {
        "cpu": "16", "memory": "64Gi", "node_selector": {"nvidia.com/gpu.present": "true"}, "tolerations": [],
        "trainer_version": "auto"}
    with pytest.raises(InputError, match="REASONING_GPU_TOLERATIONS"):
        launch.cluster_settings({"REASONING_GPU_TOLERATIONS": "{not json"})
    with pytest.raises(InputError, match="JSON list"):
        launch.cluster_settings({"REASONING_GPU_TOLERATIONS": "{}"})


def test_one_device_runs_the_stage_in_process(tiny_model_dir, tmp_path):
    from tests.test_stage_sft import write_cot_rows

    data = write_cot_rows(tmp_path / "cot.jsonl", n=8)
    out = tmp_path / "sft"
    result = launch.run_stage("sft", {"model": str(tiny_model_dir), "dataset": str(data), "output": str(out),
                                      "batch_size": 4, "max_length": 64, "lora_r": 4, "lora_alpha": 8,
                                      "max_steps": 2, "use_gradient_checkpointing": False, "save_steps": 1000},
                              gpus=0)
    assert Path(result["output"]) == out and (out / "reasoning_artifact.json").exists()
    assert "metrics" in result


def recorded_node_argv(tmp_path: Path, script: str, rank_env: dict[str, str]) -> list[str]:
    """Run a node script with a recording `accelerate` first on PATH; return its argv."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "accelerate"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$TMPDIR/argv"\n')
    fake.chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "TMPDIR": str(tmp_path),
           launch.CONFIG_ENV: launch.config_yaml(sft_config(), "test"), **rank_env}
    subprocess.run(["bash", "-c", script], env=env, check=True, timeout=30)
    return (tmp_path / "argv").read_text().rstrip("\n").split("\n")


@pytest.mark.parametrize("zero_stage", [2, 3])
def test_multi_node_accelerate_builds_a_torch_launch_not_pdsh(tmp_path, monkeypatch, zero_stage):
    """accelerate's own argument parsing and DeepSpeed command builder, fed the node script's argv:
    without ``deepspeed_multinode_launcher: standard`` it builds ``deepspeed --hostfile None
    --launcher pdsh`` (ssh to hosts that do not exist) on every node."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_deepspeed_cmd_env

    script = launch.node_shell_command("sft", num_nodes=2, gpus_per_node=8, zero_stage=zero_stage)
    argv = recorded_node_argv(tmp_path, script, {"PET_NODE_RANK": "1", "PET_MASTER_ADDR": "node-0",
                                                 "PET_MASTER_PORT": "29400"})
    assert argv[0] == "launch"
    argv = [str(launch.accelerate_config_file(zero_stage)) if a.startswith(launch.IMAGE_CONFIG_DIR) else a
            for a in argv[1:]]
    monkeypatch.chdir(launch.REPO_ROOT)  # the config names configs/deepspeed/*.json from here, as in the image
    args, defaults, _ = _validate_launch_command(launch_command_parser().parse_args(argv))
    assert args.use_deepspeed
    args.deepspeed_fields_from_accelerate_config = ",".join(defaults.deepspeed_config)  # as launch_command does
    command, _env = prepare_deepspeed_cmd_env(args)
    assert command is None, command  # None: torch.distributed.run is called in-process (no deepspeed/pdsh)
    assert (args.nnodes, args.node_rank, args.nproc_per_node) == ("2", 1, "8")
    assert getattr(args, "rdzv_endpoint", None) == "node-0:29400" or (args.master_addr, args.master_port) == (
        "node-0", "29400")
