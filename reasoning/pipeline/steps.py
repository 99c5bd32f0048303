"""What each Kubeflow component does, as plain functions (no kfp here).

A component body in ``components/<name>/component.py`` only unpacks its artifacts and
calls one function of this module, so the logic is tested without Kubeflow and the
benchmark can run the same steps in-process (``run_steps_directly``) to measure what
kfp.local adds.

Artifact layout inside the pipeline:
- a Model artifact is a model directory as defined in ``reasoning.io.artifacts``;
- a Dataset artifact is a directory holding ``rows.jsonl`` (the row format) and its
  lineage sidecar ``rows.jsonl.meta.json``; a directory, so the sidecar travels with
  the rows when Kubeflow uploads the artifact;
- an optional stage that is switched off still runs (the graph is flat: one task per stage,
  the same graph in kfp.local and on a cluster) but writes only a *skipped marker*, a
  directory holding ``reasoning_artifact.json`` that says which stage and why
  (``skip_stage``), and the task after it takes both that output and the input the stage
  would have changed and keeps one (``stage_input``).
"""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from reasoning.errors import InputError
from reasoning.io.artifacts import METADATA_FILE, finish_model_artifact, read_metadata, write_dataset_metadata
from reasoning.io.fileio import atomic_dir, write_json_atomic

log = logging.getLogger(__name__)

ROWS_FILE = "rows.jsonl"
REPORT_NAMES = {"html": ("report.html",), "markdown": ("report.md", "README.md")}


def dataset_rows(artifact: str | os.PathLike) -> Path:
    """The rows file of a Dataset artifact (a directory), or the path itself if it is a file."""
    path = Path(artifact)
    return path / ROWS_FILE if path.is_dir() else path


def skip_stage(output_dir: str | os.PathLike, stage: str, reason: str) -> dict[str, Any]:
    """Write the skipped marker of a disabled stage into its output artifact: a few hundred bytes
    instead of a copy of the model or rows the stage would have passed on (on a cluster KFP
    uploads every output artifact as a new object). Returns the artifact's UI metadata."""
    if not reason.strip():
        raise ValueError("a skipped stage needs a reason")
    with atomic_dir(output_dir) as tmp:
        write_json_atomic(tmp / METADATA_FILE, {"kind": "skipped", "stage": stage, "skipped": reason})
    log.info("stage %s skipped: %s", stage, reason)
    return {"kind": "skipped", "stage": stage, "skipped": reason}


def skipped_reason(artifact: str | os.PathLike) -> str | None:
    """Why the stage that wrote ``artifact`` was skipped, or None when it ran."""
    path = Path(artifact)
    if not (path / METADATA_FILE).is_file():
        return None
    metadata = read_metadata(path)
    return str(metadata["skipped"]) if metadata.get("kind") == "skipped" else None


def stage_input(produced: str | os.PathLike | None, fallback: str | os.PathLike, *, stage: str) -> Path:
    """What the task after an optional stage works on: the stage's output, or, when the stage was
    skipped (or not wired, as in a component test), the input it would have changed.

    The one place where an optional stage's choice is made, so every consumer of the stage
    (GRPO after context extension, SFT after CoT, registration's lineage) picks alike.
    """
    if produced is None:
        return Path(fallback)
    reason = skipped_reason(produced)
    if reason is None:
        if not Path(produced).exists():
            raise InputError(f"the {stage} stage's output is missing", file=produced)
        return Path(produced)
    log.info("%s stage skipped (%s): using %s", stage, reason, fallback)
    return Path(fallback)


def _link_or_copy(src: str, dst: str) -> None:
    # Hard links make importing a local model free on one disk; copy across devices.
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def import_model(source: str, output_dir: str | os.PathLike) -> dict[str, Any]:
    """Materialise a model reference (builtin:, directory, URI, hub id) as a model artifact."""
    from reasoning.modeling.models import check_model_reference, resolve_model
    check_model_reference(source)
    resolved = resolve_model(source)
    with atomic_dir(output_dir) as tmp:
        if Path(resolved).is_dir():
            shutil.copytree(resolved, tmp, dirs_exist_ok=True, copy_function=_link_or_copy,
                            ignore=shutil.ignore_patterns(METADATA_FILE, "*.checkpoints"))
        else:  # a hub id: download it once here so later tasks get plain files
            from reasoning.modeling.models import load_model, load_tokenizer
            load_model(resolved).save_pretrained(tmp, safe_serialization=True)
            load_tokenizer(resolved).save_pretrained(tmp)
        upstream = read_metadata(resolved) if Path(resolved).is_dir() else {}
        metadata = finish_model_artifact(tmp, stage="import", base_model=source, config={"source": source},
                                         lineage={"upstream": upstream} if upstream else {})
    return _summary(metadata)


