"""The layout of every artifact a stage writes, defined once.

A model artifact is a directory that ``from_pretrained`` loads as it is::

    <output>/
      config.json, model.safetensors, tokenizer.json, ...   the standalone HF model (LoRA merged)
      adapter/                   the LoRA adapter, when the stage was asked to keep it
      reasoning_artifact.json    metadata + lineage: stage, base model, sha256, parameters, metrics
      resolved_config.yaml       the stage config that produced it, headed by the command
      train_log.jsonl            one JSON object per logged step (loss, reward, kl, ...)
      README.md                  a short model card

A dataset artifact is a JSONL file in the row format of ``reasoning.schema``; its lineage
lives in ``<file>.meta.json`` next to it (and in the KFP artifact's metadata).

Checkpoints live beside the output, in ``<output>.checkpoints/``, so the output itself is
written atomically (complete or absent) while a preempted run can still resume.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from reasoning.io.fileio import write_json_atomic, write_text_atomic

METADATA_FILE = "reasoning_artifact.json"
CONFIG_FILE = "resolved_config.yaml"
TRAIN_LOG_FILE = "train_log.jsonl"
MODEL_CARD_FILE = "README.md"
ADAPTER_DIR = "adapter"
DATASET_META_SUFFIX = ".meta.json"


def checkpoint_dir(output: str | os.PathLike) -> Path:
    output = Path(output)
    return output.with_name(output.name + ".checkpoints")


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def tree_sha256(root: str | os.PathLike, exclude: Iterable[str] = (METADATA_FILE,)) -> str:
    """One digest over every file's relative path and content (order independent of the OS)."""
    root = Path(root)
    excluded = set(exclude)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root).as_posix()
        if relative in excluded:
            continue
        digest.update(relative.encode() + b"\0" + file_sha256(path).encode() + b"\n")
    return digest.hexdigest()


def write_train_log(directory: str | os.PathLike, records: Iterable[dict]) -> None:
    lines = "".join(json.dumps(r, default=float) + "\n" for r in records)
    write_text_atomic(Path(directory) / TRAIN_LOG_FILE, lines)


def read_train_log(directory: str | os.PathLike) -> list[dict]:
    path = Path(directory) / TRAIN_LOG_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """Metadata of a model directory or a dataset file ({} when there is none)."""
    path = Path(path)
    meta = path / METADATA_FILE if path.is_dir() else path.with_name(path.name + DATASET_META_SUFFIX)
    return json.loads(meta.read_text()) if meta.exists() else {}


def base_metadata(stage: str, source: str | None, config: dict[str, Any] | None = None) -> dict[str, Any]:
    from reasoning import __version__
    return {"stage": stage, "source": source, "config": config or {},
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "reasoning_version": __version__, "python": platform.python_version()}


def finish_model_artifact(directory: str | os.PathLike, *, stage: str, base_model: str,
                          config: dict[str, Any], metrics: dict[str, Any] | None = None,
                          parameters: int | None = None, lineage: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write metadata (with the tree's sha256) and the model card into a model directory."""
    directory = Path(directory)
    metadata = base_metadata(stage, base_model, config)
    metadata.update({"kind": "model", "base_model": base_model, "parameters": parameters,
                     "metrics": metrics or {}, "lineage": lineage or {}})
    write_text_atomic(directory / MODEL_CARD_FILE, model_card(metadata))
    metadata["sha256"] = tree_sha256(directory)
    write_json_atomic(directory / METADATA_FILE, metadata)
    return metadata


def write_dataset_metadata(path: str | os.PathLike, *, stage: str, source: str | None, rows: int,
                           config: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    path = Path(path)
    metadata = base_metadata(stage, source, config)
    metadata.update({"kind": "dataset", "rows": rows, "sha256": file_sha256(path), **(extra or {})})
    write_json_atomic(path.with_name(path.name + DATASET_META_SUFFIX), metadata)
    return metadata


def model_card(metadata: dict[str, Any]) -> str:
    metrics = metadata.get("metrics") or {}
    lines = [f"# {metadata['stage']} model", "",
             f"- Base model: `{metadata.get('base_model')}`",
             f"- Produced by stage `{metadata['stage']}` of the reasoning pipeline "
             f"(reasoning {metadata.get('reasoning_version')}) on {metadata['created_at']}",
             f"- Parameters: {metadata.get('parameters') or 'n/a'}",
             "- Output format: `<think>` reasoning `</think>` followed by the final answer.", ""]
    if metrics:
        lines += ["## Metrics", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in sorted(metrics.items())]
        lines.append("")
    lines += ["## Files", "", f"- `{CONFIG_FILE}`: the resolved stage config (rerun it with `--config`).",
              f"- `{TRAIN_LOG_FILE}`: the training log, one JSON object per logged step.",
              f"- `{METADATA_FILE}`: lineage and checksums.", ""]
    return "\n".join(lines)


def count_parameters(model: Any) -> int:
    return int(sum(p.numel() for p in model.parameters()))
