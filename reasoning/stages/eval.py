"""Evaluation stage: generate with one or more models on several datasets, score every
completion with the same checker the rewards use, and write metrics and a report.

    python -m reasoning.stages.eval --model checkpoints/reasoning_grpo \\
        --datasets synthetic-test,gsm8k=../shared/data/gsm8k/test.jsonl,math500=../shared/data/math500/test.jsonl,humaneval,folio=../shared/data/folio/validation.jsonl \\
        --limit 200 --samples 4 --output reports/eval

    reasoning eval --model base=builtin:smollm2-135m-instruct --model sft=checkpoints/sft \\
        --model grpo=checkpoints/grpo --datasets synthetic-test --limit 64 --output reports/eval

``--model`` may be repeated (or given comma-separated): ``NAME=REF`` names a model, a
bare reference is named after its directory. ``--datasets`` takes ``NAME=SPEC`` or bare
specs (a row-format or native-layout file, an s3:// URI, ``synthetic:math?n=..``, or a
known name such as ``gsm8k`` or ``humaneval``). ``--limit N`` evaluates the first N rows of
each dataset in file order, so every model and every run sees the same fixed subset.

Outputs in ``--output`` (a directory or s3:// URI, written complete or not at all):
``metrics.json`` (models x datasets x metrics, and per reasoning type), ``samples.jsonl``
(every prompt, response and score), ``report.md`` and ``report.html`` (self-contained,
plots embedded) and ``resolved_config.yaml``.

Correctness is decided by ``reasoning.scoring.answers.check_response`` (code runs in the
sandbox) and the reward components by ``reasoning.rewards``: the same implementation
that scores GRPO, so training and evaluation cannot disagree about "correct".
"""
from __future__ import annotations

import dataclasses
import gc
import json
import logging
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reasoning.config import config_to_dict, option, require, save_config
from reasoning.errors import InputError
from reasoning.io import artifacts, storage
from reasoning.io.fileio import (
    TABULAR_SUFFIXES,
    write_json_atomic,
    write_jsonl_atomic,
    write_text_atomic,
)
from reasoning.modeling.models import DEFAULT_MODEL
from reasoning.stages import common

log = logging.getLogger(__name__)

SAMPLING_TEMPERATURE = 0.7  # used when --samples > 1 asks for sampling but --temperature is 0 (greedy)
_NAME = re.compile(r"^([A-Za-z0-9_.+-]+)=(.+)$")
_GENERIC_STEMS = {"test", "train", "validation", "valid", "dev", "eval", "data", "dataset"}


