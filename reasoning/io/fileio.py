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

from reasoning.errors import EXIT_TERMINATED, InputError


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _umask() -> int:
    """The process umask, read without changing it (os.umask sets it, racing other threads)."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def normal_permissions(path: str | os.PathLike, directory: bool) -> None:
    """0666/0777 less the umask (0644/0755 usually), as ``open``/``mkdir`` would have made it.

    Why: mkstemp and mkdtemp create 0600/0700, so without this an atomically written output
    could be read only by the user who wrote it, not by a sidecar or another user in the pod."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


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
        normal_permissions(tmp, directory=False)
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
        normal_permissions(tmp, directory=True)
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




@contextlib.contextmanager
def exit_cleanly_on_sigterm() -> Iterator[None]:
    """Inside: SIGTERM raises SystemExit(143) instead of killing the process outright.

    Why: the default action ends the process without unwinding, so the ``finally`` and
    ``except BaseException`` clauses of ``atomic_file`` / ``atomic_dir`` / ``local_output``
    never run and their hidden temporary files and ``.partial`` directories stay behind.
    Only in the main thread (where Python delivers signals); elsewhere it does nothing."""
    import signal
    import threading
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum, frame):
        raise SystemExit(EXIT_TERMINATED)
    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# ---------------------------------------------------------------- tabular input

TABULAR_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")


def check_data_file(path: Path, display: str | os.PathLike | None = None) -> None:
    """A clear InputError for a path that is missing or a directory (before it is opened)."""
    if not path.exists():
        raise InputError("file does not exist", file=display or path)
    if path.is_dir():
        raise InputError(f"is a directory, expected a data file ({', '.join(TABULAR_SUFFIXES)})", file=display or path)


@contextlib.contextmanager
def read_errors_named(path: str | os.PathLike) -> Iterator[None]:
    """Turn what reading a file can raise (binary content, no permission, a corrupt archive)
    into an InputError naming the file. (No line number for undecodable bytes: text is
    decoded in blocks, so the line being parsed is not the one holding the byte.)"""
    try:
        yield
    except UnicodeDecodeError as exc:
        raise InputError(f"is not UTF-8 text (a binary file?): undecodable byte 0x{exc.object[exc.start]:02x}",
                         file=path) from None
    except PermissionError:
        raise InputError("cannot be read: permission denied", file=path) from None
    except IsADirectoryError:
        raise InputError("is a directory, expected a data file", file=path) from None
    except (EOFError, OSError) as exc:  # gzip.BadGzipFile is an OSError
        raise InputError(f"cannot be read: {getattr(exc, 'strerror', None) or exc}", file=path) from None


def iter_records(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_or_row_number, record)`` from JSONL, JSON, Parquet or CSV.

    Line numbers are 1-based lines of the file for JSONL and CSV (header is line 1),
    and 1-based row indexes for JSON arrays and Parquet. A missing, unreadable, binary or
    directory path is an InputError naming it (the CLIs exit 2), never a traceback.
    """
    path = Path(path)
    check_data_file(path)
    with read_errors_named(path):
        yield from _iter_records(path)


def _iter_records(path: Path) -> Iterator[tuple[int, dict]]:
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
        import pyarrow
        import pyarrow.parquet as pq
        try:
            table = pq.read_table(path)
        except pyarrow.ArrowInvalid as exc:
            raise InputError(f"is not a valid Parquet file ({str(exc)[:200]})", file=path) from None
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
