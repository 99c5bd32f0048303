"""The pipeline's parameter set, validated as a whole before any stage starts.

The Kubeflow pipeline (``pipelines/reasoning_pipeline.py``) runs ``validate_parameters``
as its first task and every other task depends on it, so a bad parameter (unknown
dataset name, group size below 2, a target context that does not extend the model)
fails in seconds with a message naming the parameter, not an hour into training.

The field names here are exactly the pipeline's parameter names (a test checks that
the pipeline signature and this dataclass never drift), and the recipes in
``recipes/pipeline_*.yaml`` are mappings of these fields::

    python -m pipelines.cli run --recipe recipes/pipeline_default_cpu.yaml

This module never imports kfp: components call it from inside their bodies.
"""
from __future__ import annotations

import dataclasses
import inspect
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reasoning.config import config_to_dict, load_recipe, option
from reasoning.errors import InputError
from reasoning.modeling.models import DEFAULT_MODEL
from reasoning.rewards.config import weight_option

SCALING_TYPES = ("linear", "dynamic", "yarn", "ntk")
REASONING_TYPES = ("math", "code", "logic", "planning", "tool_use", "general")
# Names resolve_dataset knows without a path (reasoning.data.datasets); kept here too so the
# check stays cheap and still works while that module is unavailable.
KNOWN_DATASETS = ("synthetic-test", "synthetic-train", "humaneval", "gsm8k", "gsm8k-test",
                  "math500", "folio", "folio-validation")
# The taint the NVIDIA GPU operator's node pools carry (and that pipelines tolerate only with GPUs).
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
REWARD_FIELDS = ("correctness_weight", "format_weight", "consistency_weight", "length_weight", "process_weight")