@dataclasses.dataclass
class EvalStageConfig:
    models: list[str] = option(help="models to evaluate, NAME=REF or REF (builtin:NAME, a model directory, "
                               "an s3:// URI or a hub id); --model may be repeated",
                               default_factory=lambda: [DEFAULT_MODEL], flag="--model")
    datasets: list[str] = option(help="datasets, NAME=SPEC or SPEC: a file (row format or a native layout), "
                                 "an s3:// URI, synthetic:math?n=..&split=test, or a known name "
                                 "(synthetic-test, gsm8k, math500, humaneval, folio)",
                                 default_factory=lambda: ["synthetic-test"])
    limit: int = option(200, "evaluate the first N rows of each dataset (a fixed subset, same for every model)")
    samples: int = option(1, "completions per problem; > 1 adds pass@k and majority-vote accuracy")
    output: str = option("reports/eval", "output directory or s3:// URI for metrics, samples and the report")
    seed: int = option(0, "random seed for sampling (the same seed gives the same completions)")
    max_new_tokens: int = option(256, "generation budget per completion")
    temperature: float = option(0.0, f"0 = greedy; with --samples > 1 a temperature of 0 becomes "
                                f"{SAMPLING_TEMPERATURE} so the samples differ")
    top_p: float = option(1.0, "nucleus sampling threshold (used when sampling)")
    batch_size: int = option(16, "prompts per generation batch")
    system_prompt: str = option("", "system message prepended to prompts that have none (empty: none)")
    dtype: str = option("auto", "model weights dtype: auto = bf16 on a bf16 GPU, else float32",
                        choices=("auto", "float32", "bfloat16", "float16"))
    code_timeout: float = option(10.0, "seconds a code completion's tests may run in the sandbox")
    examples_per_dataset: int = option(2, "correct and wrong sample completions shown per model and dataset")
    use_training_curves: bool = option(True, "plot loss/reward curves from the models' train_log.jsonl "
                                       "(and their lineage parents')")
    sampled_k: int = option(0, "also sample K completions per problem at --sampled-temperature and report "
                            "pass@1 (their mean accuracy) and maj@K (their majority answer); 0 = off")
    sampled_temperature: float = option(1.0, "temperature of the --sampled-k completions (1.0: what GRPO samples at, "
                                        "so pass@1 vs maj@K shows the room RL has)")
    sampled_models: list[str] = option(help="models that get the --sampled-k completions (names; empty = every "
                                       "model): k completions cost about k greedy passes", default_factory=list)
    sampled_datasets: list[str] = option(help="datasets that get the --sampled-k completions (names; empty = every "
                                         "dataset)", default_factory=list)
    compare: list[str] = option(help="BASELINE:CANDIDATE model pairs whose accuracy difference on the same problems "
                                "gets a paired bootstrap interval (default: each model vs the one before it)",
                                default_factory=list)
    bootstrap_resamples: int = option(10_000, "resamples of the paired bootstrap")
    use_stop_at_answer: bool = option(True, "end a completion once its final-answer line is complete (\"The answer "
                                      "is N.\" after </think>): later text is never scored, only generated")
    cache_dir: str = option("auto", "reuse a model's scored samples when its weights, the rows, the settings and the "
                            "scoring code hash the same: a directory, auto = $REASONING_EVAL_CACHE when set "
                            "(make run sets it), '' = off")
    long_context_lengths: list[int] = option(help="also run the long-context suite (passkey by depth, variable "
                                             "tracking, perplexity by position) at these lengths in tokens "
                                             "(empty = off)", default_factory=list)
    long_context_depths: list[float] = option(help="passkey needle depths (fractions of the context)",
                                              default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 1.0])
    long_context_trials: int = option(1, "long-context probes per (length, depth) cell")

    def __post_init__(self) -> None:
        self.models = _as_list(self.models)
        self.datasets = _as_list(self.datasets)
        require(bool(self.models), "at least one model is required", "--model")
        require(bool(self.datasets), "at least one dataset is required", "--datasets")
        require(self.limit >= 1, f"must be >= 1, got {self.limit}", "--limit")
        require(self.samples >= 1, f"must be >= 1, got {self.samples}", "--samples")
        require(self.max_new_tokens >= 1, f"must be >= 1, got {self.max_new_tokens}", "--max-new-tokens")
        require(self.temperature >= 0, f"must be >= 0, got {self.temperature}", "--temperature")
        require(0 < self.top_p <= 1, f"must be in (0, 1], got {self.top_p}", "--top-p")
        require(self.batch_size >= 1, f"must be >= 1, got {self.batch_size}", "--batch-size")
        require(self.code_timeout > 0, f"must be > 0, got {self.code_timeout}", "--code-timeout")
        require(self.examples_per_dataset >= 0, f"must be >= 0, got {self.examples_per_dataset}",
                "--examples-per-dataset")
        require(bool(str(self.output).strip()), "an output path is required", "--output")
        require(self.sampled_k >= 0, f"must be >= 0, got {self.sampled_k}", "--sampled-k")
        require(self.sampled_temperature > 0, f"must be > 0, got {self.sampled_temperature}", "--sampled-temperature")
        require(self.bootstrap_resamples >= 100, f"must be >= 100, got {self.bootstrap_resamples}",
                "--bootstrap-resamples")
        self.compare = _as_list(self.compare)
        self.sampled_models = _as_list(self.sampled_models)
        self.sampled_datasets = _as_list(self.sampled_datasets)
        names = [name for name, _ in model_specs(self.models)]
        duplicates = [n for n, c in Counter(names).items() if c > 1]
        require(not duplicates, f"model names must be unique, repeated: {', '.join(duplicates)} "
                "(name them with NAME=REF)", "--model")
        from reasoning.modeling.models import check_model_reference
        for _, reference in model_specs(self.models):
            try:
                check_model_reference(reference)
            except InputError as exc:
                raise InputError(str(exc), field="--model") from None
        specs = dataset_specs(self.datasets)
        duplicates = [n for n, c in Counter(n for n, _ in specs).items() if c > 1]
        require(not duplicates, f"dataset names must be unique, repeated: {', '.join(duplicates)} "
                "(name them with NAME=SPEC)", "--datasets")
        for _, spec in specs:
            if _looks_like_path(spec) and not Path(spec).expanduser().exists():
                raise InputError("dataset file does not exist", file=spec, field="--datasets")
        for flag, chosen, known in (("--sampled-models", self.sampled_models, names),
                                    ("--sampled-datasets", self.sampled_datasets, [n for n, _ in specs])):
            unknown = [n for n in chosen if n not in known]
            require(not unknown, f"{', '.join(unknown)} not among the names given ({', '.join(known)})", flag)
        for pair in self.compare:
            baseline, _, candidate = pair.partition(":")
            require(baseline in names and candidate in names,
                    f"{pair!r} must be BASELINE:CANDIDATE with both among the models ({', '.join(names)})",
                    "--compare")
        if self.long_context_lengths:
            self.long_context_settings()  # bad lengths or depths fail before any model loads

    @property
    def comparison_pairs(self) -> list[tuple[str, str]]:
        if self.compare:
            return [tuple(pair.split(":", 1)) for pair in self.compare]  # type: ignore[misc]
        names = [name for name, _ in model_specs(self.models)]
        return list(zip(names, names[1:], strict=False))

    def sampled_k_for(self, model: str) -> int:
        """How many sampled completions ``model`` gets per problem (0 when --sampled-models leaves it out)."""
        return self.sampled_k if not self.sampled_models or model in self.sampled_models else 0

    def samples_dataset(self, dataset: str) -> bool:
        return not self.sampled_datasets or dataset in self.sampled_datasets

    def cache_settings(self, model: str, datasets: Sequence[str]) -> dict[str, Any]:
        """What a model's evaluation depends on besides its weights and rows (the cache key's settings)."""
        settings = {k: getattr(self, k) for k in CACHE_SETTINGS}
        settings["sampled_k"] = self.sampled_k_for(model)
        if settings["sampled_k"] and self.sampled_datasets:
            settings["sampled_datasets"] = sorted(d for d in datasets if self.samples_dataset(d))
        return settings

    @property
    def resolved_cache_dir(self) -> str:
        if self.cache_dir == "auto":
            return os.environ.get("REASONING_EVAL_CACHE", "")
        return self.cache_dir

    def long_context_settings(self):
        from reasoning.evaluation.long_context import LongContextSettings
        return LongContextSettings(lengths=list(self.long_context_lengths), depths=list(self.long_context_depths),
                                   trials=self.long_context_trials, seed=self.seed).validate()

    @property
    def effective_temperature(self) -> float:
        return SAMPLING_TEMPERATURE if self.samples > 1 and self.temperature == 0 else self.temperature


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        value = value.split(",")
    return [str(v).strip() for v in value if str(v).strip()]


