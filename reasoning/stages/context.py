"""Stage 3: context extension by RoPE scaling, optionally fine-tuned on long sequences.

    python -m reasoning.stages.context --model checkpoints/reasoning_sft \\
        --output checkpoints/reasoning_long --target-context 131072 --scaling-type yarn
    python -m reasoning.stages.context --model M --output O --target-context 32768 \\
        --scaling-type yarn --dataset data/long.jsonl --steps 200      # + long-sequence tuning
    python -m reasoning.stages.context --config recipes/context_default_cpu.yaml
    reasoning context ...                                              # same flags

Multi-GPU fine-tuning (long sequences want ZeRO-3 to shard weights and optimizer state):

    accelerate launch --config_file configs/accelerate/deepspeed_zero3.yaml \\
        -m reasoning.stages.context --config recipes/context_default_cpu.yaml

The saved model's config.json carries the scaling (``rope_parameters`` and
``max_position_embeddings``, see reasoning.modeling.context_extension), so the next stage loads it
with plain ``from_pretrained`` and no extra flag. With ``--steps N`` and ``--dataset``, the
scaled model is trained for N steps on the dataset's conversations (loss on the whole
sequence: the point is to teach attention at far positions), gradient checkpointing on.

Proving the extension (``--long-context-lengths 2048,4096,8192,16384,32768``): the model is
evaluated on passkey retrieval by depth, variable tracking and perplexity by position
(``reasoning.evaluation.long_context``) at each length, and the report goes into the model
directory (``long_context/report.html``). ``--scaling-type linear,dynamic,yarn,ntk`` sweeps the
types: each is applied and evaluated, the best by ``CHOICE_RULE`` is saved, and every
type's scores are recorded in the lineage. With ``--gate-min-score S`` the model is refused
(exit code 3, no model written, only the report saying why) when its ``--gate-metric`` at
``--gate-length`` is below S, so the pipeline never hands a broken model to GRPO or export.
``--gate-max-window-ppl-ratio R`` also refuses a model whose perplexity inside the original
window exceeds R times the unscaled model's on the same document: scaling without fine-tuning
can hold the far positions and still cost what the model did at short lengths.
"""
from __future__ import annotations

import dataclasses
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reasoning.config import option, require
from reasoning.errors import EXIT_GATE_REFUSED, InputError
from reasoning.stages import common
from reasoning.stages.sft import extender_for

log = logging.getLogger(__name__)