@dataclass
class PipelineParameters:
    # --- inputs
    base_model: str = option(DEFAULT_MODEL, "model to start from: builtin:NAME, a HF model directory, "
                                            "an s3:// or minio:// URI, or a hub id")
    dataset: str = option("synthetic:math?n=1200&seed=0&split=train&family=arithmetic&difficulty=1",
                          "training problems: a file/URI, synthetic:math?..., or a known dataset name")
    train_rows: int = option(0, "use at most this many training rows (0 = all)")
    seed: int = option(0, "random seed of every stage")
    # --- stage 1: chain-of-thought data
    enable_cot: bool = option(True, "turn the dataset into <think> chain-of-thought rows before SFT")
    reasoning_type: str = option("math", "reasoning type of the training rows", choices=REASONING_TYPES)
    teacher_model: str = option("", "teacher model for rejection-sampled CoT ('' = templated CoT, no teacher)")
    # --- stage 2: SFT
    sft_epochs: float = option(1.0, "SFT epochs (ignored when sft_max_steps > 0)")
    sft_max_steps: int = option(150, "SFT optimizer steps (0 = run sft_epochs)")
    sft_learning_rate: float = option(3e-4, "SFT learning rate (LoRA)")
    sft_batch_size: int = option(8, "SFT per-device batch size")
    lora_r: int = option(32, "LoRA rank for SFT and GRPO (0 = full fine-tuning)")
    max_length: int = option(512, "SFT maximum tokens per row")
    # --- stage 3: context extension
    enable_context: bool = option(False, "extend the SFT model's context window (RoPE scaling) before GRPO")
    target_context: int = option(32768, "target context length in tokens (must exceed the model's)")
    scaling_type: str = option("yarn", "RoPE scaling type (linear, dynamic, yarn, ntk); several comma-separated "
                               "or 'all' sweep them and keep the best (needs long_context_lengths)")
    context_dataset: str = option("", "optional long-document dataset to fine-tune on after scaling ('' = none)")
    context_steps: int = option(0, "fine-tuning steps on context_dataset (0 = only rescale)")
    long_context_lengths: str = option("", "comma-separated context lengths (tokens) the extended model is "
                                       "evaluated at before GRPO ('' = none)")
    long_context_tasks: str = option("passkey,variables,perplexity", "long-context probes run at each length "
                                     "(passkey, variables, perplexity)")
    context_gate_metric: str = option("passkey", "long-context score of the sweep and the gate: passkey, "
                                      "variables or ppl_retention")
    context_gate_min_score: float = option(0.0, "refuse to hand the extended model to GRPO when its score at "
                                           "the longest length is below this (0 = never refuse)")
    context_gate_max_window_ppl_ratio: float = option(0.0, "also refuse an extended model whose perplexity inside "
                                                      "the original window exceeds this multiple of the unscaled "
                                                      "model's, e.g. 1.05 (0 = no limit; needs the perplexity task)")
    # --- stage 4: GRPO
    grpo_iterations: int = option(20, "GRPO optimizer steps")
    group_size: int = option(4, "completions sampled per prompt (GRPO group, >= 2)")
    grpo_learning_rate: float = option(5e-5, "GRPO learning rate")
    grpo_batch_size: int = option(8, "GRPO completions per step (a multiple of group_size)")
    max_completion_length: int = option(128, "GRPO maximum new tokens per completion")
    grpo_dynamic_sampling: bool = option(True, "GRPO dynamic sampling (DAPO): replace groups whose completions all "
                                         "got the same reward by fresh prompts (false = plain TRL sampling)")
    # the reward weights' defaults and help are RewardConfig's (reasoning/rewards/config.py)
    correctness_weight: float = weight_option("correctness_weight")
    format_weight: float = weight_option("format_weight")
    consistency_weight: float = weight_option("consistency_weight")
    length_weight: float = weight_option("length_weight")
    process_weight: float = weight_option("process_weight")
    # --- evaluation and export
    eval_datasets: str = option("synthetic-test,gsm8k-test", "comma-separated evaluation datasets (names or specs)")
    eval_limit: int = option(100, "problems per evaluation dataset")
    eval_max_new_tokens: int = option(256, "new tokens per evaluation response")
    eval_sampled_k: int = option(0, "also sample K completions per problem in the evaluation for pass@1 and maj@K "
                                 "(0 = greedy only)")
    export_destination: str = option("", "where to export the final model (local path or s3:// URI; '' = no export)")
    serve_model: bool = option(False, "when the evaluation shows the final model ahead of the base model, write a "
                                      "KServe InferenceService (vLLM) for the exported model; needs an s3:// "
                                      "export_destination")
    serving_name: str = option("reasoning-r1", "name of the InferenceService (a DNS label)")
    register_model: bool = option(False, "when the evaluation shows the final model ahead of the base model, register "
                                         "the exported model in Kubeflow Model Registry with its lineage; needs "
                                         "model_registry_address and an s3:// export_destination")
    model_registry_address: str = option("", "Model Registry REST endpoint, http(s)://host[:port] (e.g. "
                                         "http://model-registry-service.kubeflow:8080); the token comes from the "
                                         "Secret reasoning-model-registry, never from here")
    registered_model_name: str = option("reasoning-r1", "registered model in Model Registry; each run adds a "
                                        "version named by its KFP run id")
    checkpoint_uri: str = option("", "object-store prefix for training checkpoints, so a retried pod resumes; each run "
                                     "writes under <prefix>/<run id>/ ('' = none; required when num_nodes > 1)")
    # --- cluster placement (ignored by kfp.local)
    gpu_type: str = option("nvidia.com/gpu", "Kubernetes accelerator resource of the training tasks")
    gpu_count: int = option(0, "GPUs per training node (0 = CPU)")
    num_nodes: int = option(1, "training nodes (> 1 submits a distributed TrainJob)")
    eval_gpu_count: int = option(0, "GPUs for evaluation and teacher CoT sampling (0 = CPU)")
    gpu_node_selector: dict[str, str] = option(
        help="node labels the training tasks must run on, e.g. {\"nvidia.com/gpu.present\": \"true\"} ({} = any node)",
        default_factory=dict)

    def __post_init__(self) -> None:
        # Each check names the pipeline parameter; everything here is cheap (no file IO).
        def need(condition: bool, message: str, name: str) -> None:
            if not condition:
                raise InputError(f"pipeline parameter {message}", field=name)

        for name in ("base_model", "dataset", "eval_datasets"):
            need(bool(str(getattr(self, name)).strip()), "must not be empty", name)
        for name in ("train_rows", "sft_max_steps", "lora_r", "context_steps", "gpu_count", "eval_gpu_count",
                     "eval_sampled_k"):
            need(getattr(self, name) >= 0, f"must be >= 0, got {getattr(self, name)}", name)
        for name in ("sft_batch_size", "max_length", "grpo_iterations", "grpo_batch_size",
                     "max_completion_length", "eval_limit", "eval_max_new_tokens", "num_nodes", "target_context"):
            need(getattr(self, name) > 0, f"must be > 0, got {getattr(self, name)}", name)
        need(self.sft_max_steps > 0 or self.sft_epochs > 0, "must be > 0 when sft_max_steps is 0", "sft_epochs")
        for name in ("sft_learning_rate", "grpo_learning_rate"):
            need(0 < getattr(self, name) < 1, f"must be in (0, 1), got {getattr(self, name)}", name)
        need(self.group_size >= 2, f"must be >= 2 (GRPO compares completions within a group), got {self.group_size}",
             "group_size")
        need(self.grpo_batch_size % self.group_size == 0,
             f"must be a multiple of group_size ({self.group_size}), got {self.grpo_batch_size}", "grpo_batch_size")
        unknown = [t for t in self.scaling_type_list if t not in SCALING_TYPES]
        need(bool(self.scaling_type_list) and not unknown,
             f"unknown scaling type '{self.scaling_type}'; known: {', '.join(SCALING_TYPES)}, a comma list or all",
             "scaling_type")
        self._check_long_context()
        need(self.reasoning_type in REASONING_TYPES,
             f"unknown reasoning type '{self.reasoning_type}'; known: {', '.join(REASONING_TYPES)}", "reasoning_type")
        weights = [getattr(self, name) for name in REWARD_FIELDS]
        for name, value in zip(REWARD_FIELDS, weights, strict=True):
            need(value >= 0, f"must be >= 0, got {value}", name)
        need(sum(weights) > 0, "reward weights must not all be 0", "correctness_weight")
        need(self.gpu_count > 0 or self.num_nodes == 1, "multi-node training needs gpu_count > 0", "num_nodes")
        need(not self.checkpoint_uri or self.checkpoint_uri.startswith(("s3://", "minio://")),
             f"must be an s3:// or minio:// URI (or empty), got {self.checkpoint_uri!r}", "checkpoint_uri")
        need(self.num_nodes == 1 or bool(self.checkpoint_uri),
             "must be set when num_nodes > 1: the nodes exchange the model, data and output through it",
             "checkpoint_uri")
        need(not self.serve_model or self.export_destination.startswith(("s3://", "minio://")),
             "serving reads the exported model from object storage: set an s3:// export_destination",
             "export_destination")
        need(not self.serve_model or bool(re.fullmatch(r"[a-z]([-a-z0-9]{0,43}[a-z0-9])?", self.serving_name)),
             f"must be a DNS label (lower case letters, digits, '-'; at most 45), got {self.serving_name!r}",
             "serving_name")
        need(not self.register_model or self.export_destination.startswith(("s3://", "minio://")),
             "registration records where the model is stored for others to load: set an s3:// export_destination",
             "export_destination")
        need(not self.register_model or bool(self.model_registry_address.strip()),
             "must be set when register_model is true", "model_registry_address")
        if self.register_model or self.model_registry_address:
            from reasoning.pipeline.registry import check_registered_model_name, check_registry_address
            check_registry_address(self.model_registry_address)
            check_registered_model_name(self.registered_model_name)
        need(not self.context_steps or bool(self.context_dataset),
             "context_steps > 0 needs a context_dataset to train on", "context_steps")

    @property
    def scaling_type_list(self) -> list[str]:
        text = self.scaling_type.strip().lower()
        return list(SCALING_TYPES) if text == "all" else [p.strip() for p in text.split(",") if p.strip()]

    @property
    def long_context_length_list(self) -> list[int]:
        try:
            return [int(p) for p in self.long_context_lengths.split(",") if p.strip()]
        except ValueError:
            raise InputError(f"pipeline parameter must be comma-separated whole numbers, got "
                             f"{self.long_context_lengths!r}", field="long_context_lengths") from None

    def _check_long_context(self) -> None:
        """Cheap checks of the context sweep and gate; the context task checks memory and the model."""
        from reasoning.evaluation.long_context import GATE_METRICS
        lengths = self.long_context_length_list

        def need(condition: bool, message: str, name: str) -> None:
            if not condition:
                raise InputError(f"pipeline parameter {message}", field=name)

        need(self.context_gate_metric in GATE_METRICS,
             f"unknown metric '{self.context_gate_metric}'; known: {', '.join(GATE_METRICS)}", "context_gate_metric")
        need(0 <= self.context_gate_min_score <= 1, f"must be in [0, 1], got {self.context_gate_min_score}",
             "context_gate_min_score")
        from reasoning.evaluation.long_context import TASKS
        tasks = [t.strip() for t in self.long_context_tasks.split(",") if t.strip()]
        window_limit = self.context_gate_max_window_ppl_ratio
        need(window_limit == 0 or window_limit >= 1, f"must be 0 (no limit) or >= 1, got {window_limit}",
             "context_gate_max_window_ppl_ratio")
        need(not window_limit or (bool(lengths) and "perplexity" in tasks),
             "the window limit compares perplexity with the unscaled model's: it needs long_context_lengths and "
             "'perplexity' in long_context_tasks", "context_gate_max_window_ppl_ratio")
        need(bool(tasks) and all(t in TASKS for t in tasks),
             f"unknown or no tasks {tasks}; known: {', '.join(TASKS)}", "long_context_tasks")
        from reasoning.evaluation.long_context import GATE_METRIC_TASK
        need(not lengths or GATE_METRIC_TASK.get(self.context_gate_metric) in tasks,
             f"'{self.context_gate_metric}' needs the task '{GATE_METRIC_TASK.get(self.context_gate_metric)}' in "
             f"long_context_tasks ({self.long_context_tasks})", "context_gate_metric")
        need(all(n >= 256 for n in lengths), f"lengths must be >= 256 tokens, got {lengths}", "long_context_lengths")
        need(not lengths or max(lengths) <= self.target_context,
             f"lengths must not exceed target_context {self.target_context}, got {lengths}", "long_context_lengths")
        need(bool(lengths) or len(self.scaling_type_list) == 1,
             "a sweep of scaling types needs long_context_lengths to choose by", "scaling_type")
        need(bool(lengths) or not self.context_gate_min_score, "the gate needs long_context_lengths",
             "context_gate_min_score")
        need(len(self.scaling_type_list) == 1 or not self.context_steps,
             "a sweep only rescales: fine-tune (context_steps) one chosen scaling_type", "context_steps")

    @property
    def eval_dataset_list(self) -> list[str]:
        return [part.strip() for part in self.eval_datasets.split(",") if part.strip()]

    @property
    def reward_weights(self) -> dict[str, float]:
        return {name: float(getattr(self, name)) for name in REWARD_FIELDS}