def _looks_like_path(spec: str) -> bool:
    if storage.is_remote(spec) or spec.startswith("synthetic:"):
        return False
    lowered = spec.lower().removesuffix(".gz")
    return "/" in spec or spec.startswith((".", "~")) or lowered.endswith(TABULAR_SUFFIXES)


def model_specs(entries: Sequence[str]) -> list[tuple[str, str]]:
    """``[(name, reference)]``: ``NAME=REF`` as given; a bare reference is named after its last path part."""
    result = []
    for entry in entries:
        match = _NAME.match(entry)
        if match and not storage.is_remote(entry):
            result.append((match.group(1), match.group(2)))
            continue
        text = entry.rstrip("/")
        name = text.split(":", 1)[1] if text.startswith("builtin:") else text.rsplit("/", 1)[-1]
        result.append((name or entry, entry))
    return result


def dataset_specs(entries: Sequence[str]) -> list[tuple[str, str]]:
    """``[(name, spec)]``: ``NAME=SPEC`` as given; a path is named after its file (and folder for test.jsonl)."""
    result = []
    for entry in entries:
        match = _NAME.match(entry)
        if match and not storage.is_remote(entry):
            result.append((match.group(1), match.group(2)))
        elif entry.startswith("synthetic:"):
            result.append(("synthetic-" + entry.split(":", 1)[1].split("?", 1)[0], entry))
        elif _looks_like_path(entry) or storage.is_remote(entry):
            path = Path(entry.rstrip("/"))
            stem = path.name.split(".", 1)[0]
            name = f"{path.parent.name}-{stem}" if stem.lower() in _GENERIC_STEMS and path.parent.name else stem
            result.append((name, entry))
        else:
            # "gsm8k-test?limit=100" is still the gsm8k-test set, only capped.
            result.append((entry.split("?", 1)[0], entry))
    return result