@dataclasses.dataclass
class ContextStageConfig(common.TrainingStageConfig):
    output: str = option("checkpoints/reasoning_long", "output model directory or s3:// URI")
    dataset: str = option("", "optional long-sequence rows to fine-tune on (needs --steps > 0)")
    target_context: int = option(131072, "context length (tokens) the scaled model should handle")
    scaling_type: str = option("yarn", "RoPE scaling: yarn, linear, dynamic or ntk; several comma-separated "
                               "(or 'all') sweep them and keep the best (needs --long-context-lengths)")
    original_context: int = option(0, "the model's pretraining context (0 = read from its config)")
    steps: int = option(0, "fine-tuning steps on --dataset after scaling (0 = only rescale)")
    max_length: int = option(4096, "truncate each training sequence to N tokens")
    batch_size: int = option(1, "sequences per device and step (long sequences: keep small)")
    learning_rate: float = option(1e-4, "peak learning rate (AdamW)")
    lora_r: int = option(16, "LoRA rank")
    lora_alpha: int = option(32, "LoRA alpha (scaling = alpha / r)")
    long_context_lengths: list[int] = option(help="evaluate the extended model at these context lengths "
                                             "(tokens; empty = no long-context evaluation)", default_factory=list)
    long_context_depths: list[float] = option(help="passkey needle depths (fractions of the context)",
                                              default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 1.0])
    long_context_tasks: list[str] = option(help="long-context probes: passkey, variables, perplexity",
                                           default_factory=lambda: ["passkey", "variables", "perplexity"])
    long_context_trials: int = option(1, "probes per (length, depth) cell")
    long_context_prefill_chunk: int = option(2048, "tokens per forward chunk (bounds attention memory)")
    long_context_baseline: bool = option(True, "also evaluate the unscaled model, for comparison in the report")
    gate_metric: str = option("passkey", "score the gate and the sweep use: passkey, variables or ppl_retention")
    gate_length: int = option(0, "context length the gate scores (0 = the longest of --long-context-lengths)")
    gate_min_score: float = option(0.0, "refuse the model when its gate metric at the gate length is below this "
                                   "(0 = never refuse)")
    gate_max_window_ppl_ratio: float = option(0.0, "also refuse (and rank last in a sweep) a type whose perplexity "
                                              "inside the original window exceeds this multiple of the unscaled "
                                              "model's, e.g. 1.05 (0 = no limit; needs the perplexity task)")

    def __post_init__(self) -> None:
        self.validate_common()
        from reasoning.evaluation.long_context import GATE_METRICS
        self.scaling_type = ",".join(self.scaling_types)
        require(self.gate_metric in GATE_METRICS,
                f"unknown metric {self.gate_metric!r}; known: {', '.join(GATE_METRICS)}", "--gate-metric")
        require(0 <= self.gate_min_score <= 1, f"must be in [0, 1], got {self.gate_min_score}", "--gate-min-score")
        require(self.gate_length >= 0, f"must be >= 0, got {self.gate_length}", "--gate-length")
        require(self.gate_max_window_ppl_ratio == 0 or self.gate_max_window_ppl_ratio >= 1,
                f"must be 0 (no limit) or >= 1, got {self.gate_max_window_ppl_ratio}", "--gate-max-window-ppl-ratio")
        require(not self.gate_max_window_ppl_ratio or ("perplexity" in self.long_context_tasks
                                                       and self.long_context_baseline and bool(self.long_context_lengths)),
                "the window limit compares perplexity with the unscaled model's: it needs --long-context-lengths, "
                "'perplexity' in --long-context-tasks and --long-context-baseline", "--gate-max-window-ppl-ratio")
        lengths = self.long_context_lengths
        require(bool(lengths) or len(self.scaling_types) == 1,
                "a sweep of scaling types needs --long-context-lengths to choose by", "--scaling-type")
        require(bool(lengths) or not self.gate_min_score, "the gate needs --long-context-lengths",
                "--gate-min-score")
        require(not self.gate_length or self.gate_length in lengths,
                f"must be one of --long-context-lengths {lengths}", "--gate-length")
        require(not lengths or max(lengths) <= self.target_context,
                f"lengths above --target-context {self.target_context} test more than the extension claims: "
                f"{lengths}", "--long-context-lengths")
        require(len(self.scaling_types) == 1 or self.steps == 0,
                "a sweep only rescales: fine-tune (--steps) one chosen --scaling-type", "--steps")
        require(self.target_context >= 1, f"must be positive, got {self.target_context}", "--target-context")
        require(self.original_context >= 0, f"must be >= 0, got {self.original_context}", "--original-context")
        require(not self.original_context or self.target_context > self.original_context,
                f"target context {self.target_context} must be above the original {self.original_context}",
                "--target-context")
        require(self.steps >= 0, f"must be >= 0, got {self.steps}", "--steps")
        require(self.steps == 0 or bool(self.dataset), "fine-tuning steps need a --dataset of long rows", "--steps")
        require(self.max_length >= 16, f"must be >= 16, got {self.max_length}", "--max-length")
        if lengths:
            self.long_context_settings()  # depths, tasks, chunk sizes: refused now, not after scaling
            from reasoning.evaluation.long_context import GATE_METRIC_TASK
            require(GATE_METRIC_TASK[self.gate_metric] in self.long_context_tasks,
                    f"'{self.gate_metric}' needs the task '{GATE_METRIC_TASK[self.gate_metric]}' in "
                    f"--long-context-tasks {self.long_context_tasks}", "--gate-metric")

    @property
    def scaling_types(self) -> list[str]:
        from reasoning.modeling.context_extension import SCALING_TYPES, check_scaling_type
        text = str(self.scaling_type).strip().lower()
        names = list(SCALING_TYPES) if text == "all" else [p for p in text.split(",") if p.strip()]
        require(bool(names), "at least one scaling type is required", "--scaling-type")
        return list(dict.fromkeys(check_scaling_type(name) for name in names))

    @property
    def resolved_gate_length(self) -> int:
        return self.gate_length or max(self.long_context_lengths)

    def long_context_settings(self):
        from reasoning.evaluation.long_context import LongContextSettings
        return LongContextSettings(lengths=list(self.long_context_lengths), depths=list(self.long_context_depths),
                                   tasks=list(self.long_context_tasks), trials=self.long_context_trials,
                                   prefill_chunk=self.long_context_prefill_chunk, seed=self.seed).validate()

    def to_trl_config(self, precision: str, checkpoints: Path):
        """TRL's SFTConfig for the long-sequence tuning (why not a subclass: see SFTStageConfig)."""
        from trl import SFTConfig
        return SFTConfig(**common.common_trainer_args(self, precision, checkpoints), max_steps=self.steps,
                         max_length=self.max_length, completion_only_loss=False, shuffle_dataset=False)


