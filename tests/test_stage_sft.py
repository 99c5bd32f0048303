"""SFT stage on the tiny random model: loss goes down, weights change, artifacts complete,
bad input refused before loading, and SIGTERM -> checkpoint -> --resume ends where an
uninterrupted run ends."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reasoning.config import load_recipe
from reasoning.errors import InputError
from reasoning.io import artifacts
from reasoning.stages import sft
from reasoning.stages.sft import SFTStageConfig

ROOT = Path(__file__).resolve().parents[1]


def write_cot_rows(path: Path, n: int = 16) -> Path:
    rows = []
    for i in range(n):
        a, b = i + 3, 2 * i + 1
        rows.append({"id": f"r{i}", "answer": str(a + b), "messages": [
            {"role": "user", "content": f"What is {a} + {b}?"},
            {"role": "assistant", "content": f"<think>\n{a} + {b} = {a + b}\n</think>\n\nThe answer is {a + b}."}]})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def tiny_config(model: Path, dataset: Path, output: Path, **overrides) -> SFTStageConfig:
    values = dict(model=str(model), dataset=str(dataset), output=str(output), batch_size=4, max_length=64,
                  lora_r=8, lora_alpha=16, learning_rate=2e-2, warmup_ratio=0.0, lr_scheduler="constant",
                  use_gradient_checkpointing=False, save_steps=1000)
    values.update(overrides)
    return SFTStageConfig(**values)


def weights(directory: Path) -> dict:
    from safetensors.torch import load_file
    return load_file(str(directory / "model.safetensors"))


def test_sft_records_put_the_assistant_turn_in_the_completion():
    from reasoning.schema import validate_row
    row = validate_row({"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"},
                                     {"role": "assistant", "content": "a"}]})
    (record,) = sft.sft_records([row])
    assert [m["role"] for m in record["prompt"]] == ["system", "user"]
    assert record["completion"] == [{"role": "assistant", "content": "a"}]


def test_lora_sft_lowers_the_loss_and_writes_a_complete_artifact(tiny_model_dir, tmp_path):
    data = write_cot_rows(tmp_path / "cot.jsonl")
    out = tmp_path / "sft"
    # Every "auto" resolved on this CPU: the saved config says what ran, not what was asked.
    result = sft.run(tiny_config(tiny_model_dir, data, out, max_steps=12, keep_adapter=True,
                                 use_gradient_checkpointing="auto", precision="auto", attn_implementation="auto"))
    log = artifacts.read_train_log(out)
    losses = [r["loss"] for r in log if "loss" in r]
    assert len(losses) == 12
    assert sum(losses[-3:]) / 3 < losses[0] - 0.05, losses
    # LoRA B matrices start at zero: trained ones are not, and the merge changed the base weights.
    from safetensors.torch import load_file
    adapter = load_file(str(out / artifacts.ADAPTER_DIR / "adapter_model.safetensors"))
    lora_b = [t for k, t in adapter.items() if "lora_B" in k]
    assert lora_b and any(t.abs().sum() > 0 for t in lora_b)
    before, after = weights(tiny_model_dir), weights(out)
    name = next(k for k in before if "q_proj.weight" in k)
    assert not (before[name] == after[name]).all()
    assert not any("lora" in k for k in after)  # merged: a standalone model
    # The artifact: metadata with lineage, the resolved config as a rerunnable recipe, the card.
    meta = artifacts.read_metadata(out)
    assert meta["stage"] == "sft" and meta["lineage"]["dataset_sha256"] == artifacts.file_sha256(data)
    assert meta["metrics"]["final_loss"] == pytest.approx(losses[-1]) == result["metrics"]["final_loss"]
    recorded = load_recipe(out / artifacts.CONFIG_FILE, SFTStageConfig)
    assert recorded["lora_r"] == 8
    assert (recorded["use_gradient_checkpointing"], recorded["precision"], recorded["attn_implementation"]) == (
        "off", "fp32", "sdpa")
    assert meta["config"]["use_gradient_checkpointing"] == "off" and meta["lineage"]["precision"] == "fp32"
    assert (out / artifacts.MODEL_CARD_FILE).exists()
    assert not artifacts.checkpoint_dir(out).exists()
    from transformers import AutoModelForCausalLM
    AutoModelForCausalLM.from_pretrained(out)


def test_full_fine_tuning_through_main(tiny_model_dir, tmp_path):
    data = write_cot_rows(tmp_path / "cot.jsonl", n=8)
    out = tmp_path / "full"
    code = sft.main(["--model", str(tiny_model_dir), "--dataset", str(data), "--output", str(out),
                     "--no-lora", "--max-steps", "3", "--batch-size", "4", "--max-length", "64",
                     "--learning-rate", "1e-3", "--gradient-checkpointing", "off"])
    assert code == 0
    before, after = weights(tiny_model_dir), weights(out)
    changed = [k for k in before if not (before[k] == after[k]).all()]
    assert any("mlp" in k for k in changed) and any("embed" in k for k in changed)
    assert not (out / artifacts.ADAPTER_DIR).exists()
    assert artifacts.read_metadata(out)["config"]["use_lora"] is False


@pytest.mark.parametrize("argv, message", [
    (["--lora-r", "0"], "--lora-r"),
    (["--batch-size", "0"], "--batch-size"),
    (["--model", "/nonexistent/model"], "model path does not exist"),
    (["--dataset", "/nonexistent/data.jsonl"], "does not exist"),
    (["--extend-context", "--scaling-type", "cubic"], "unknown scaling type"),
    (["--extend-context", "--target-context", "1024"], "must be above"),
])
def test_bad_input_is_refused_with_the_flag_named(tiny_model_dir, tmp_path, capsys, argv, message):
    data = write_cot_rows(tmp_path / "cot.jsonl", n=2)
    base = ["--model", str(tiny_model_dir), "--dataset", str(data), "--output", str(tmp_path / "o")]
    assert sft.main(base + argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_rows_without_an_assistant_turn_are_refused_naming_file_and_line(tiny_model_dir, tmp_path):
    data = write_cot_rows(tmp_path / "cot.jsonl", n=3)
    lines = data.read_text().splitlines()
    lines[1] = json.dumps({"messages": [{"role": "user", "content": "no answer here"}]})
    data.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as error:
        sft.check_inputs(tiny_config(tiny_model_dir, data, tmp_path / "o"))
    assert error.value.line == 2 and error.value.field == "messages" and str(data) in str(error.value)


def test_extend_context_trains_a_scaled_model(tiny_model_dir, tmp_path):
    data = write_cot_rows(tmp_path / "cot.jsonl", n=4)
    out = tmp_path / "long"
    sft.run(tiny_config(tiny_model_dir, data, out, max_steps=1, extend_context=True, target_context=8192,
                        scaling_type="linear"))
    from transformers import AutoConfig
    config = AutoConfig.from_pretrained(out)
    assert config.max_position_embeddings == 8192
    assert config.rope_parameters["rope_type"] == "linear" and config.rope_parameters["factor"] == 4.0


def test_sigterm_in_process_checkpoints_and_resume_completes_the_run(tiny_model_dir, tmp_path):
    """A real SIGTERM to this process (sent once the first checkpoint exists) stops training with
    a checkpoint; --resume then ends at the step the uninterrupted run ends at (16)."""
    import threading

    from reasoning.stages.common import Preempted
    data = write_cot_rows(tmp_path / "cot.jsonl", n=8)
    out = tmp_path / "interrupted"
    checkpoints = artifacts.checkpoint_dir(out)
    config = tiny_config(tiny_model_dir, data, out, batch_size=2, epochs=4.0, save_steps=2)
    finished = threading.Event()

    def preempt_after_first_checkpoint():
        while not finished.is_set():
            if list(checkpoints.glob("checkpoint-*")):
                os.kill(os.getpid(), signal.SIGTERM)
                return
            time.sleep(0.05)

    # Should the signal land after training, it must not kill pytest: ignore it around the test.
    previous = signal.signal(signal.SIGTERM, lambda *args: None)
    try:
        watcher = threading.Thread(target=preempt_after_first_checkpoint, daemon=True)
        watcher.start()
        with pytest.raises(Preempted):
            sft.run(config)
        finished.set()
        watcher.join()
        assert not out.exists()
        saved = sorted(int(p.name.split("-")[1]) for p in checkpoints.glob("checkpoint-*"))
        assert saved and saved[-1] < 16
        result = sft.run(tiny_config(tiny_model_dir, data, out, batch_size=2, epochs=4.0, save_steps=2,
                                     resume=True))
    finally:
        finished.set()
        signal.signal(signal.SIGTERM, previous)
    assert result["metrics"]["global_step"] == 16
    assert [r["step"] for r in artifacts.read_train_log(out) if "loss" in r] == list(range(1, 17))


def test_sigterm_saves_a_checkpoint_and_resume_ends_at_the_uninterrupted_step(tiny_model_dir, tmp_path):
    """The same through the command line, as a preempted pod sees it: exit code 143, then --resume."""
    data = write_cot_rows(tmp_path / "cot.jsonl", n=8)
    # 8 rows / batch 2 x 4 epochs = 16 optimizer steps, derived by the Trainer (no --max-steps).
    flags = ["--model", str(tiny_model_dir), "--dataset", str(data), "--batch-size", "2", "--epochs", "4",
             "--max-length", "64", "--lora-r", "8", "--save-steps", "2", "--gradient-checkpointing", "off"]
    reference = sft.run(tiny_config(tiny_model_dir, data, tmp_path / "reference", batch_size=2, epochs=4.0))
    assert reference["metrics"]["global_step"] == 16

    out = tmp_path / "interrupted"
    checkpoints = artifacts.checkpoint_dir(out)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "reasoning.stages.sft", *flags, "--output", str(out)]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:
        if list(checkpoints.glob("checkpoint-*")):
            break
        time.sleep(0.1)
    assert process.poll() is None, "the run ended before its first checkpoint: " + process.stdout.read().decode()
    process.send_signal(signal.SIGTERM)
    output = process.communicate(timeout=240)[0].decode()
    assert process.returncode == 143, output
    assert "preempted" in output
    assert not out.exists()  # complete or absent
    saved = sorted(int(p.name.split("-")[1]) for p in checkpoints.glob("checkpoint-*"))
    assert saved and saved[-1] < 16

    resumed = subprocess.run([*command, "--resume"], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    log = artifacts.read_train_log(out)
    steps = [r["step"] for r in log if "loss" in r]
    assert steps == list(range(1, 17))  # nothing lost or repeated across the interruption
    assert artifacts.read_metadata(out)["metrics"]["global_step"] == reference["metrics"]["global_step"]