# ------------------------------------------------------------------ scoring

def load_datasets(config: EvalStageConfig) -> dict[str, tuple[str, list]]:
    """``{name: (spec, rows)}``, every dataset resolved and limited before any model is loaded."""
    from reasoning.data.datasets import resolve_dataset

    datasets = {}
    for name, spec in dataset_specs(config.datasets):
        try:
            rows = list(resolve_dataset(spec, limit=config.limit))[: config.limit]
        except InputError as exc:
            raise InputError(f"cannot use dataset '{name}': {exc}", field="--datasets") from None
        if not rows:
            raise InputError(f"dataset '{name}' has no rows", file=spec, field="--datasets")
        datasets[name] = (spec, rows)
    return datasets


def build_prompt(row, system_prompt: str) -> list[dict[str, str]]:
    messages = [dict(m) for m in row.prompt_messages]
    if system_prompt and not any(m["role"] == "system" for m in messages):
        messages.insert(0, {"role": "system", "content": system_prompt})
    return messages


def code_prompt(row) -> str | None:
    """The function stub of a code problem (HumanEval's prompt), prepended by the checker when a
    completion holds only the body: ``metadata["prompt"]``, else the code block in the question."""
    if row.reasoning_type != "code" or not row.entry_point:
        return None
    from reasoning.scoring.answers import extract_code
    stub = row.metadata.get("prompt") or extract_code(row.problem)
    return stub if stub and re.search(rf"def\s+{re.escape(row.entry_point)}\s*\(", stub) else None


def score_response(row, response: str, reward_fn, tokenizer, code_timeout: float = 10.0,
                   prompt: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """One completion's correctness, extracted answer, format, length and reward components."""
    from reasoning.modeling.generation import count_tokens
    from reasoning.scoring import answers

    rtype = row.reasoning_type
    if rtype == "code":
        extracted = answers.extract_code(response) or None
    else:
        extracted = answers.extract_final_answer(response)
    correct = bool(answers.check_response(response, row.answer, rtype, tests=row.tests,
                                          entry_point=row.entry_point, problem=code_prompt(row),
                                          code_timeout=code_timeout))
    result = reward_fn.compute(response=response, reference=row.answer, problem=row.problem,
                               reasoning_type=rtype, tests=row.tests, entry_point=row.entry_point,
                               prompt=prompt)
    components = {name: float(value) for name, value in result.components.items() if value is not None}
    return {"extracted_answer": extracted, "correct": correct,
            # Format compliance = the format reward is full: one well-formed think block, then an answer.
            "format_ok": components.get("format") == 1.0,
            "tokens": count_tokens(tokenizer, response), "reward": float(result.reward),
            "components": components, "reward_reasons": dict(result.reasons)}


def evaluate_model(name: str, reference: str, datasets: dict[str, tuple[str, list]], config: EvalStageConfig,
                   reward_fn) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, float]]:
    """Generate and score every dataset with one model; returns (samples, model info, seconds per dataset)."""
    import torch
    from transformers import set_seed

    from reasoning.modeling.generation import SamplingSettings, generate
    from reasoning.modeling.models import load_model, load_tokenizer, resolve_model

    resolved = resolve_model(reference)
    log.info("loading model %s from %s", name, resolved)
    tokenizer = load_tokenizer(resolved, padding_side="left")
    model = load_model(resolved, dtype=config.dtype)
    if torch.cuda.is_available():
        model.to("cuda")
    metadata = artifacts.read_metadata(resolved) if Path(resolved).is_dir() else {}
    info = {"reference": reference, "resolved": resolved, "stage": metadata.get("stage"),
            "base_model": metadata.get("base_model"), "sha256": metadata.get("sha256"),
            "parameters": artifacts.count_parameters(model)}
    modes = {"main": SamplingSettings(max_new_tokens=config.max_new_tokens,
                                      temperature=config.effective_temperature, top_p=config.top_p,
                                      num_samples=config.samples, batch_size=config.batch_size, seed=config.seed,
                                      stop_at_answer=config.use_stop_at_answer)}
    if config.sampled_k_for(name):
        modes["sampled"] = dataclasses.replace(modes["main"], temperature=config.sampled_temperature,
                                               num_samples=config.sampled_k)
    samples: list[dict[str, Any]] = []
    seconds: dict[str, float] = {}
    try:
        for mode, settings in modes.items():
            for dataset, (_spec, rows) in datasets.items():
                if mode == "sampled" and not config.samples_dataset(dataset):
                    continue
                set_seed(config.seed)  # each (model, dataset) pair is reproducible on its own
                prompts = [build_prompt(row, config.system_prompt) for row in rows]
                started = time.monotonic()
                completions = generate(model, tokenizer, prompts, settings, progress=True,
                                       description=f"{name} on {dataset} ({mode})")
                label = dataset if mode == "main" else f"{dataset} ({mode})"
                seconds[label] = round(time.monotonic() - started, 3)
                log.info("%s on %s: %d x %d completions in %.1f s", name, label, len(rows), settings.num_samples,
                         seconds[label])
                for row, prompt, responses in zip(rows, prompts, completions, strict=True):
                    for index, response in enumerate(responses):
                        samples.append({"model": name, "dataset": dataset, "id": row.id, "source": row.source,
                                        "reasoning_type": row.reasoning_type, "sample": index, "prompt": prompt,
                                        "reference": row.answer, "response": response,
                                        **({"mode": mode} if mode != "main" else {}),
                                        **score_response(row, response, reward_fn, tokenizer, config.code_timeout,
                                                        prompt)})
    finally:
        del model
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return samples, info, seconds