def run_checkpoint_prefix(checkpoint_uri: str, run_id: str) -> str:
    """``<checkpoint_uri>/<run id>``: resume finds this run's checkpoints (a retried pod), never another
    run's, which trained other data or settings under the same prefix. '' stays '' (no checkpoints)."""
    if not checkpoint_uri:
        return ""
    run_id = str(run_id or "").strip()
    if not run_id or run_id.startswith("{{"):
        raise InputError(f"a run id is needed to give checkpoints a per-run prefix, got {run_id!r}", field="run_id")
    return f"{checkpoint_uri.rstrip('/')}/{run_id}"


def task_placement(params: PipelineParameters) -> dict[str, Any]:
    """What the KFP tasks are given, derived once from the parameters (the validate task's outputs).

    - ``train_task_gpus``: GPUs of a training task's own pod. With several nodes that pod only
      submits and follows the TrainJob, so it holds none.
    - ``context_task_gpus`` / ``cot_task_gpus``: the same for the optional stages, 0 when the stage
      is off: its task still runs (the graph is flat) but only writes a skipped marker, and must
      not wait for a GPU node to do that. CoT wants GPUs (``eval_gpu_count``) only to sample a teacher.
    - ``<kind>_tolerations``: the GPU taint toleration only for tasks that request GPUs; a CPU
      task has no business on a GPU node.
    - ``<kind>_node_selector``: ``gpu_node_selector`` likewise, so a pod without the toleration is
      never pinned to tainted nodes (it would stay Pending).
    """
    train_gpus = params.gpu_count if params.num_nodes == 1 else 0
    gpus = {"train": train_gpus, "context": train_gpus if params.enable_context else 0,
            "cot": params.eval_gpu_count if params.enable_cot and params.teacher_model else 0,
            "eval": params.eval_gpu_count}
    placement: dict[str, Any] = {f"{kind}_task_gpus": gpus[kind] for kind in ("train", "context", "cot")}
    for kind, count in gpus.items():
        placement[f"{kind}_tolerations"] = [dict(GPU_TOLERATION)] if count > 0 else []
        placement[f"{kind}_node_selector"] = dict(params.gpu_node_selector) if count > 0 else {}
    return placement