def import_dataset(source: str, output_dir: str | os.PathLike, limit: int = 0) -> dict[str, Any]:
    """Resolve a dataset spec into rows in the row format (a Dataset artifact directory)."""
    from reasoning.data.datasets import resolve_dataset
    from reasoning.schema import write_rows
    rows = resolve_dataset(source, limit=limit or None)
    if not rows:
        raise InputError("the dataset has no rows", file=source, field="dataset")
    with atomic_dir(output_dir) as tmp:
        count = write_rows(tmp / ROWS_FILE, rows)
        types = sorted({row.reasoning_type for row in rows})
        metadata = write_dataset_metadata(tmp / ROWS_FILE, stage="import", source=source, rows=count,
                                          config={"source": source, "limit": limit},
                                          extra={"reasoning_types": types})
    return _summary(metadata)


def generate_cot(input_dir: str | os.PathLike, output_dir: str | os.PathLike, reasoning_type: str = "math",
                 teacher: str | None = None, seed: int = 0) -> dict[str, Any]:
    """Stage 1: turn problems into <think> chain-of-thought rows (templated, or a teacher's samples)."""
    from reasoning.cot import CoTGenerator
    generator = CoTGenerator(teacher=teacher or None, seed=seed) if teacher else CoTGenerator()
    with atomic_dir(output_dir) as tmp:
        report = generator.generate_from_dataset(str(dataset_rows(input_dir)), str(tmp / ROWS_FILE),
                                                 reasoning_type=reasoning_type)
        metadata = read_metadata(tmp / ROWS_FILE)
    summary = _summary(metadata)
    summary["report"] = _plain(report)
    return summary


def run_training_stage(stage: str, config: dict[str, Any], *, gpus: int = 0, num_nodes: int = 1) -> dict[str, Any]:
    """Run sft / grpo / context through the launcher (in-process, accelerate, or a TrainJob).

    Several nodes cannot see this pod's files (KFP hands a component local paths such as
    ``/s3/...``): the inputs go to object storage first, the nodes write the output there,
    and it comes back to the artifact's local path, from which KFP uploads it as usual.
    """
    from reasoning.io import storage
    from reasoning.pipeline.launch import run_stage
    if num_nodes <= 1:
        return dict(run_stage(stage, config, gpus=gpus, num_nodes=num_nodes) or {})
    remote, local_output = through_object_store(config)
    result = dict(run_stage(stage, remote, gpus=gpus, num_nodes=num_nodes) or {})
    storage.download(remote["output"], local_output)
    result["output"] = local_output
    return result


def train_in_pipeline(stage: str, arguments: dict[str, Any], *, model: str | os.PathLike, output: str | os.PathLike,
                      dataset: str | os.PathLike | None = None, log_metric: Any = None) -> dict[str, Any]:
    """What a training component (sft, context, grpo) does: the pipeline parameters among its
    ``arguments`` (``locals()`` on entry) make the stage config, the stage runs through the launcher,
    each final metric goes to ``log_metric(name, value)`` (KFP's Metrics.log_metric); returns the
    output's UI metadata. ``dataset``: a Dataset artifact directory, or the context stage's spec."""
    from reasoning.pipeline.params import (
        context_stage_config,
        grpo_stage_config,
        make_parameters,
        pipeline_values,
        sft_stage_config,
    )
    params = make_parameters(pipeline_values(arguments))
    if stage == "context":
        config = context_stage_config(params, model=str(model), output=str(output),
                                      dataset=str(dataset) if dataset else None)
    else:
        build = {"sft": sft_stage_config, "grpo": grpo_stage_config}[stage]
        config = build(params, model=str(model), dataset=str(dataset_rows(dataset)), output=str(output))
    result = run_training_stage(stage, config, gpus=params.gpu_count, num_nodes=params.num_nodes)
    if log_metric is not None:
        for name, value in numeric_metrics(result.get("metrics", {})).items():
            log_metric(name, value)
    return artifact_metadata(output)