def check_inputs(config: ContextStageConfig):
    """Cheap checks before any weights load: the model, each scaling type against its config
    (target vs. its window, RoPE the type can scale), memory for the lengths, the gate length."""
    common.check_model(config.model)
    model_config = common.local_model_config(config.model)
    if model_config is not None:
        # The config class knows whether the architecture has RoPE at all (config.json alone may not say).
        from transformers import AutoConfig

        from reasoning.modeling.context_extension import read_rope_base
        try:
            read_rope_base(AutoConfig.for_model(**model_config))
        except InputError as exc:
            raise InputError(f"scaling type '{config.scaling_type}' cannot be applied to this model: {exc}",
                             field="--scaling-type") from None
    for kind in config.scaling_types:
        try:
            extender = extender_for(dataclasses.replace(config, scaling_type=kind))
        except InputError as exc:
            if exc.field in ("--target-context", "--original-context"):
                raise
            raise InputError(f"scaling type '{kind}' cannot be applied to this model: {exc}",
                             field="--scaling-type") from None
        original = extender.original_length if extender is not None else None
        if (config.gate_min_score and original is not None and config.long_context_lengths
                and config.resolved_gate_length <= original):
            raise InputError(f"the gate length {config.resolved_gate_length} lies inside the original window "
                             f"{original}, so it would not test the extension", field="--gate-length")
    if config.long_context_lengths and model_config is not None:
        from reasoning.evaluation.long_context import check_memory
        check_memory(model_config, config.long_context_settings())
    common.check_outputs(config)
    if config.steps > 0:
        return common.load_stage_rows(config.dataset, limit=config.limit)
    return [], {}


def run(config: ContextStageConfig) -> dict[str, Any]:
    from transformers import AutoConfig, set_seed

    from reasoning.modeling.models import resolve_model

    rows, lineage = check_inputs(config)
    hardware = common.detect_hardware()
    settings = common.resolve_settings(config, hardware, long_sequences=True)  # it trains on long rows
    precision, attention = settings.precision, settings.attention
    model_dir = resolve_model(config.model)
    tokenizer = common.load_tokenizer_for_training(model_dir)

    proof = prove_extension(config, model_dir, tokenizer, precision, attention) if config.long_context_lengths else None
    kind = proof["choice"]["chosen"] if proof else config.scaling_types[0]
    extender = extender_for(dataclasses.replace(config, scaling_type=kind), model_dir)
    model_config = extender.apply_to_config(AutoConfig.from_pretrained(model_dir))
    context = extender.describe()
    log.info("context: %s -> %s tokens by %s (factor %.2f)", context["original_length"], context["target_length"],
             context["scaling_type"], context["factor"])
    if proof and not proof["gate"]["passed"]:
        write_refusal(config, proof)  # the report says why; no model is written
        from reasoning.evaluation.long_context import GateFailed
        raise GateFailed(proof["gate"])

    set_seed(config.seed)
    model = common.load_causal_lm(model_dir, precision, attention, config=model_config)
    history: list[dict] = []
    checkpoints = None
    if config.steps > 0:
        from datasets import Dataset
        from trl import SFTTrainer
        checkpoints, resume_from = common.prepare_checkpoints(config)
        with common.sigterm_guard() as stop_flag:
            trainer = SFTTrainer(model=model, args=config.to_trl_config(precision, checkpoints),
                                 train_dataset=Dataset.from_list([{"messages": r.messages} for r in rows]),
                                 processing_class=tokenizer, peft_config=common.lora_config(config),
                                 callbacks=common.stage_callbacks(checkpoints / "live_log.jsonl", checkpoints,
                                                                  common.checkpoint_uri_for(config), stop_flag))
            common.train_with_preemption(trainer, resume_from, stop_flag)
        model, history = trainer.model, trainer.state.log_history
    # from_pretrained(config=...) keeps our config object, but PEFT merging or a trainer may
    # touch it: state the scaling again right before saving so the artifact always carries it.
    target = model.get_base_model() if hasattr(model, "get_base_model") else model
    extender.apply_to_config(target.config)
    lineage.update({"base_model": config.model, "precision": precision, "context": context})
    extra_metrics = {"target_context": context["target_length"], "original_context": context["original_length"],
                     "rope_factor": float(context["factor"])}
    if proof:
        lineage["long_context"] = {"choice": proof["choice"], "gate": proof["gate"],
                                   "scores": _scores(proof["results"])}
        extra_metrics.update({"gate_score": proof["gate"]["score"], "gate_passed": proof["gate"]["passed"]})
        if config.steps > 0:
            log.info("the long-context scores are of the rescaled model before fine-tuning")
    result = common.save_model_artifact(model, tokenizer, config=config, stage="context", history=history,
                                        lineage=lineage, extra_metrics=extra_metrics,
                                        extra_files=proof_files(proof) if proof else None)
    if checkpoints is not None:
        common.finish_checkpoints(checkpoints)
    result["context"] = context
    if proof:
        result["long_context"] = proof
    return result


