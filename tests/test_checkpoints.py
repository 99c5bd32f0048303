"""Where checkpoints live and which one --resume continues from (fast: no training; the
end-to-end resume with real trainers is in tests/test_resume.py)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from reasoning.io import artifacts
from reasoning.stages import common
from reasoning.stages.common import Preempted
from reasoning.stages.sft import SFTStageConfig


def config(output, **overrides) -> SFTStageConfig:
    return SFTStageConfig(model="m", dataset="d", output=str(output), **overrides)


def make_checkpoint(folder: Path, step: int) -> Path:
    """A checkpoint folder with the files the Trainer writes (state, weights, optimizer, RNG)."""
    path = folder / f"checkpoint-{step}"
    path.mkdir(parents=True)
    (path / "trainer_state.json").write_text(json.dumps({"global_step": step, "max_steps": 100}))
    for name in ("adapter_model.safetensors", "optimizer.pt", "scheduler.pt", "rng_state.pth", "training_args.bin"):
        (path / name).write_bytes(b"x")
    (path / "adapter_config.json").write_text("{}")
    return path


def test_local_outputs_keep_checkpoints_beside_the_output(tmp_path):
    out = tmp_path / "sft"
    assert common.local_checkpoint_dir(str(out)) == artifacts.checkpoint_dir(out) == tmp_path / "sft.checkpoints"
    assert common.checkpoint_uri_for(config(out)) == ""


def test_remote_outputs_get_remote_checkpoints_and_a_cache_folder_per_output(tmp_path, monkeypatch):
    monkeypatch.setenv("REASONING_CACHE", str(tmp_path / "cache"))
    assert common.checkpoint_uri_for(config("s3://b/runs/sft/")) == "s3://b/runs/sft.checkpoints"
    assert common.checkpoint_uri_for(config("s3://b/runs/sft")) == "s3://b/runs/sft.checkpoints"
    assert common.checkpoint_uri_for(config("s3://b/runs/BOX")) == "s3://b/runs/BOX.checkpoints"
    assert common.checkpoint_uri_for(config("s3://b/runs/sft", checkpoint_uri="s3://c/ck")) == "s3://c/ck"
    assert common.checkpoint_uri_for(config(tmp_path / "o", checkpoint_uri="s3://c/ck")) == "s3://c/ck"
    first, second = common.local_checkpoint_dir("s3://b/one"), common.local_checkpoint_dir("s3://b/two")
    assert first != second and first.parent == second.parent == tmp_path / "cache" / "checkpoints"
    assert common.local_checkpoint_dir("s3://b/one") == first  # stable: a retried pod finds the same folder


def test_resume_continues_from_the_newest_checkpoint_by_step(tmp_path, caplog):
    out = tmp_path / "sft"
    folder = artifacts.checkpoint_dir(out)
    for step in (2, 10, 9):  # by name "checkpoint-9" > "checkpoint-10": the step must decide
        make_checkpoint(folder, step)
    with caplog.at_level("INFO", logger="reasoning.stages.common"):
        local, resume_from = common.prepare_checkpoints(config(out, resume=True))
    assert local == folder
    assert Path(resume_from) == folder / "checkpoint-10"
    assert (folder / "checkpoint-2").exists()  # resuming deletes nothing
    assert [r.getMessage() for r in caplog.records] == [f"resuming from {folder / 'checkpoint-10'}"]


def test_resume_without_checkpoints_starts_from_step_zero(tmp_path, caplog):
    out = tmp_path / "new" / "runs" / "sft"  # parents created as needed
    with caplog.at_level("INFO", logger="reasoning.stages.common"):
        local, resume_from = common.prepare_checkpoints(config(out, resume=True))
    assert resume_from is None and local.is_dir() and not any(local.iterdir())
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", f"--resume: no checkpoint in {local}; starting from step 0")]


def test_a_fresh_run_removes_old_checkpoints(tmp_path, caplog):
    out = tmp_path / "sft"
    folder = artifacts.checkpoint_dir(out)
    make_checkpoint(folder, 4)
    (folder / "live_log.jsonl").write_text("{}\n")
    with caplog.at_level("INFO", logger="reasoning.stages.common"):
        local, resume_from = common.prepare_checkpoints(config(out))
    assert resume_from is None and local == folder and local.is_dir() and not any(local.iterdir())
    assert [r.getMessage() for r in caplog.records] == [
        f"starting fresh: removing old checkpoints in {folder} (use --resume to continue them)"]
    fresh, _ = common.prepare_checkpoints(config(tmp_path / "a" / "b" / "sft"))
    assert fresh.is_dir()


@pytest.mark.s3
def test_resume_on_a_fresh_node_restores_the_checkpoints_from_object_storage(s3_env, tmp_path, caplog):
    _, bucket = s3_env
    pod_one = tmp_path / "pod-one" / "sft"
    make_checkpoint(artifacts.checkpoint_dir(pod_one), 6)
    from reasoning.io import storage
    storage.sync_dir_to(artifacts.checkpoint_dir(pod_one), f"{bucket}/ck/sft")
    pod_two = tmp_path / "pod-two" / "sft"  # a new node: nothing on its disk
    with caplog.at_level("INFO", logger="reasoning.stages.common"):
        local, resume_from = common.prepare_checkpoints(config(pod_two, resume=True, checkpoint_uri=f"{bucket}/ck/sft"))
    assert Path(resume_from) == local / "checkpoint-6"
    # The pod log says where the checkpoints came from (what an operator reads after a preemption).
    assert [r.getMessage() for r in caplog.records] == [
        f"restored checkpoints from {bucket}/ck/sft: True", f"resuming from {local / 'checkpoint-6'}"]
    assert json.loads((local / "checkpoint-6" / "trainer_state.json").read_text())["global_step"] == 6


class FinishedTrainer:
    """Duck-typed stand-in for a Trainer whose train() ran to the given step (the decision
    under test is only what train_with_preemption does after train() returns)."""

    def __init__(self, step: int, max_steps: int, output_dir: str = "ck"):
        self.state = type("State", (), {"global_step": step, "max_steps": max_steps})()
        self.args = type("Args", (), {"output_dir": output_dir})()
        self.resumed_from = "unset"

    def train(self, resume_from_checkpoint=None):
        self.resumed_from = resume_from_checkpoint


def test_a_sigterm_before_the_last_step_raises_preempted_with_the_rerun_hint():
    trainer = FinishedTrainer(step=3, max_steps=8, output_dir="/x/sft.checkpoints")
    with pytest.raises(Preempted, match=r"at step 3/8; checkpoint saved in /x/sft.checkpoints; rerun with --resume"):
        common.train_with_preemption(trainer, "/x/sft.checkpoints/checkpoint-2", {"signal": 15})
    assert trainer.resumed_from == "/x/sft.checkpoints/checkpoint-2"


@pytest.mark.parametrize("step, flag", [(8, {"signal": 15}), (3, {}), (8, {})])
def test_a_finished_or_unsignalled_run_is_not_preempted(step, flag):
    trainer = FinishedTrainer(step=step, max_steps=8)
    common.train_with_preemption(trainer, None, flag)
    assert trainer.resumed_from is None