def exchange_prefix(config: dict[str, Any]) -> str:
    """Where a multi-node stage's inputs and output travel: beside its checkpoints (a per-run prefix)."""
    checkpoints = str(config.get("checkpoint_uri") or "")
    if not checkpoints:
        raise InputError("a multi-node run exchanges the model, data and output through object storage: "
                         "set checkpoint_uri to an s3:// prefix", field="checkpoint_uri")
    # a sibling of the checkpoint prefix, never inside it: checkpoint syncs prune what they did not write
    return f"{checkpoints.rstrip('/')}.exchange"


def through_object_store(config: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """(the config with local model/dataset uploaded and the output remote, the local output path)."""
    from reasoning.io import storage
    prefix = exchange_prefix(config)
    remote = dict(config)
    for field in ("model", "dataset"):
        value = str(config.get(field) or "")
        if not value or storage.is_remote(value) or not Path(value).exists():
            continue  # builtin:, synthetic:, hub ids and URIs are readable from every node as they are
        local = Path(value)
        remote[field] = storage.upload(local, f"{prefix}/{field}" + ("" if local.is_dir() else f"/{local.name}"))
    remote["output"] = f"{prefix}/output"
    return remote, str(config["output"])


def evaluate_models(models: dict[str, str], datasets: list[str], output_dir: str | os.PathLike, *,
                    limit: int, max_new_tokens: int, seed: int = 0, sampled_k: int = 0) -> dict[str, Any]:
    """Evaluate each named model on each dataset; the report lands in ``output_dir``."""
    from reasoning.stages.eval import EvalStageConfig, run
    if not models:
        raise InputError("no model to evaluate", field="models")
    config = EvalStageConfig(models=[f"{name}={path}" for name, path in models.items()], datasets=list(datasets),
                             limit=limit, max_new_tokens=max_new_tokens, seed=seed, sampled_k=sampled_k,
                             output=str(output_dir))
    return dict(run(config) or {})


def report_file(report_dir: str | os.PathLike, kind: str) -> Path:
    """The HTML or Markdown report inside an evaluation output directory."""
    report_dir = Path(report_dir)
    for name in REPORT_NAMES[kind]:
        if (report_dir / name).exists():
            return report_dir / name
    found = sorted(report_dir.rglob("*.html" if kind == "html" else "*.md"))
    if not found:
        raise FileNotFoundError(f"no {kind} report in {report_dir}")
    return found[0]


def export_model(model_dir: str | os.PathLike, destination: str) -> dict[str, Any]:
    """Copy a model artifact to a local path or an s3:// / minio:// URI (atomically)."""
    from reasoning.io.storage import local_output
    if not destination:
        raise InputError("an export destination is required", field="export_destination")
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").exists():
        raise InputError("not a model directory (no config.json)", file=model_dir)
    with local_output(destination, is_dir=True) as tmp:
        shutil.copytree(model_dir, tmp, dirs_exist_ok=True)
    metadata = read_metadata(model_dir)
    return {"destination": destination, "sha256": metadata.get("sha256"), "stage": metadata.get("stage"),
            "base_model": metadata.get("base_model")}


def numeric_metrics(metrics: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Flatten nested metrics into ``a/b/c -> float`` (what Metrics.log_metric accepts)."""
    flat: dict[str, float] = {}
    for key, value in (metrics or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(numeric_metrics(value, prefix=f"{name}/"))
        elif isinstance(value, bool):
            flat[name] = float(value)
        elif isinstance(value, (int, float)):
            flat[name] = float(value)
    return flat


def artifact_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """What the Kubeflow UI shows for a model or dataset artifact (flat, JSON-friendly)."""
    path = Path(path)
    if path.is_dir() and (path / ROWS_FILE).exists():
        path = path / ROWS_FILE
    return _summary(read_metadata(path))


def _summary(metadata: dict[str, Any]) -> dict[str, Any]:
    keep = ("kind", "stage", "source", "base_model", "rows", "sha256", "parameters", "reasoning_types")
    summary = {key: metadata[key] for key in keep if metadata.get(key) is not None}
    for key, value in numeric_metrics(metadata.get("metrics") or {}).items():
        summary[f"metric/{key}"] = value
    return summary


def _plain(value: Any) -> Any:
    """A report object (dataclass, dict) as JSON-friendly data."""
    import dataclasses
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


__all__ = ["ROWS_FILE", "artifact_metadata", "dataset_rows", "evaluate_models", "export_model",
           "generate_cot", "import_dataset", "import_model", "numeric_metrics", "report_file", "run_training_stage",
           "skip_stage", "skipped_reason", "stage_input", "through_object_store", "train_in_pipeline"]