CACHE_SETTINGS = ("samples", "seed", "max_new_tokens", "effective_temperature", "top_p", "batch_size", "system_prompt",
                  "dtype", "code_timeout", "sampled_k", "sampled_temperature", "use_stop_at_answer")


def evaluate_model_cached(name: str, reference: str, datasets: dict[str, tuple[str, list]], config: EvalStageConfig,
                          reward_fn) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, float]]:
    """``evaluate_model``, or its earlier result when model, rows, settings and scoring code are unchanged
    (reasoning/evaluation/cache.py); generation seconds of a reused result are reported as 0."""
    from reasoning.evaluation import cache
    from reasoning.modeling.models import resolve_model

    cache_dir = config.resolved_cache_dir
    resolved = resolve_model(reference) if cache_dir else ""
    if not cache_dir or not Path(resolved).is_dir():
        return evaluate_model(name, reference, datasets, config, reward_fn)
    key = cache.evaluation_key(resolved, datasets, config.cache_settings(name, list(datasets)))
    hit = cache.load(cache_dir, key)
    if hit is not None:
        log.info("%s: reusing the evaluation cached under %s (same weights, rows, settings, code)", name, key[:16])
        samples = [{**sample, "model": name} for sample in hit["samples"]]
        # This run's directory (its train log feeds the curves), the cached numbers.
        info = {**hit["info"], "reference": reference, "resolved": resolved, "cached": key}
        return samples, info, {dataset: 0.0 for dataset in hit["seconds"]}
    samples, info, seconds = evaluate_model(name, reference, datasets, config, reward_fn)
    cache.store(cache_dir, key, {"samples": samples, "info": info, "seconds": seconds})
    return samples, info, seconds


# ------------------------------------------------------------------ training curves

def training_logs(models: dict[str, dict[str, Any]], max_depth: int = 5) -> tuple[dict[str, list], dict[str, str]]:
    """Training logs of each evaluated model and of its lineage parents (its ``base_model`` chain).

    Returns ``({label: records}, {label: directory})``; a directory shared by several
    models (sft is grpo's parent and may be evaluated too) appears once.
    """
    seen: set[str] = set()
    logs: dict[str, list] = {}
    sources: dict[str, str] = {}
    evaluated = {str(Path(info["resolved"]).resolve()): name for name, info in models.items()
                 if Path(str(info["resolved"])).is_dir()}
    for info in models.values():
        directory = info["resolved"]
        for _depth in range(max_depth):
            path = Path(str(directory))
            if not path.is_dir():
                break
            key = str(path.resolve())
            if key in seen:
                break
            seen.add(key)
            metadata = artifacts.read_metadata(path)
            records = artifacts.read_train_log(path)
            if records:
                label = f"{evaluated.get(key, path.name)} ({metadata.get('stage') or 'training'})"
                logs[label], sources[label] = records, str(path)
            parent = metadata.get("base_model") or (metadata.get("lineage") or {}).get("base_model")
            if not parent or storage.is_remote(str(parent)) or str(parent).startswith("builtin:"):
                break
            directory = parent
    return logs, sources


