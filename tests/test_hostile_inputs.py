"""Hostile inputs and interrupted outputs: unreadable files, credentials in URIs, an object
store that cannot be written, checkpoints cut short by a hard kill, SIGTERM while writing,
output permissions, and rows TRL drops at --max-length."""
from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from reasoning.errors import InputError
from reasoning.io import artifacts, storage
from reasoning.io.fileio import atomic_dir, write_text_atomic
from reasoning.stages import common, sft
from reasoning.stages.cot import main as cot_main
from tests.test_stage_sft import tiny_config, write_cot_rows

ROOT = Path(__file__).resolve().parents[1]
GSM8K_ROW = {"question": "What is 2 + 3?", "answer": "2 + 3 = 5\n#### 5"}


# ---------------------------------------------------------------- unreadable input -> exit 2

def _cot_error(capsys, path: Path, tmp_path: Path, *flags: str) -> str:
    assert cot_main(["--input", str(path), "--output", str(tmp_path / "out.jsonl"), *flags]) == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("flags", [[], ["--skip-invalid"]])
def test_binary_input_is_a_clear_error_naming_the_file(tmp_path, capsys, flags):
    binary = tmp_path / "x.jsonl"
    binary.write_bytes(b'{"question": "q", "answer": "1"}\n\xff\xfe\x00\x81binary\n')
    err = _cot_error(capsys, binary, tmp_path, *flags)
    assert str(binary) in err and "not UTF-8" in err
    assert "Traceback" not in err


def test_a_directory_named_like_a_data_file_is_a_clear_error(tmp_path, capsys, tiny_model_dir):
    directory = tmp_path / "x.jsonl"
    directory.mkdir()
    err = _cot_error(capsys, directory, tmp_path)
    assert str(directory) in err and "is a directory" in err
    # SFT called it "does not exist".
    code = sft.main(["--model", str(tiny_model_dir), "--dataset", str(directory), "--output", str(tmp_path / "m")])
    assert code == 2
    err = capsys.readouterr().err
    assert "is a directory" in err and "does not exist" not in err


@pytest.mark.skipif(os.geteuid() == 0 and shutil.which("setpriv") is None, reason="root without setpriv")
def test_an_unreadable_file_is_a_clear_error(tmp_path):
    shared = Path(tempfile.mkdtemp(prefix="reasoning-unreadable-"))
    try:
        shared.chmod(0o777)  # the unprivileged user below must reach it (root reads any file)
        secret = shared / "x.jsonl"
        secret.write_text(json.dumps(GSM8K_ROW) + "\n")
        secret.chmod(0)
        command = [sys.executable, "-m", "reasoning.stages.cot", "--input", str(secret), "--output",
                   str(shared / "out.jsonl")]
        if os.geteuid() == 0:
            command = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", *command]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert done.returncode == 2, done.stderr
        assert str(secret) in done.stderr and "permission denied" in done.stderr
        assert "Traceback" not in done.stderr
    finally:
        shutil.rmtree(shared, ignore_errors=True)


# ---------------------------------------------------------------- credentials in URIs

SECRET = "wJalrXUtnFEMI/K7MDENG"


@pytest.mark.parametrize("uri", [f"s3://AKIAEXAMPLE:{SECRET}@bucket/data.jsonl",
                                 f"minio://user:{SECRET}@bucket/data.jsonl"])
def test_credentials_in_a_uri_are_refused_and_never_echoed(uri):
    with pytest.raises(InputError) as info:
        storage.fetch(uri)
    assert SECRET not in str(info.value) and "AKIAEXAMPLE" not in str(info.value)
    assert "credentials" in str(info.value)


@pytest.mark.parametrize("flag", ["--checkpoint-uri", "--output", "--dataset", "--model"])
def test_credentials_in_a_stage_flag_fail_validation_before_training(tmp_path, capsys, flag):
    data = write_cot_rows(tmp_path / "cot.jsonl", n=2)
    values = {"--model": "builtin:smollm2-135m-instruct", "--dataset": str(data), "--output": str(tmp_path / "m")}
    values[flag] = f"s3://u:{SECRET}@bucket/ck"
    started = time.monotonic()
    assert sft.main([item for pair in values.items() for item in pair]) == 2
    err = capsys.readouterr().err
    assert flag in err and SECRET not in err and "u:" not in err
    assert time.monotonic() - started < 10  # refused by validation, not after training


def test_an_unwritable_object_store_output_fails_before_training(tmp_path, monkeypatch, tiny_model_dir):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("REASONING_S3_ATTEMPTS", "1")
    data = write_cot_rows(tmp_path / "cot.jsonl", n=2)
    config = tiny_config(tiny_model_dir, data, "s3://bucket/models/sft")
    started = time.monotonic()
    with pytest.raises(storage.StorageError, match="s3://bucket/models/sft"):
        sft.check_inputs(config)  # before any model is loaded
    assert time.monotonic() - started < 30


def test_a_writable_object_store_output_passes_the_check_and_leaves_nothing(s3_env):
    _server, bucket = s3_env
    storage.check_writable(f"{bucket}/models/sft")
    assert storage.list_prefix(bucket) == []
    assert storage.list_prefix(f"{bucket}/models") == []
    with pytest.raises(storage.StorageError, match="does not exist"):
        storage.check_writable("s3://no-such-bucket-here/x")


# ---------------------------------------------------------------- resume after a hard kill