def parameter_defaults() -> dict[str, Any]:
    return config_to_dict(PipelineParameters())


PARAMETER_NAMES = tuple(field.name for field in dataclasses.fields(PipelineParameters))
# what a field's annotation (a string: postponed annotations) is as a Kubeflow parameter type
_PIPELINE_TYPES = {"str": str, "int": int, "float": float, "bool": bool}


def parameter_type(field: dataclasses.Field) -> type:
    return dict if str(field.type).startswith("dict") else _PIPELINE_TYPES[str(field.type)]


def pipeline_signature() -> inspect.Signature:
    """The pipeline function's parameters, made from the dataclass: every field in order with its
    type and default (the Kubeflow run form). pipelines/reasoning_pipeline.py sets it as the
    function's ``__signature__``, which is what the KFP compiler reads."""
    defaults = parameter_defaults()
    return inspect.Signature([
        inspect.Parameter(field.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=defaults[field.name],
                          annotation=parameter_type(field))
        for field in dataclasses.fields(PipelineParameters)])


def pipeline_docstring(summary: str) -> str:
    """``summary`` and an ``Args:`` section with every field's help, from which the KFP compiler
    takes each pipeline input's description."""
    lines = [summary, "", "Args:"]
    lines += [f"    {field.name}: {field.metadata['help']}" for field in dataclasses.fields(PipelineParameters)]
    return "\n".join(lines)


