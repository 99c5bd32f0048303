"""Reuse a model's scored evaluation when nothing that decides it has changed.

The key is a content hash of (model weights and config, every evaluated row, the generation and
scoring settings, the source of the code that generates and scores). On a cluster KFP's own
caching plays this role; locally it saves the unchanged base model's evaluation on every later
run (the slowest part of a default CPU run: the base model rambles to the token limit).
A changed checkpoint, dataset row, setting or scoring module gives a new key, never a stale hit.
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from reasoning.io import artifacts
from reasoning.io.fileio import write_json_atomic

log = logging.getLogger(__name__)

CACHE_VERSION = 1
# Modules whose code decides the generated text or its score.
SCORING_MODULES = ("reasoning.scoring.answers", "reasoning.modeling.generation", "reasoning.scoring.sandbox", "reasoning.stages.eval",
                   "reasoning.rewards")


def _hash_file(path: Path, digest) -> None:
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)


@functools.lru_cache(maxsize=32)
def model_hash(directory: str) -> str:
    """sha256 over a model directory's weights, config and tokenizer files (names and bytes)."""
    digest = hashlib.sha256()
    root = Path(directory)
    # The artifact's own metadata (timestamps, paths, lineage) is left out: the same weights imported
    # by another run are the same model.
    files = sorted(p for p in root.iterdir() if p.is_file() and p.name != artifacts.METADATA_FILE
                   and p.suffix in (".safetensors", ".bin", ".json", ".model", ".txt", ".jinja"))
    if not files:
        raise FileNotFoundError(f"no model files in {directory}")
    for path in files:
        digest.update(path.name.encode())
        _hash_file(path, digest)
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def code_hash() -> str:
    import importlib
    digest = hashlib.sha256()
    for name in SCORING_MODULES:
        module = importlib.import_module(name)
        paths = [Path(module.__file__)]
        if paths[0].name == "__init__.py":
            paths = sorted(paths[0].parent.rglob("*.py"))
        for path in paths:
            digest.update(path.name.encode())
            _hash_file(path, digest)
    return digest.hexdigest()


def evaluation_key(model_dir: str, datasets: dict[str, tuple[str, list]], settings: dict[str, Any]) -> str:
    rows = {name: [row.to_dict() if hasattr(row, "to_dict") else row.__dict__ for row in dataset_rows]
            for name, (_spec, dataset_rows) in datasets.items()}
    payload = {"version": CACHE_VERSION, "model": model_hash(model_dir), "code": code_hash(),
               "rows": rows, "settings": settings}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def load(cache_dir: str, key: str) -> dict[str, Any] | None:
    path = Path(cache_dir) / f"{key}.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:  # a damaged entry is recomputed, not trusted
        log.warning("ignoring unreadable evaluation cache entry %s: %s", path, exc)
        return None


def store(cache_dir: str, key: str, value: dict[str, Any]) -> None:
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    write_json_atomic(Path(cache_dir) / f"{key}.json", value)