# ------------------------------------------------------------------ run

def run(config: EvalStageConfig) -> dict[str, Any]:
    from reasoning.evaluation.metrics import compute_metrics, flat_metrics
    from reasoning.evaluation.plots import accuracy_bar_plot, training_curves_plot
    from reasoning.evaluation.report import build_blocks, render_html, render_markdown
    from reasoning.evaluation.summary import format_summary

    log.info("evaluation config: %s", json.dumps(config_to_dict(config), default=str))
    if config.samples > 1 and config.temperature == 0:
        log.info("--samples %d with --temperature 0: sampling at temperature %.1f so the samples differ "
                 "(pass --temperature to choose another)", config.samples, SAMPLING_TEMPERATURE)
    datasets = load_datasets(config)  # bad dataset specs fail here, before any model is loaded
    storage.check_writable(config.output)
    check_long_context_memory(config)
    from reasoning.rewards import create_reward_function
    reward_fn = create_reward_function("combined")
    samples: list[dict[str, Any]] = []
    models: dict[str, dict[str, Any]] = {}
    timing: dict[str, dict[str, float]] = {}
    for name, reference in model_specs(config.models):
        model_samples, models[name], timing[name] = evaluate_model_cached(name, reference, datasets, config,
                                                                          reward_fn)
        samples += model_samples
    # The --sampled-k completions feed pass@1 / maj@k only; every other number comes from the main ones.
    sampled = [s for s in samples if s.get("mode") == "sampled"]
    samples = [s for s in samples if s.get("mode") != "sampled"]
    from reasoning.scoring.answers import answers_equivalent

    metrics: dict[str, Any] = {
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "settings": {"limit": config.limit, "samples": config.samples, "seed": config.seed,
                     "max_new_tokens": config.max_new_tokens, "temperature": config.effective_temperature,
                     "requested_temperature": config.temperature, "top_p": config.top_p,
                     "system_prompt": config.system_prompt, "stop_at_answer": config.use_stop_at_answer,
                     "sampled_k": config.sampled_k, "sampled_temperature": config.sampled_temperature,
                     "sampled_models": config.sampled_models or "all",
                     "sampled_datasets": config.sampled_datasets or "all",
                     "subset": f"Each dataset is limited to its first {config.limit} rows in file order "
                               "(the same fixed subset for every model and run)."},
        "models": models,
        "datasets": {name: {"spec": spec, "rows": len(rows),
                            "reasoning_types": dict(Counter(r.reasoning_type for r in rows))}
                     for name, (spec, rows) in datasets.items()},
        "generation_seconds": timing,
        **({"code_sandbox": code_sandbox} if (code_sandbox := sandbox_isolation(datasets)) else {}),
        "results": compute_metrics(samples, list(models), list(datasets), answers_equivalent),
    }
    accuracy = {model: {d: entry["datasets"][d]["overall"].get("accuracy") for d in datasets}
                for model, entry in metrics["results"].items()}
    curves_png, curve_sources = None, {}
    if config.use_training_curves:
        logs, curve_sources = training_logs(models)
        curves_png = training_curves_plot(logs) if logs else None
    from reasoning.evaluation.comparison import comparison_blocks, comparison_metrics, comparison_summary
    metrics["comparison"] = comparison_metrics(samples, sampled, datasets, models, config.comparison_pairs,
                                               resamples=config.bootstrap_resamples, seed=config.seed)
    blocks = build_blocks(metrics, samples, accuracy_png=accuracy_bar_plot(accuracy), curves_png=curves_png,
                          curve_sources=curve_sources, examples_per_dataset=config.examples_per_dataset)
    extra = comparison_blocks(metrics["comparison"])
    at = next((i for i, b in enumerate(blocks) if b.kind == "h2" and b.text == "Sample completions"), len(blocks))
    blocks[at:at] = extra
    if config.long_context_lengths:
        metrics["long_context"] = long_context_results(config)
        blocks += long_context_section(metrics["long_context"])
    summary = "\n".join(part for part in (format_summary(metrics), comparison_summary(metrics["comparison"])) if part)
    with storage.local_output(config.output, is_dir=True) as tmp:
        tmp = Path(tmp)
        write_json_atomic(tmp / "metrics.json", metrics)
        write_jsonl_atomic(tmp / "samples.jsonl", samples)
        if sampled:
            write_jsonl_atomic(tmp / "sampled_samples.jsonl", sampled)
        write_text_atomic(tmp / "report.md", render_markdown(blocks))
        write_text_atomic(tmp / "report.html", render_html(blocks))
        write_text_atomic(tmp / "summary.txt", summary + "\n")
        save_config(config, tmp / artifacts.CONFIG_FILE, command=_command_line())
    log.info("evaluation written to %s\n%s", config.output, summary)
    return {"output": str(config.output), "metrics": flat_metrics(metrics["results"]), "summary": summary}