TABLE_START = "<!-- pipeline parameters: generated from PipelineParameters by `python -m pipelines.cli params --update README.md` -->"
TABLE_END = "<!-- end of pipeline parameters -->"


def parameter_table() -> str:
    """The README's table of pipeline parameters (name, type, default, help), made from the dataclass;
    tests/test_parameter_schema.py fails when the README's copy differs."""
    import json

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("<", "&lt;").replace("\n", " ")
    defaults = parameter_defaults()
    rows = ["| parameter | type | default | what it sets |", "|---|---|---|---|"]
    for field in dataclasses.fields(PipelineParameters):
        default = json.dumps(defaults[field.name])
        rows.append(f"| `{field.name}` | {parameter_type(field).__name__} | `{cell(default)}` | "
                    f"{cell(field.metadata['help'])} |")
    return "\n".join([TABLE_START, *rows, TABLE_END])


def replace_parameter_table(text: str) -> str:
    """``text`` (a README) with the generated table between its markers."""
    start, end = text.find(TABLE_START), text.find(TABLE_END)
    if start < 0 or end < start:
        raise InputError(f"no parameter table markers ({TABLE_START!r} ... {TABLE_END!r})", field="README")
    return text[:start] + parameter_table() + text[end + len(TABLE_END):]


def pipeline_values(values: dict[str, Any]) -> dict[str, Any]:
    """The pipeline parameters among a component's arguments (``locals()`` on entry): every plain
    value whose name is a field. A component hands them to ``make_parameters`` as they are, so its
    body never lists them again; artifacts (objects) named like a field are left out."""
    plain = (str, int, float, bool, dict, list)
    return {name: value for name, value in values.items() if name in PARAMETER_NAMES and isinstance(value, plain)}


def load_pipeline_recipe(path: str | os.PathLike) -> dict[str, Any]:
    """A ``recipes/pipeline_*.yaml`` mapping, with unknown keys refused (file and key named)."""
    return load_recipe(path, PipelineParameters)


