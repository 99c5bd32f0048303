"""Atomic file output and tolerant-but-strict tabular input.

Every stage writes through these helpers so an interrupted run never leaves a file
or directory that looks complete: content goes to a temporary sibling first and is
renamed into place only after it has been fully written and flushed.
"""
from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


class InputError(ValueError):
    """Bad user input, always naming where it is: file, line, field or flag."""

    def __init__(self, message: str, *, file: str | os.PathLike | None = None,
                 line: int | None = None, field: str | None = None):
        where = []
        if file is not None:
            where.append(str(file))
        if line is not None:
            where.append(f"line {line}")
        if field is not None:
            where.append(f"field '{field}'")
        self.file, self.line, self.field = file, line, field
        super().__init__(f"{': '.join([', '.join(where), message]) if where else message}")


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[Any]:
    """Open a temporary sibling of ``path``; rename it over ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(fd)
    try:
        with open(tmp, mode, encoding=None if "b" in mode else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_file(path) as handle:
        handle.write(text)


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``path`` only when the block succeeds.

    Why: a stage killed halfway must leave its output directory either complete or
    absent, so later stages and the pipeline's caching never consume half a model.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            backup = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, backup)
            os.replace(tmp, path)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# ---------------------------------------------------------------- tabular input

TABULAR_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")


def iter_records(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_or_row_number, record)`` from JSONL, JSON, Parquet or CSV.

    Line numbers are 1-based lines of the file for JSONL and CSV (header is line 1),
    and 1-based row indexes for JSON arrays and Parquet.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("file does not exist", file=path)
    suffix = path.suffix.lower()
    if suffix == ".gz" and path.name.endswith(".jsonl.gz"):
        import gzip
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            yield from _iter_jsonl(handle, path)
        return
    if suffix == ".jsonl":
        with open(path, encoding="utf-8") as handle:
            yield from _iter_jsonl(handle, path)
    elif suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(f"invalid JSON: {exc.msg}", file=path, line=exc.lineno) from None
        if isinstance(data, dict):
            # Accept {"data": [...]} / {"rows": [...]} wrappers that exports often use.
            lists = [v for v in data.values() if isinstance(v, list)]
            data = lists[0] if len(lists) == 1 else [data]
        if not isinstance(data, list):
            raise InputError("expected a JSON array of objects", file=path)
        for index, record in enumerate(data, start=1):
            if not isinstance(record, dict):
                raise InputError(f"row {index} is {type(record).__name__}, expected an object", file=path, line=index)
            yield index, record
    elif suffix == ".parquet":
        import pyarrow.parquet as pq
        table = pq.read_table(path)
        for index, record in enumerate(table.to_pylist(), start=1):
            yield index, record
    elif suffix == ".csv":
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            for record in reader:
                yield reader.line_num, dict(record)
    else:
        raise InputError(f"unsupported file type '{suffix}'; expected one of {', '.join(TABULAR_SUFFIXES)}", file=path)


def _iter_jsonl(handle: Iterable[str], path: Path) -> Iterator[tuple[int, dict]]:
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"malformed JSON ({exc.msg}, column {exc.colno})", file=path, line=number) from None
        if not isinstance(record, dict):
            raise InputError(f"expected a JSON object, got {type(record).__name__}", file=path, line=number)
        yield number, record


def write_jsonl_atomic(path: str | os.PathLike, records: Iterable[dict]) -> int:
    count = 0
    with atomic_file(path) as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count