def sandbox_isolation(datasets: dict[str, tuple[str, list]]) -> str | None:
    """What isolated the code completions (None without code rows): the report must say when
    code ran without namespaces (see ``reasoning.scoring.sandbox.isolation``)."""
    if not any(row.reasoning_type == "code" for _spec, rows in datasets.values() for row in rows):
        return None
    from reasoning.scoring.sandbox import isolation
    return isolation()


# ------------------------------------------------------------------ long context

def check_long_context_memory(config: EvalStageConfig) -> None:
    """Refuse lengths beyond this machine's memory, from each local model's config, before loading any."""
    if not config.long_context_lengths:
        return
    from reasoning.evaluation.long_context import check_memory
    for _, reference in model_specs(config.models):
        model_config = common.local_model_config(reference)
        if model_config is not None:
            check_memory(model_config, config.long_context_settings())


def long_context_results(config: EvalStageConfig) -> dict[str, Any]:
    """``{model name: evaluate_long_context result}`` for every evaluated model, one model in memory at a time."""
    import torch

    from reasoning.evaluation.long_context import evaluate_long_context
    from reasoning.modeling.models import load_model, load_tokenizer, resolve_model
    results = {}
    for name, reference in model_specs(config.models):
        resolved = resolve_model(reference)
        model = load_model(resolved, dtype=config.dtype, attn_implementation="sdpa").eval()
        if torch.cuda.is_available():
            model.to("cuda")
        results[name] = evaluate_long_context(model, load_tokenizer(resolved), config.long_context_settings(), log=log)
        del model
        gc.collect()
    return results


def long_context_section(results: dict[str, Any]) -> list:
    from reasoning.evaluation.long_context_report import long_context_blocks
    return long_context_blocks(results)


def _command_line() -> str:
    import shlex
    return " ".join(shlex.quote(a) for a in [os.path.basename(sys.executable), *sys.argv])


def merge_repeated_flags(argv: Sequence[str]) -> list[str]:
    """Turn repeated ``--model A --model B`` (and ``--dataset``/``--datasets``) into one comma list,
    because the generic parser keeps only the last value of a flag."""
    aliases = {"--model": "--model", "--models": "--model", "--dataset": "--datasets", "--datasets": "--datasets"}
    collected: dict[str, list[str]] = {}
    rest: list[str] = []
    argv = list(argv)
    index = 0
    while index < len(argv):
        arg = argv[index]
        flag, _, inline = arg.partition("=")
        if flag in aliases and (inline or arg == flag):
            if inline:
                value = arg.split("=", 1)[1]
            elif index + 1 < len(argv):
                index += 1
                value = argv[index]
            else:
                rest.append(arg)  # let argparse report the missing value
                break
            collected.setdefault(aliases[flag], []).append(value)
        else:
            rest.append(arg)
        index += 1
    for flag, values in collected.items():
        rest += [flag, ",".join(values)]
    return rest


def main(argv: Sequence[str] | None = None) -> int:
    # run() has logged the summary table; stdout gets the machine-readable result.
    return common.stage_main(EvalStageConfig, run, argv, prog="reasoning eval", description=__doc__.split("\n\n")[0],
                             prepare_argv=merge_repeated_flags)


if __name__ == "__main__":
    sys.exit(main())
