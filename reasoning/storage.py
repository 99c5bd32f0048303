"""Where inputs come from and outputs go: local paths now, ``s3://``/``minio://`` URIs next.

API used by every stage (the S3 side is filled in by the object-storage work):
- ``is_remote(uri)``: True for ``s3://`` and ``minio://``.
- ``fetch(uri) -> Path``: a local path to read (a file or a model directory).
- ``local_output(uri, is_dir=...)``: context manager yielding a local path to write;
  on success it becomes ``uri`` atomically (complete or absent).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from reasoning.fileio import InputError, atomic_dir

REMOTE_SCHEMES = ("s3://", "minio://")


def is_remote(uri: str | os.PathLike) -> bool:
    return str(uri).startswith(REMOTE_SCHEMES)


def fetch(uri: str | os.PathLike) -> Path:
    if is_remote(uri):
        raise InputError("object storage URIs are not supported yet", file=str(uri))
    path = Path(uri).expanduser()
    if not path.exists():
        raise InputError("does not exist", file=path)
    return path


@contextlib.contextmanager
def local_output(uri: str | os.PathLike, *, is_dir: bool) -> Iterator[Path]:
    if is_remote(uri):
        raise InputError("object storage URIs are not supported yet", file=str(uri))
    target = Path(uri).expanduser()
    if is_dir:
        with atomic_dir(target) as tmp:
            yield tmp
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        staged = workdir / target.name
        yield staged
        for sibling in workdir.iterdir():  # e.g. the .meta.json written next to a dataset
            os.replace(sibling, target.parent / sibling.name)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