def test_resume_skips_checkpoints_a_hard_kill_left_incomplete(tiny_model_dir, tmp_path):
    """A SIGKILL while the Trainer writes checkpoint-N leaves a directory that looks newest;
    get_last_checkpoint took it, and every later --resume failed. Resume must take the newest
    complete one and end where an uninterrupted run ends."""
    data = write_cot_rows(tmp_path / "cot.jsonl", n=8)
    out = tmp_path / "model"
    checkpoints = artifacts.checkpoint_dir(out)
    finished = threading.Event()

    def preempt_after_first_checkpoint():
        while not finished.is_set():
            if any((p / common.CHECKPOINT_COMPLETE).exists() for p in checkpoints.glob("checkpoint-*")):
                os.kill(os.getpid(), signal.SIGTERM)
                return
            time.sleep(0.05)

    previous = signal.signal(signal.SIGTERM, lambda *args: None)
    try:
        watcher = threading.Thread(target=preempt_after_first_checkpoint, daemon=True)
        watcher.start()
        with pytest.raises(common.Preempted):
            sft.run(tiny_config(tiny_model_dir, data, out, batch_size=2, epochs=4.0, save_steps=2))
        finished.set()
        watcher.join()
        saved = sorted(int(p.name.split("-")[1]) for p in checkpoints.glob("checkpoint-*"))
        assert saved and saved[-1] < 12
        assert all((checkpoints / f"checkpoint-{s}" / common.CHECKPOINT_COMPLETE).is_file() for s in saved)
        last = checkpoints / f"checkpoint-{saved[-1]}"
        (checkpoints / "checkpoint-14").mkdir()  # killed right after mkdir
        partial = checkpoints / "checkpoint-12"  # killed after some files were written
        shutil.copytree(last, partial)
        (partial / common.CHECKPOINT_COMPLETE).unlink()
        (partial / "trainer_state.json").unlink()
        result = sft.run(tiny_config(tiny_model_dir, data, out, batch_size=2, epochs=4.0, save_steps=2,
                                     resume=True))
    finally:
        finished.set()
        signal.signal(signal.SIGTERM, previous)
    assert result["metrics"]["global_step"] == 16
    assert [r["step"] for r in artifacts.read_train_log(out) if "loss" in r] == list(range(1, 17))


def test_checkpoint_choice_keeps_what_can_be_resumed(tmp_path):
    """Marked folders: the newest marked one wins, unmarked newer ones go, older ones stay.
    Folders from before the marker existed (none marked): a readable trainer_state.json counts."""
    def checkpoint(root, step, *, marked=False, state=True):
        path = root / f"checkpoint-{step}"
        path.mkdir(parents=True)
        if state:
            (path / "trainer_state.json").write_text(json.dumps({"global_step": step}))
        if marked:
            (path / common.CHECKPOINT_COMPLETE).write_text("{}")
        return path

    marked = tmp_path / "marked"
    old = checkpoint(marked, 2)
    done = checkpoint(marked, 4, marked=True)
    killed = checkpoint(marked, 6)
    assert common.last_complete_checkpoint(marked) == str(done)
    assert not killed.exists() and old.exists()

    legacy = tmp_path / "legacy"
    checkpoint(legacy, 2)
    kept = checkpoint(legacy, 4)
    half = checkpoint(legacy, 6, state=False)
    assert common.last_complete_checkpoint(legacy) == str(kept)
    assert not half.exists()
    assert common.last_complete_checkpoint(tmp_path / "legacy") == str(kept)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert common.last_complete_checkpoint(empty) is None


# ---------------------------------------------------------------- SIGTERM while writing

def test_sigterm_during_the_cot_write_leaves_nothing_behind(tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    command = [sys.executable, "-m", "reasoning.stages.cot", "synthetic", "--output", str(out_dir / "s.jsonl"),
               "--num-samples", "60000", "--seed", "1"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 120
    while process.poll() is None and not any(out_dir.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.005)
    assert process.poll() is None, "the write ended before it could be interrupted"
    process.send_signal(signal.SIGTERM)
    process.wait(60)
    assert process.returncode == 143, process.stderr.read().decode()
    assert list(out_dir.iterdir()) == []  # neither the output nor a hidden temporary


# ---------------------------------------------------------------- output permissions

@pytest.mark.parametrize("umask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_outputs_get_normal_permissions_that_respect_the_umask(tmp_path, umask, file_mode, dir_mode):
    previous = os.umask(umask)
    try:
        write_text_atomic(tmp_path / "file.txt", "x")
        with atomic_dir(tmp_path / "directory") as staged:
            (staged / "inside.txt").write_text("y")
        assert cot_main(["synthetic", "--output", str(tmp_path / "s.jsonl"), "--num-samples", "5"]) == 0
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "file.txt").stat().st_mode) == file_mode
    assert stat.S_IMODE((tmp_path / "directory").stat().st_mode) == dir_mode
    assert stat.S_IMODE((tmp_path / "s.jsonl").stat().st_mode) == file_mode


# ---------------------------------------------------------------- rows TRL drops

def test_rows_cut_off_by_max_length_are_not_counted_as_trained(tiny_model_dir, tmp_path):
    rows = []
    for i in range(8):
        question = f"What is {i} + 1?" if i < 3 else "Consider this long story. " * 40 + f"What is {i} + 1?"
        rows.append({"id": f"r{i}", "answer": str(i + 1), "messages": [
            {"role": "user", "content": question},
            {"role": "assistant", "content": f"<think>\n{i} + 1 = {i + 1}\n</think>\n\nThe answer is {i + 1}."}]})
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "model"
    result = sft.run(tiny_config(tiny_model_dir, data, out, max_length=64, max_steps=1))
    assert result["metrics"]["train_rows"] == 3
    assert result["metrics"]["dataset_rows"] == 8
    assert result["metrics"]["rows_dropped_by_max_length"] == 5
    assert artifacts.read_metadata(out)["metrics"]["train_rows"] == 3