def _coerce(values: dict[str, Any]) -> dict[str, Any]:
    """KFP and ``key=value`` CLIs deliver numbers as int/float/str; normalise to the field types."""
    types = {f.name: f.type for f in dataclasses.fields(PipelineParameters)}
    result = {}
    for key, value in values.items():
        if key not in types:
            known = ", ".join(sorted(types))
            raise InputError(f"unknown pipeline parameter; known: {known}", field=key)
        kind = types[key]
        try:
            if kind == "bool" and isinstance(value, str):
                lowered = value.strip().lower()
                if lowered not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                value = lowered in ("true", "1", "yes")
            elif kind == "int" and not isinstance(value, bool):
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError(value)
                value = int(value)
            elif kind == "float" and not isinstance(value, bool):
                value = float(value)
            elif kind == "str":
                value = "" if value is None else str(value)
            elif kind.startswith("dict"):
                value = json.loads(value) if isinstance(value, str) else (value or {})
                if not isinstance(value, dict):
                    raise ValueError(value)
                value = {str(k): str(v) for k, v in value.items()}
        except (TypeError, ValueError, json.JSONDecodeError):
            raise InputError(f"pipeline parameter expects {kind}, got {value!r}", field=key) from None
        result[key] = value
    return result


def make_parameters(values: dict[str, Any] | None = None) -> PipelineParameters:
    """Build (and cheaply validate) the parameter set from a mapping of field -> value."""
    return PipelineParameters(**_coerce(dict(values or {})))


# ------------------------------------------------------------------ checks that read inputs

def original_context_length(model: str) -> int | None:
    """The model's trained context (from its config), or None where it cannot be read cheaply."""
    from reasoning.modeling.models import resolve_model
    from reasoning.paths import cache_dir
    text = str(model)
    if text.startswith(("s3://", "minio://")):
        return None
    if text.startswith("builtin:"):
        cached = cache_dir() / "models" / text.split(":", 1)[1] / "config.json"
        config_path = cached if cached.exists() else Path(resolve_model(text)) / "config.json"
    else:
        config_path = Path(text).expanduser() / "config.json"
    if not config_path.exists():
        return None  # a hub id: the context stage checks it once the config is downloaded
    config = json.loads(config_path.read_text())
    rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
    length = rope.get("original_max_position_embeddings") or config.get("max_position_embeddings")
    return int(length) if length else None


def check_dataset_spec(spec: str, name: str) -> None:
    """Fail on a dataset spec that cannot be resolved, naming the pipeline parameter."""
    from reasoning.data.datasets import split_limit
    from reasoning.io.storage import is_remote
    text, _limit = split_limit(spec.strip())
    if is_remote(text):
        return  # resolving it means downloading; the import task reports a missing object
    if text.startswith("synthetic:") or "=" in text.split("?", 1)[0]:
        pass  # parsed by resolve_dataset below
    elif text not in KNOWN_DATASETS and not Path(text).expanduser().exists():
        raise InputError(f"pipeline parameter: unknown dataset '{text}' (not a known name and no such file); "
                         f"known names: {', '.join(KNOWN_DATASETS)}, synthetic:math?n=..., a file or an s3:// URI",
                         field=name)
    try:
        from reasoning.data.datasets import resolve_dataset
    except ImportError:
        return
    spec_only = text.split("=", 1)[1] if "=" in text.split("?", 1)[0] and not text.startswith("synthetic:") else text
    try:
        rows = resolve_dataset(spec_only, limit=1)
    except InputError as exc:
        raise InputError(f"pipeline parameter: dataset '{text}' cannot be read: {exc}", field=name) from None
    if not rows:
        raise InputError(f"pipeline parameter: dataset '{text}' has no rows", field=name)


