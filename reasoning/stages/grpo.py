"""Stage 4: reinforcement learning with GRPO (TRL GRPOTrainer) on problems with checkable answers.

    python -m reasoning.stages.grpo --model checkpoints/reasoning_sft \\
        --dataset data/math_problems.jsonl --output checkpoints/reasoning_grpo --iterations 1000 --group-size 4
    python -m reasoning.stages.grpo --config recipes/grpo_default_cpu.yaml     # the CPU recipe
    reasoning grpo ...                                                         # same flags

Multi-GPU (DeepSpeed ZeRO-2 or ZeRO-3; vLLM generates in colocate mode when installed):

    accelerate launch --config_file configs/accelerate/deepspeed_zero3.yaml \\
        -m reasoning.stages.grpo --config recipes/grpo_7b_gpu.yaml

For each prompt (the row's messages up to the last user turn) the policy samples
``--group-size`` completions; each is scored by the reward components of
``reasoning.rewards`` (correctness, format, consistency, length, process), weighted by
``--correctness-weight`` ... ``--process-weight``; advantages are rewards relative to the
group. ``--iterations`` is the number of optimizer steps; ``--batch-size`` counts
completions per device and step, so it must be a multiple of ``--group-size``.
Dynamic sampling (DAPO, on by default, ``--no-dynamic-sampling`` turns it off) replaces groups
whose completions all got the same reward by fresh prompts, for at most
``--dynamic-sampling-max-rounds`` extra sampling rounds a step (reasoning/modeling/dynamic_sampling.py).
``--trainer fast`` (default) trains with reasoning/fast_grpo's FastGRPOTrainer, same algorithm and
samples, faster; ``--trainer trl`` with TRL's own GRPOTrainer, for when a TRL upgrade breaks the fast
path (it refuses to start, naming the private symbol it lost). ``--profile`` logs seconds per phase.
train_log.jsonl carries, per step: reward, reward_std, frac_reward_zero_std, rewards/<component>/mean, kl,
completions/mean_length, completions/clipped_ratio, clip_ratio/*, loss, learning_rate,
dynamic_sampling/{groups_dropped,prompts_sampled,frac_groups_dropped,rounds,flat_groups_kept}, and
with --profile profile/{generation,rewards,scoring_forward,loss_forward,backward,optimizer,iteration}_s.
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reasoning.config import option, require
from reasoning.errors import InputError
from reasoning.rewards.config import weight_option
from reasoning.schema import ReasoningType, Row
from reasoning.stages import common

log = logging.getLogger(__name__)

LOSS_TYPES = ("grpo", "dr_grpo", "dapo", "bnpo", "cispo")
VLLM_MODES = ("auto", "off", "colocate", "server")
TRAINERS = ("fast", "trl")


@dataclasses.dataclass
class GRPOStageConfig(common.TrainingStageConfig):
    output: str = option("checkpoints/reasoning_grpo", "output model directory or s3:// URI")
    learning_rate: float = option(1e-5, "peak learning rate (AdamW); RL wants it small")
    lora_r: int = option(16, "LoRA rank")
    lora_alpha: int = option(32, "LoRA alpha (scaling = alpha / r)")
    iterations: int = option(1000, "optimizer steps (each: generate, score, update)")
    group_size: int = option(4, "completions sampled per prompt (GRPO's group; TRL num_generations)")
    batch_size: int = option(8, "completions per device and step; a multiple of --group-size")
    max_completion_length: int = option(256, "new tokens per completion (longer ones are cut and count as clipped)")
    min_completion_length: int = option(0, "sample at least N tokens per completion (EOS suppressed until then; "
                                        "benchmarks use it to give every run the same work)")
    temperature: float = option(1.0, "sampling temperature for the group's completions")
    top_p: float = option(1.0, "nucleus sampling threshold")
    beta: float = option(0.04, "KL penalty against the starting model (DeepSeekMath GRPO used 0.04, "
                         "R1 0.001; 0 skips the reference model)")
    epsilon: float = option(0.2, "PPO clipping range of the importance ratio")
    loss_type: str = option("dapo", "GRPO loss normalisation: " + ", ".join(LOSS_TYPES), choices=LOSS_TYPES)
    scale_rewards: str = option("group", "advantage scaling: group (std per group), batch or none",
                                choices=("group", "batch", "none"))
    # the weights' defaults and help are RewardConfig's (one home: reasoning/rewards/config.py)
    correctness_weight: float = weight_option("correctness_weight")
    format_weight: float = weight_option("format_weight")
    consistency_weight: float = weight_option("consistency_weight")
    length_weight: float = weight_option("length_weight")
    process_weight: float = weight_option("process_weight")
    vllm: str = option("auto", "generation engine: auto = vLLM colocated when installed on a GPU, else "
                       "transformers; off; colocate; server", choices=VLLM_MODES)
    vllm_gpu_memory_utilization: float = option(0.3, "GPU memory share vLLM may take in colocate mode")
    use_log_completions: bool = option(False, "print sample completions at each logging step")
    dynamic_sampling: bool = option(True, "DAPO dynamic sampling: drop groups whose completions all got the same "
                                    "reward (no gradient) and refill the step with fresh prompts "
                                    "(reasoning/modeling/dynamic_sampling.py); --no-dynamic-sampling is plain TRL")
    dynamic_sampling_max_rounds: int = option(3, "extra sampling rounds per step at most, when refilling dropped "
                                              "groups; after that the step keeps some flat groups")
    trainer: str = option("fast", "fast = reasoning/fast_grpo's FastGRPOTrainer (same algorithm, faster; relies on "
                          "private TRL/torch symbols, checked at start); trl = TRL's own GRPOTrainer, unpatched",
                          choices=TRAINERS)
    profile: bool = option(False, "log seconds per phase of each step (profile/*_s in train_log.jsonl); wraps "
                           "trainer methods, so off unless asked")

    def __post_init__(self) -> None:
        self.validate_common()
        require(self.iterations >= 1, f"must be >= 1, got {self.iterations}", "--iterations")
        require(self.group_size >= 2, f"GRPO compares completions within a group: needs >= 2, got {self.group_size}",
                "--group-size")
        require(self.batch_size % self.group_size == 0,
                f"--batch-size {self.batch_size} must be a multiple of --group-size {self.group_size} "
                "(every prompt's group must fit in one batch)", "--batch-size")
        require(self.max_completion_length >= 1, f"must be >= 1, got {self.max_completion_length}",
                "--max-completion-length")
        require(0 <= self.min_completion_length <= self.max_completion_length,
                f"must be in [0, --max-completion-length], got {self.min_completion_length}", "--min-completion-length")
        require(self.temperature > 0, f"must be > 0, got {self.temperature}", "--temperature")
        require(0 < self.top_p <= 1, f"must be in (0, 1], got {self.top_p}", "--top-p")
        require(self.beta >= 0, f"must be >= 0, got {self.beta}", "--beta")
        require(self.dynamic_sampling_max_rounds >= 0, f"must be >= 0, got {self.dynamic_sampling_max_rounds}",
                "--dynamic-sampling-max-rounds")
        require(self.epsilon > 0, f"must be > 0, got {self.epsilon}", "--epsilon")
        require(self.loss_type in LOSS_TYPES, f"must be one of {', '.join(LOSS_TYPES)}", "--loss-type")
        require(self.vllm in VLLM_MODES, f"must be one of {', '.join(VLLM_MODES)}", "--vllm")
        require(self.trainer in TRAINERS, f"must be one of {', '.join(TRAINERS)}", "--trainer")
        weights = self.reward_weights()
        for name, weight in weights.items():
            require(weight >= 0, f"must be >= 0, got {weight}", "--" + name.replace("_", "-"))
        require(sum(weights.values()) > 0, "at least one reward weight must be positive", "--correctness-weight")

    def reward_weights(self) -> dict[str, float]:
        return {name: float(getattr(self, name)) for name in
                ("correctness_weight", "format_weight", "consistency_weight", "length_weight", "process_weight")}

    def to_trl_config(self, precision: str, checkpoints: Path, hardware: common.Hardware,
                      reward_weights: list[float]):
        """Build TRL's GRPOConfig from this config.

        Why not subclass GRPOConfig: it inherits hundreds of TrainingArguments fields, every one
        of which would become a CLI flag and recipe key; this stage exposes the few that matter
        and sets the rest here, where the choice is visible."""
        from trl import GRPOConfig
        vllm_mode = self.vllm
        if vllm_mode == "auto":
            vllm_mode = "colocate" if hardware.vllm else "off"
        if vllm_mode != "off" and not hardware.vllm:
            raise InputError("vLLM needs a GPU and the vllm package (pip install 'reasoning[gpu]')", field="--vllm")
        vllm_args: dict[str, Any] = {"use_vllm": vllm_mode != "off"}
        if vllm_mode != "off":
            vllm_args.update(vllm_mode=vllm_mode, vllm_gpu_memory_utilization=self.vllm_gpu_memory_utilization)
        return GRPOConfig(**common.common_trainer_args(self, precision, checkpoints),
                          max_steps=self.iterations, num_generations=self.group_size,
                          max_completion_length=self.max_completion_length, temperature=self.temperature,
                          top_p=self.top_p, beta=self.beta, epsilon=self.epsilon, loss_type=self.loss_type,
                          scale_rewards=self.scale_rewards, reward_weights=reward_weights,
                          log_completions=self.use_log_completions, **vllm_args,
                          **({"generation_kwargs": {"min_new_tokens": self.min_completion_length}}
                             if self.min_completion_length else {}))


def check_row(row: Row, file: str | None, line: int | None) -> None:
    """GRPO scores completions against a reference: an answer, or tests for code rows."""
    if row.reasoning_type == ReasoningType.CODE.value:
        if not (row.tests or row.answer):
            raise InputError("code rows need 'tests' (and 'entry_point') for the correctness reward",
                             file=file, line=line, field="tests")
        return
    if row.answer is None or not str(row.answer).strip():
        raise InputError("GRPO needs the reference answer the correctness reward checks", file=file, line=line,
                         field="answer")


def grpo_records(rows: list[Row]) -> list[dict[str, Any]]:
    """Row -> the columns GRPOTrainer and the reward functions read."""
    return [{"prompt": row.prompt_messages, "answer": row.answer or "", "reasoning_type": row.reasoning_type,
             "tests": row.tests or "", "entry_point": row.entry_point or ""} for row in rows]


def reward_functions(config: GRPOStageConfig):
    from reasoning.rewards import RewardConfig, trl_reward_functions
    return trl_reward_functions(RewardConfig(**config.reward_weights()))


def check_inputs(config: GRPOStageConfig):
    common.check_model(config.model)
    rows, lineage = common.load_stage_rows(config.dataset, limit=config.limit, check=check_row)
    if any(row.reasoning_type == ReasoningType.CODE.value and row.tests for row in rows):
        from reasoning.scoring import sandbox
        if not sandbox.namespace_prefix() and not sandbox.unisolated_allowed():
            # Every code completion would score 0 (the sandbox refuses to run it): say so now.
            raise InputError(f"code rows need the code sandbox, and its isolation is {sandbox.isolation()}",
                             file=config.dataset, field="--dataset")
        lineage["code_sandbox"] = sandbox.isolation()
    common.check_outputs(config)
    return rows, lineage


def run(config: GRPOStageConfig) -> dict[str, Any]:
    from datasets import Dataset
    from transformers import set_seed

    from reasoning.modeling import cpu_training, dynamic_sampling
    from reasoning.modeling.models import resolve_model

    rows, lineage = check_inputs(config)
    trainer_class = trainer_class_for(config)  # the fast path's private symbols, checked before any model loads
    functions, weights = reward_functions(config)
    hardware = common.detect_hardware()
    settings = common.resolve_settings(config, hardware)
    precision, attention = settings.precision, settings.attention
    # Built before the model is resolved so a vLLM request on a machine without it fails first.
    trl_config = config.to_trl_config(precision, common.local_checkpoint_dir(config.output), hardware, weights)
    cpu_training.configure_cpu_threads()
    model_dir = resolve_model(config.model)
    checkpoints, resume_from = common.prepare_checkpoints(config)
    log.info("GRPO: %d prompts, model %s, %d steps x %d completions (groups of %d), rewards %s",
             len(rows), config.model, config.iterations, config.batch_size, config.group_size,
             dict(zip([f.__name__ for f in functions], weights, strict=True)))

    set_seed(config.seed)
    tokenizer = common.load_tokenizer_for_training(model_dir)
    # Generation pads on the left so every completion starts right after its prompt.
    tokenizer.padding_side = "left"
    model = common.load_causal_lm(model_dir, precision, attention)
    with common.sigterm_guard() as stop_flag:
        options: dict[str, Any] = {}
        if config.dynamic_sampling:
            trainer_class = dynamic_sampling.with_dynamic_sampling(trainer_class)
            options = {"dynamic_sampling": True, "max_extra_rounds": config.dynamic_sampling_max_rounds}
        trainer = trainer_class(
            model=model, reward_funcs=functions, args=trl_config, **options,
            train_dataset=Dataset.from_list(grpo_records(rows)), processing_class=tokenizer,
            peft_config=common.lora_config(config),
            callbacks=common.stage_callbacks(checkpoints / "live_log.jsonl", checkpoints,
                                             common.checkpoint_uri_for(config), stop_flag))
        if config.profile:
            from reasoning.fast_grpo.profiler import attach_phase_profiler
            attach_phase_profiler(trainer)
        common.train_with_preemption(trainer, resume_from, stop_flag)
    tokenizer.padding_side = "right"
    lineage.update({"base_model": config.model, "precision": precision, "reward_weights": config.reward_weights(),
                    "trainer": type(trainer).__name__})
    history = trainer.state.log_history
    extra = {"prompts": len(rows), "dynamic_sampling": bool(getattr(trainer, "dynamic_sampling", False))}
    for key, value in getattr(trainer, "dynamic_sampling_totals", {}).items():
        extra["total_" + key] = float(value)
    for key in ("kl", "completions/mean_length", "completions/clipped_ratio"):
        values = [r[key] for r in history if key in r]
        if values:
            extra["final_" + key.replace("completions/", "completion_")] = float(values[-1])
    result = common.save_model_artifact(trainer.model, tokenizer, config=config, stage="grpo", history=history,
                                        lineage=lineage, extra_metrics=extra)
    common.finish_checkpoints(checkpoints)
    return result


def trainer_class_for(config: GRPOStageConfig) -> type:
    """TRL's GRPOTrainer, or with --trainer fast (the default) reasoning.fast_grpo's FastGRPOTrainer:
    same samples, rewards and updates for a seed; sampling through a merged-LoRA twin and each
    group's prompt computed once. Building it checks the private symbols it relies on (fast_grpo/private_api.py)."""
    if config.trainer == "trl":
        from trl import GRPOTrainer
        return GRPOTrainer
    from reasoning.fast_grpo import private_api, trainer
    private_api.require()  # on every run, not only when the class is first built
    return trainer.FastGRPOTrainer


def main(argv: Sequence[str] | None = None) -> int:
    return common.stage_main(GRPOStageConfig, run, argv, prog="reasoning grpo", description=__doc__)


if __name__ == "__main__":
    raise SystemExit(main())
