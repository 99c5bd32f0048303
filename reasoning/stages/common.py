"""What every training stage shares: config fields, datasets, hardware defaults, checkpoints,
SIGTERM handling, the training-log callback and writing the model artifact.

A stage reads as setup -> train -> save:

    check_inputs (no model loaded yet) -> load model/tokenizer -> TRL trainer with
    stage_callbacks() -> trainer.train(resume_from_checkpoint=...) -> save_model_artifact()

Checkpoints go to ``artifacts.checkpoint_dir(output)`` (beside the output, so the output
itself stays complete-or-absent); with ``--checkpoint-uri`` each save is pushed to object
storage and ``--resume`` pulls it back first, so a preempted pod resumes on a fresh node.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shlex
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from reasoning.config import config_to_dict, option, parse_config, refuse_uri_credentials, require, save_config
from reasoning.data.datasets import resolve_dataset
from reasoning.errors import EXIT_FAILURE, EXIT_TERMINATED, InputError, StorageError, exit_code_for
from reasoning.fast_grpo.private_api import FastPathUnavailable
from reasoning.io import artifacts, storage
from reasoning.io.fileio import TABULAR_SUFFIXES, exit_cleanly_on_sigterm, iter_records, write_text_atomic
from reasoning.paths import cache_dir
from reasoning.schema import Row, validate_row

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
ATTENTION = ("auto", "eager", "sdpa", "flash_attention_2")
SWITCH = ("auto", "on", "off")


class Preempted(RuntimeError):
    """Training stopped on SIGTERM after saving a checkpoint; rerun with --resume."""


@dataclasses.dataclass
class TrainingStageConfig:
    """Fields every training stage has (the stage configs extend this)."""

    model: str = option("builtin:smollm2-135m-instruct", "model to start from: builtin:NAME, a model directory, "
                        "an s3:// URI or a hub id")
    dataset: str = option("", "training data: a row-format file (JSONL/JSON/Parquet/CSV), an s3:// URI, or a "
                          "name resolve_dataset knows (e.g. synthetic:math?n=500&split=train)")
    output: str = option("checkpoints/model", "output model directory or s3:// URI (written complete or not at all)")
    seed: int = option(0, "random seed for data order, LoRA init and sampling")
    limit: int = option(0, "use only the first N dataset rows (0 = all)")
    learning_rate: float = option(2e-4, "peak learning rate (AdamW)")
    lr_scheduler: str = option("cosine", "learning-rate schedule (any transformers SchedulerType)")
    warmup_ratio: float = option(0.03, "fraction of steps spent warming the learning rate up")
    batch_size: int = option(8, "per-device batch size (sequences; for GRPO: completions)")
    gradient_accumulation: int = option(1, "micro-batches accumulated per optimizer step")
    use_gradient_checkpointing: str = option(
        "auto", "recompute activations in backward to save memory: auto = on with a GPU or when training on long "
        "sequences (context extension), off on a CPU otherwise; true/false from older recipes mean on/off",
        flag="--gradient-checkpointing", choices=(*SWITCH, "true", "false"))
    use_lora: bool = option(True, "train a LoRA adapter (merged into the saved model) instead of all weights")
    lora_r: int = option(64, "LoRA rank")
    lora_alpha: int = option(128, "LoRA alpha (scaling = alpha / r)")
    lora_dropout: float = option(0.05, "LoRA dropout")
    lora_target_modules: list[str] = option(help="modules LoRA adapts; 'all-linear' = every linear layer but the head",
                                            default_factory=lambda: ["all-linear"])
    keep_adapter: bool = option(False, "also keep the unmerged LoRA adapter in <output>/adapter/")
    precision: str = option("auto", "weights/compute precision: auto = bf16 on a bf16 GPU, else fp32",
                            choices=PRECISIONS)
    attn_implementation: str = option("auto", "attention kernel: auto = flash_attention_2 if installed on GPU, "
                                      "else sdpa", choices=ATTENTION)
    logging_steps: int = option(1, "log (and append to train_log.jsonl) every N optimizer steps")
    save_steps: int = option(50, "checkpoint every N optimizer steps (also on SIGTERM)")
    save_total_limit: int = option(2, "keep at most N checkpoints")
    resume: bool = option(False, "continue from the latest checkpoint in <output>.checkpoints (or --checkpoint-uri)")
    checkpoint_uri: str = option("", "s3:// prefix checkpoints are pushed to after each save and pulled from on "
                                 "--resume (empty: local only)")

    def __post_init__(self) -> None:
        self.validate_common()

    def validate_common(self) -> None:
        refuse_uri_credentials(self)
        self.use_gradient_checkpointing = switch(self.use_gradient_checkpointing, "--gradient-checkpointing")
        require(bool(str(self.model).strip()), "a model is required", "--model")
        require(bool(str(self.output).strip()), "an output path is required", "--output")
        require(self.limit >= 0, f"must be >= 0, got {self.limit}", "--limit")
        require(self.learning_rate > 0, f"must be > 0, got {self.learning_rate}", "--learning-rate")
        require(0 <= self.warmup_ratio < 1, f"must be in [0, 1), got {self.warmup_ratio}", "--warmup-ratio")
        require(self.batch_size >= 1, f"must be >= 1, got {self.batch_size}", "--batch-size")
        require(self.gradient_accumulation >= 1, f"must be >= 1, got {self.gradient_accumulation}",
                "--gradient-accumulation")
        require(self.lora_r >= 1, f"must be >= 1, got {self.lora_r}", "--lora-r")
        require(self.lora_alpha >= 1, f"must be >= 1, got {self.lora_alpha}", "--lora-alpha")
        require(0 <= self.lora_dropout < 1, f"must be in [0, 1), got {self.lora_dropout}", "--lora-dropout")
        require(bool(self.lora_target_modules), "needs at least one module name", "--lora-target-modules")
        require(self.precision in PRECISIONS, f"must be one of {', '.join(PRECISIONS)}", "--precision")
        require(self.attn_implementation in ATTENTION, f"must be one of {', '.join(ATTENTION)}",
                "--attn-implementation")
        require(self.logging_steps >= 1, f"must be >= 1, got {self.logging_steps}", "--logging-steps")
        require(self.save_steps >= 1, f"must be >= 1, got {self.save_steps}", "--save-steps")
        require(self.save_total_limit >= 1, f"must be >= 1, got {self.save_total_limit}", "--save-total-limit")
        require(not self.checkpoint_uri or storage.is_remote(self.checkpoint_uri),
                f"must be an s3:// or minio:// URI, got {self.checkpoint_uri!r}", "--checkpoint-uri")
        try:
            from transformers import SchedulerType
            SchedulerType(self.lr_scheduler)
        except ValueError:
            raise InputError(f"unknown schedule {self.lr_scheduler!r}", field="--lr-scheduler") from None


# ---------------------------------------------------------------- hardware

@dataclasses.dataclass
class Hardware:
    cuda: bool
    bf16: bool
    flash_attention: bool
    vllm: bool
    gpus: int


def detect_hardware() -> Hardware:
    import importlib.util

    import torch
    cuda = torch.cuda.is_available()
    return Hardware(cuda=cuda, bf16=cuda and torch.cuda.is_bf16_supported(),
                    flash_attention=cuda and importlib.util.find_spec("flash_attn") is not None,
                    vllm=cuda and importlib.util.find_spec("vllm") is not None,
                    gpus=torch.cuda.device_count() if cuda else 0)


def switch(value: Any, flag: str) -> str:
    """An auto|on|off setting; True/False (older recipes and pipeline parameters) mean on/off."""
    if isinstance(value, bool):
        return "on" if value else "off"
    text = {"true": "on", "false": "off"}.get(str(value).strip().lower(), str(value).strip().lower())
    require(text in SWITCH, f"must be one of {', '.join(SWITCH)} (or true/false), got {value!r}", flag)
    return text


@dataclasses.dataclass(frozen=True)
class Resolved:
    """The settings a training stage runs with: no ``auto`` left."""

    precision: str               # fp32 | bf16 | fp16
    attention: str               # eager | sdpa | flash_attention_2
    gradient_checkpointing: bool


def resolve_settings(config: TrainingStageConfig, hardware: Hardware, *, long_sequences: bool = False) -> Resolved:
    """Resolve every ``auto`` once, and write the resolved values back into ``config``, so the
    artifact's resolved_config.yaml records what ran (and rerunning it runs the same).

    Gradient checkpointing trades a second forward pass for activation memory: ``auto`` turns
    it on where memory is short (a GPU) or activations grow with length (``long_sequences``:
    context extension); on a CPU otherwise the recomputation only costs time (GRPO on
    SmolLM2-135M: backward 3.9 s -> 1.5 s without it)."""
    choice = switch(config.use_gradient_checkpointing, "--gradient-checkpointing")
    checkpointing = hardware.cuda or long_sequences if choice == "auto" else choice == "on"
    resolved = Resolved(precision=resolve_precision(config.precision, hardware),
                        attention=resolve_attention(config.attn_implementation, hardware),
                        gradient_checkpointing=checkpointing)
    config.precision = resolved.precision
    config.attn_implementation = resolved.attention
    config.use_gradient_checkpointing = "on" if checkpointing else "off"
    log.info("resolved settings: precision %s, attention %s, gradient checkpointing %s",
             resolved.precision, resolved.attention, config.use_gradient_checkpointing)
    return resolved


def resolve_precision(precision: str, hardware: Hardware) -> str:
    if precision != "auto":
        if precision in ("bf16", "fp16") and not hardware.cuda:
            raise InputError(f"{precision} needs a GPU; this machine has none (use fp32 or auto)", field="--precision")
        return precision
    # fp32 on CPU: bf16 matmuls are slow on most CPUs and fp16 is not supported for training there.
    return "bf16" if hardware.bf16 else "fp32"


def resolve_attention(choice: str, hardware: Hardware) -> str:
    if choice != "auto":
        return choice
    return "flash_attention_2" if hardware.flash_attention else "sdpa"


def precision_args(precision: str) -> dict[str, Any]:
    # TRL's configs default bf16=True, which fails on a CPU: always state both explicitly.
    return {"bf16": precision == "bf16", "fp16": precision == "fp16"}


def torch_dtype(precision: str):
    import torch
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


# ---------------------------------------------------------------- inputs

def check_model(reference: str) -> None:
    from reasoning.modeling.models import check_model_reference
    try:
        check_model_reference(reference)
    except InputError as exc:
        raise InputError(str(exc), field="--model") from None


def check_outputs(config: TrainingStageConfig) -> None:
    """The output and checkpoint destinations accept writes (object store reachable, bucket
    there, credentials good) before any model is loaded or any step trained."""
    storage.check_writable(config.output)
    if checkpoint_uri_for(config):
        storage.check_writable(checkpoint_uri_for(config))


def local_model_config(reference: str) -> dict[str, Any] | None:
    """config.json of a model that is already on this machine (None when it is not: remote, hub, unconverted)."""
    text = str(reference)
    if text.startswith("builtin:"):
        path = cache_dir() / "models" / text.split(":", 1)[1] / "config.json"
    else:
        path = Path(text).expanduser() / "config.json"
    return json.loads(path.read_text()) if path.is_file() else None


def load_stage_rows(spec: str, *, limit: int = 0, flag: str = "--dataset",
                    check: Callable[[Row, str | None, int | None], None] | None = None,
                    require_completion: bool = False) -> tuple[list[Row], dict[str, Any]]:
    """Read and validate every row of ``spec`` before any model is loaded.

    ``spec`` is a file or URI in the row format, or anything ``reasoning.data.datasets.
    resolve_dataset`` accepts (synthetic:..., gsm8k, ...). ``check(row, file, line)`` adds the
    stage's own requirements. Returns the rows and the lineage (source, sha256, rows).
    """
    spec = str(spec).strip()
    if not spec:
        raise InputError("a dataset is required", field=flag)
    lineage: dict[str, Any] = {"dataset": spec}
    local = None
    if storage.is_remote(spec) or Path(spec).expanduser().exists():
        local = storage.fetch(spec)
        if local.is_dir():
            raise InputError("is a directory, expected a data file (JSONL, JSON, Parquet or CSV)", file=spec,
                             field=flag)
    if local is not None and local.is_file():
        rows = []
        for line, record in iter_records(local):
            row = validate_row(record, file=spec, line=line, require_completion=require_completion)
            if check is not None:
                check(row, spec, line)
            rows.append(row)
            if limit and len(rows) >= limit:
                break
        lineage["dataset_sha256"] = artifacts.file_sha256(local)
    else:
        rows = _resolve_named_dataset(spec, limit, flag)
        for index, row in enumerate(rows, start=1):
            validate_row(row.to_dict(), file=spec, line=index, require_completion=require_completion)
            if check is not None:
                check(row, spec, index)
        digest = hashlib.sha256("".join(json.dumps(r.to_dict(), sort_keys=True) + "\n" for r in rows).encode())
        lineage["dataset_sha256"] = digest.hexdigest()
    if not rows:
        raise InputError("the dataset has no rows", file=spec, field=flag)
    lineage["dataset_rows"] = len(rows)
    return rows, lineage


def _resolve_named_dataset(spec: str, limit: int, flag: str) -> list[Row]:
    if spec.lower().endswith((*TABULAR_SUFFIXES, ".jsonl.gz")):
        raise InputError("dataset file does not exist", file=spec, field=flag)
    return list(resolve_dataset(spec, limit=limit or None))  # its InputError names the spec


def training_length(steps: int, rows: int, batch: int, accumulation: int, epochs: float = 1.0) -> int:
    """Optimizer steps of a run (as the Trainer computes them), for logging and checks."""
    if steps > 0:
        return steps
    per_epoch = max(1, -(-rows // batch) // accumulation)
    return max(1, int(per_epoch * epochs + 0.999999))


# ---------------------------------------------------------------- model pieces

def load_tokenizer_for_training(model_dir: str):
    from transformers import AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_causal_lm(model_dir: str, precision: str, attention: str, config=None):
    from transformers import AutoModelForCausalLM
    kwargs: dict[str, Any] = {"dtype": torch_dtype(precision), "attn_implementation": attention}
    if config is not None:
        kwargs["config"] = config
    return AutoModelForCausalLM.from_pretrained(model_dir, **kwargs)


def lora_config(config: TrainingStageConfig):
    if not config.use_lora:
        return None
    from peft import LoraConfig
    targets: Any = list(config.lora_target_modules)
    if targets == ["all-linear"]:
        targets = "all-linear"  # PEFT's shorthand: every nn.Linear except the output head
    return LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=targets, task_type="CAUSAL_LM")


def common_trainer_args(config: TrainingStageConfig, precision: str, checkpoints: Path) -> dict[str, Any]:
    """TrainingArguments shared by every stage (the TRL config classes accept them all)."""
    return {
        "output_dir": str(checkpoints), "seed": config.seed, "data_seed": config.seed,
        "learning_rate": config.learning_rate, "lr_scheduler_type": config.lr_scheduler,
        "warmup_steps": config.warmup_ratio,  # transformers 5: a float < 1 is a ratio of the run
        "per_device_train_batch_size": config.batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation,
        # TRL picks the reentrant/non-reentrant variant that suits PEFT, so no kwargs here.
        "gradient_checkpointing": _resolved_switch(config.use_gradient_checkpointing, "--gradient-checkpointing"),
        "logging_steps": config.logging_steps, "logging_first_step": True,
        "save_strategy": "steps", "save_steps": config.save_steps, "save_total_limit": config.save_total_limit,
        "report_to": "none", "disable_tqdm": True, "dataloader_num_workers": 0,
        "dataloader_pin_memory": precision != "fp32",
        **precision_args(precision),
    }


def _resolved_switch(value: str, flag: str) -> bool:
    if value not in ("on", "off"):
        raise ValueError(f"{flag} is {value!r}: call resolve_settings() before building the trainer config")
    return value == "on"


# ---------------------------------------------------------------- checkpoints and preemption

def local_checkpoint_dir(output: str) -> Path:
    """``<output>.checkpoints`` for a local output; a cache folder keyed by the URI otherwise."""
    if storage.is_remote(output):
        key = hashlib.sha256(output.encode()).hexdigest()[:16]
        return cache_dir() / "checkpoints" / key
    return artifacts.checkpoint_dir(Path(output).expanduser())


def checkpoint_uri_for(config: TrainingStageConfig) -> str:
    # A remote output gets remote checkpoints by default: the pod's disk does not survive preemption.
    if config.checkpoint_uri:
        return config.checkpoint_uri
    return config.output.rstrip("/") + ".checkpoints" if storage.is_remote(config.output) else ""


# Written into checkpoint-N by the callback below once the Trainer has finished saving it.
# The Trainer writes checkpoint-N in place, file by file: a pod killed (SIGKILL after the
# grace period) while it saves leaves a directory that looks like the newest checkpoint and
# cannot be loaded, and transformers' get_last_checkpoint would pick it every time.
CHECKPOINT_COMPLETE = ".reasoning-checkpoint-complete"


def _checkpoint_step(path: Path) -> int | None:
    prefix, _, step = path.name.partition("-")
    return int(step) if prefix == "checkpoint" and step.isdigit() and path.is_dir() else None


def _saved_completely(path: Path, legacy: bool) -> bool:
    if (path / CHECKPOINT_COMPLETE).is_file():
        return True
    if not legacy:
        return False
    # Saved before the marker existed: the Trainer writes trainer_state.json after the weights,
    # optimizer and RNG state, so a readable one means the save finished.
    try:
        json.loads((path / "trainer_state.json").read_text())
    except (OSError, ValueError):
        return False
    return True


def last_complete_checkpoint(local: Path) -> str | None:
    """The newest checkpoint-N in ``local`` that was saved completely.

    Incomplete checkpoints newer than it (a save the run was killed in) are deleted: they would
    count against --save-total-limit and be picked by every later resume. Older ones are left.
    A folder in which no checkpoint carries the marker was written before it existed: there a
    readable trainer_state.json counts as complete, so upgrading never discards checkpoints."""
    found = sorted((step, path) for path in local.iterdir() if (step := _checkpoint_step(path)) is not None)
    legacy = not any((path / CHECKPOINT_COMPLETE).is_file() for _step, path in found)
    for _step, path in reversed(found):
        if _saved_completely(path, legacy):
            return str(path)
        log.warning("--resume: %s was not saved completely (the run was killed while saving it); removing it",
                    path)
        import shutil
        shutil.rmtree(path, ignore_errors=True)
    return None


def prepare_checkpoints(config: TrainingStageConfig) -> tuple[Path, str | None]:
    """The local checkpoint folder and the checkpoint to resume from (None = start fresh)."""
    local = local_checkpoint_dir(config.output)
    uri = checkpoint_uri_for(config)
    if not config.resume:
        if local.exists():
            import shutil
            log.info("starting fresh: removing old checkpoints in %s (use --resume to continue them)", local)
            shutil.rmtree(local)
        local.mkdir(parents=True, exist_ok=True)
        return local, None
    local.mkdir(parents=True, exist_ok=True)
    if uri:
        restored = storage.restore_dir_from(uri, local)
        log.info("restored checkpoints from %s: %s", uri, restored)
    last = last_complete_checkpoint(local)
    if last is None:
        log.warning("--resume: no checkpoint in %s; starting from step 0", local)
    else:
        log.info("resuming from %s", last)
    return local, last


def stage_callbacks(live_log: Path, checkpoints: Path, checkpoint_uri: str, stop_flag: dict) -> list:
    from transformers import TrainerCallback

    class TrainLogCallback(TrainerCallback):
        """Appends each log record to a live JSONL beside the checkpoints (tail it in a pod).

        The final train_log.jsonl comes from ``state.log_history``, which is what on_log
        sees and which the checkpoint carries, so a resumed run's log is complete."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or not logs:
                return
            record = {"step": state.global_step, "epoch": state.epoch, "time": round(time.time(), 3), **logs}
            with open(live_log, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record, default=float) + "\n")

    class PreemptionCallback(TrainerCallback):
        """On SIGTERM: finish the current step, save a checkpoint, stop."""

        def on_step_end(self, args, state, control, **kwargs):
            if stop_flag.get("signal"):
                control.should_save = True
                control.should_training_stop = True
            return control

    class CheckpointCompleteCallback(TrainerCallback):
        """Marks checkpoint-N complete; on_save runs after the Trainer wrote every file of it."""

        def on_save(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                saved = Path(args.output_dir) / f"checkpoint-{state.global_step}"
                if saved.is_dir():
                    write_text_atomic(saved / CHECKPOINT_COMPLETE, json.dumps({"step": state.global_step}) + "\n")

    class CheckpointSyncCallback(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                storage.sync_dir_to(checkpoints, checkpoint_uri)

    # The marker before the sync, so the object-store copy carries it too.
    callbacks = [TrainLogCallback(), PreemptionCallback(), CheckpointCompleteCallback()]
    if checkpoint_uri:
        callbacks.append(CheckpointSyncCallback())
    return callbacks


class sigterm_guard:
    """Turn SIGTERM into a flag the PreemptionCallback acts on (restores the old handler)."""

    def __init__(self) -> None:
        self.flag: dict[str, Any] = {}
        self._previous: Any = None

    def __enter__(self) -> dict:
        def handler(signum, frame):
            log.warning("SIGTERM received: saving a checkpoint at the end of this step, then exiting")
            self.flag["signal"] = signum
        self._previous = signal.signal(signal.SIGTERM, handler)
        return self.flag

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGTERM, self._previous)


def train_with_preemption(trainer, resume_from: str | None, stop_flag: dict) -> None:
    trainer.train(resume_from_checkpoint=resume_from)
    if stop_flag.get("signal") and trainer.state.global_step < trainer.state.max_steps:
        raise Preempted(f"stopped by SIGTERM at step {trainer.state.global_step}/{trainer.state.max_steps}; "
                        f"checkpoint saved in {trainer.args.output_dir}; rerun with --resume")


# ---------------------------------------------------------------- the artifact

def summarize_log(history: list[dict]) -> dict[str, float]:
    """Metrics for the model card: last training loss, mean reward, steps, runtime."""
    metrics: dict[str, float] = {}
    losses = [r["loss"] for r in history if "loss" in r]
    if losses:
        metrics["first_loss"], metrics["final_loss"] = float(losses[0]), float(losses[-1])
    rewards = [r["reward"] for r in history if "reward" in r]
    if rewards:
        metrics["mean_reward"] = float(sum(rewards) / len(rewards))
        metrics["final_reward"] = float(rewards[-1])
    for record in history:
        if "train_runtime" in record:
            metrics["train_runtime_s"] = float(record["train_runtime"])
    steps = [r.get("step", 0) for r in history]
    if steps:
        metrics["global_step"] = int(max(steps))
    return metrics


def rerun_command(stage: str, output: str) -> str:
    """The command that reruns this stage from the saved config (whoever called run(): CLI, KFP, launcher)."""
    return f"python -m reasoning.stages.{stage} --config {shlex.quote(str(output).rstrip('/') + '/' + artifacts.CONFIG_FILE)}"


def save_model_artifact(model, tokenizer, *, config: Any, stage: str, history: list[dict],
                        lineage: dict[str, Any], extra_metrics: dict[str, Any] | None = None,
                        extra_files: dict[str, str] | None = None) -> dict[str, Any]:
    """Write the standalone model directory (LoRA merged; adapter kept on request) atomically.

    ``extra_files`` (relative path -> text, e.g. a report) are written inside it, before the
    checksum is taken."""
    metrics = {**summarize_log(history), **(extra_metrics or {})}
    with storage.local_output(config.output, is_dir=True) as tmp:
        tmp = Path(tmp)
        if hasattr(model, "merge_and_unload"):  # a PEFT model
            if getattr(config, "keep_adapter", False):
                model.save_pretrained(tmp / artifacts.ADAPTER_DIR)
            model = model.merge_and_unload()
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        save_config(config, tmp / artifacts.CONFIG_FILE, command=rerun_command(stage, config.output))
        records = [{k: v for k, v in r.items()} for r in history]
        artifacts.write_train_log(tmp, records)
        for name, text in (extra_files or {}).items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_text(text, encoding="utf-8")  # tmp is published whole or not at all
        metadata = artifacts.finish_model_artifact(
            tmp, stage=stage, base_model=str(config.model), config=config_to_dict(config), metrics=metrics,
            parameters=artifacts.count_parameters(model), lineage=lineage)
    return {"output": str(config.output), "metrics": metrics, "metadata": metadata}


def finish_checkpoints(local: Path) -> None:
    """After a successful run the checkpoints are no longer needed locally."""
    import shutil
    shutil.rmtree(local, ignore_errors=True)


# ---------------------------------------------------------------- entry point

def result_summary(result: dict) -> dict:
    """What a training or evaluation stage prints on stdout: where the output went and its metrics."""
    return {"output": result["output"], "metrics": result["metrics"]}


def stage_main(config_cls: type, run: Callable[[Any], dict], argv: Sequence[str] | None, prog: str,
               description: str | None, *, prepare_argv: Callable[[list[str]], list[str]] | None = None,
               summary: Callable[[dict], Any] = result_summary) -> int:
    """The ``main`` of every stage (cot, sft, context, grpo, eval): set up logging, parse the flags
    (and ``--config`` recipe) into ``config_cls``, ``run`` it, print ``summary(result)`` as JSON.

    ``prepare_argv`` rewrites the arguments first (eval merges repeated ``--model`` flags). Exit
    codes are the table in ``reasoning.errors``: bad input -> 2, an object-store failure -> 4,
    a library without the fast GRPO path's private symbols -> 1, SIGTERM -> 143."""
    logging.basicConfig(level=os.environ.get("REASONING_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    argv = list(sys.argv[1:] if argv is None else argv)
    if prepare_argv is not None:
        argv = prepare_argv(argv)
    try:
        config = parse_config(config_cls, argv, prog=prog, description=description)
    except SystemExit as exc:  # argparse already printed "error: ..." (or the help)
        return int(exc.code or 0)
    try:
        with exit_cleanly_on_sigterm():  # outside training (loading, saving); sigterm_guard covers training
            result = run(config)
    except (InputError, StorageError) as exc:  # bad input (2), or the store failed and a retry may pass (4)
        print(f"error: {exc}", file=sys.stderr)
        return exit_code_for(exc)
    except FastPathUnavailable as exc:  # an upgrade removed a private symbol: the message says what and the fix
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except SystemExit as exc:
        if exc.code == EXIT_TERMINATED:
            print("terminated by SIGTERM outside training; no partial output was left", file=sys.stderr)
        return int(exc.code or 0)
    except Preempted as exc:
        print(f"preempted: {exc}", file=sys.stderr)
        return EXIT_TERMINATED
    print(json.dumps(summary(result), indent=2, default=str))
    return 0