def validate_parameters(values: dict[str, Any] | None = None, *, check_inputs: bool = True) -> dict[str, Any]:
    """Validate the whole parameter set; returns the normalised mapping.

    ``check_inputs`` also resolves the model and dataset references (cheap: one row
    each) and compares ``target_context`` with the model's own context length.
    """
    params = make_parameters(values)
    if check_inputs:
        from reasoning.modeling.models import check_model_reference
        for name in ("base_model", "teacher_model"):
            reference = getattr(params, name)
            if reference:
                try:
                    check_model_reference(reference)
                except InputError as exc:
                    raise InputError(f"pipeline parameter: {exc}", field=name) from None
        check_dataset_spec(params.dataset, "dataset")
        for spec in params.eval_dataset_list:
            check_dataset_spec(spec, "eval_datasets")
        if params.context_dataset:
            check_dataset_spec(params.context_dataset, "context_dataset")
        if params.enable_context:
            original = original_context_length(params.base_model)
            if original is not None and params.target_context <= original:
                raise InputError(f"pipeline parameter must exceed the model's context length {original} "
                                 f"(got {params.target_context})", field="target_context")
            lengths = params.long_context_length_list
            if original is not None and params.context_gate_min_score and lengths and max(lengths) <= original:
                raise InputError(f"pipeline parameter: the gate length {max(lengths)} lies inside the model's "
                                 f"window {original}, so it would not test the extension", field="long_context_lengths")
    return config_to_dict(params)


# ------------------------------------------------------------------ stage configs

def _training_common(params: PipelineParameters, stage: str, model: str, dataset: str, output: str) -> dict[str, Any]:
    config: dict[str, Any] = {"model": str(model), "dataset": str(dataset), "output": str(output),
                              "seed": params.seed}
    if params.lora_r > 0:
        # alpha = 2r keeps LoRA's scaling (alpha / r) the same whatever the rank.
        config.update({"use_lora": True, "lora_r": params.lora_r, "lora_alpha": 2 * params.lora_r})
    else:
        config["use_lora"] = False
    # Gradient checkpointing and precision stay "auto": each stage resolves them on the machine
    # it runs on (stages.common.resolve_settings) and records the resolved values.
    if params.checkpoint_uri:
        # A retried pod starts with an empty disk: resume pulls the stage's checkpoints back.
        config.update({"checkpoint_uri": f"{params.checkpoint_uri.rstrip('/')}/{stage}", "resume": True})
    return config


def sft_stage_config(params: PipelineParameters, *, model: str, dataset: str, output: str) -> dict[str, Any]:
    """SFTStageConfig fields for the pipeline's SFT task."""
    config = _training_common(params, "sft", model, dataset, output)
    config.update({"epochs": float(params.sft_epochs), "max_steps": params.sft_max_steps or -1,
                   "learning_rate": params.sft_learning_rate, "batch_size": params.sft_batch_size,
                   "max_length": params.max_length, "limit": params.train_rows})
    return config


def grpo_stage_config(params: PipelineParameters, *, model: str, dataset: str, output: str) -> dict[str, Any]:
    """GRPOStageConfig fields for the pipeline's GRPO task."""
    config = _training_common(params, "grpo", model, dataset, output)
    config.update({"iterations": params.grpo_iterations, "group_size": params.group_size,
                   "learning_rate": params.grpo_learning_rate, "batch_size": params.grpo_batch_size,
                   "max_completion_length": params.max_completion_length, "limit": params.train_rows,
                   "dynamic_sampling": bool(params.grpo_dynamic_sampling), **params.reward_weights})
    return config


def context_stage_config(params: PipelineParameters, *, model: str, output: str,
                         dataset: str | None = None) -> dict[str, Any]:
    """ContextStageConfig fields for the pipeline's context-extension task."""
    config = _training_common(params, "context", model, dataset or "", output)
    config.update({"long_context_lengths": params.long_context_length_list,
                   "long_context_tasks": [t.strip() for t in params.long_context_tasks.split(",") if t.strip()],
                   "gate_metric": params.context_gate_metric, "gate_min_score": params.context_gate_min_score,
                   "gate_max_window_ppl_ratio": params.context_gate_max_window_ppl_ratio})
    config.update({"target_context": params.target_context, "scaling_type": params.scaling_type,
                   "steps": params.context_steps if dataset else 0})
    return config


def eval_models(base: str | None, sft: str | None, grpo: str | None) -> dict[str, str]:
    """The models the evaluation compares, in pipeline order (absent ones left out)."""
    return {name: path for name, path in (("base", base), ("sft", sft), ("grpo", grpo)) if path}