# ---------------------------------------------------------------- proving the extension

def prove_extension(config: ContextStageConfig, model_dir: str, tokenizer, precision: str,
                    attention: str) -> dict[str, Any]:
    """Evaluate the unscaled model (optional) and each scaling type; choose one; decide the gate.

    Why one loop in one task rather than a KFP ParallelFor over the types: kfp.local (2.17)
    collects only parameters from a ParallelFor, not the model artifacts a choice needs, and
    two long-context runs side by side would double the memory peak on a CPU machine.
    """
    import gc

    from transformers import AutoConfig

    from reasoning.evaluation.long_context import (
        CHOICE_RULE,
        add_window_ratios,
        choose_best,
        evaluate_long_context,
        gate_decision,
    )

    settings = config.long_context_settings()
    candidates: dict[str, Any] = {}
    if config.long_context_baseline:
        candidates["unscaled"] = AutoConfig.from_pretrained(model_dir)
    for kind in config.scaling_types:
        extender = extender_for(dataclasses.replace(config, scaling_type=kind), model_dir)
        candidates[kind] = extender.apply_to_config(AutoConfig.from_pretrained(model_dir))
        original = extender.original_length
    results: dict[str, Any] = {}
    for name, model_config in candidates.items():
        log.info("long-context evaluation of %s at %s tokens", name, settings.lengths)
        model = common.load_causal_lm(model_dir, precision, attention, config=model_config).eval()
        results[name] = evaluate_long_context(model, tokenizer, settings, log=log)
        del model
        gc.collect()
    length, metric = config.resolved_gate_length, config.gate_metric
    if "unscaled" in results:
        add_window_ratios(results, baseline="unscaled", length=length, window=original)
    typed = {kind: results[kind] for kind in config.scaling_types}
    window_limit = config.gate_max_window_ppl_ratio
    chosen = choose_best(typed, length=length, metric=metric, max_window_ratio=window_limit)
    gate = gate_decision(results[chosen], length=length, metric=metric, threshold=config.gate_min_score,
                         max_window_ratio=window_limit)
    gate["scaling_type"] = chosen
    choice = {"chosen": chosen, "rule": CHOICE_RULE, "gate_length": length, "gate_metric": metric,
              "candidates": list(typed)}
    log.info("long context: chose %s; gate %s", chosen, gate["reason"])
    return {"results": results, "choice": choice, "gate": gate, "original_length": original}


def _scores(results: dict[str, Any]) -> dict[str, Any]:
    """Per model and length, the headline numbers (no per-bin curves) for the lineage."""
    keys = ("passkey", "variables", "ppl", "ppl_retention", "window_ppl_ratio")
    return {name: {length: {k: e[k] for k in keys if k in e} for length, e in r["lengths"].items()}
            for name, r in results.items()}


def proof_files(proof: dict[str, Any]) -> dict[str, str]:
    """``long_context/{results.json, report.md, report.html}`` for the model directory."""
    import json

    from reasoning.evaluation.long_context_report import long_context_blocks
    from reasoning.evaluation.report import Block, render_html, render_markdown
    blocks = [Block("h1", "Context extension: long-context evaluation"),
              *long_context_blocks(proof["results"], original_length=proof["original_length"],
                                   choice=proof["choice"], gate=proof["gate"])]
    return {"long_context/results.json": json.dumps(proof, indent=2, default=str),
            "long_context/report.md": render_markdown(blocks), "long_context/report.html": render_html(blocks)}


def write_refusal(config: ContextStageConfig, proof: dict[str, Any]) -> None:
    """A refused extension leaves only its report (and gate.json) where the model would have gone."""
    import json

    from reasoning.io import storage
    from reasoning.io.fileio import write_text_atomic
    with storage.local_output(config.output, is_dir=True) as tmp:
        tmp = Path(tmp)
        for name, text in {**proof_files(proof), "gate.json": json.dumps(proof["gate"], indent=2)}.items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(tmp / name, text)
    log.error("context extension refused: %s (report: %s/long_context/report.html)", proof["gate"]["reason"],
              config.output)


def main(argv: Sequence[str] | None = None) -> int:
    from reasoning.evaluation.long_context import GateFailed
    try:
        return common.stage_main(ContextStageConfig, run, argv, prog="reasoning context", description=__doc__)
    except GateFailed as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return EXIT_GATE_REFUSED


if __name__ == "__main__":
    raise SystemExit(main())
