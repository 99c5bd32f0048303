"""Where inputs come from and outputs go: local paths or ``s3://`` / ``minio://`` URIs.

Every stage reads through ``fetch`` and writes through ``local_output``, so any path
flag also accepts an object-store URI::

    AWS_ENDPOINT_URL=http://minio:9000 AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... \\
        python -m reasoning.stages.sft --dataset s3://data/train.jsonl --output s3://models/sft

API:
- ``is_remote(uri)``; ``fetch(uri) -> Path`` (a file or a whole directory, cached under
  ``<cache>/objects/`` and reused while the remote checksum is unchanged);
- ``local_output(uri, is_dir=...)``: a local path to write; uploaded only on success;
- ``upload(local, uri)``, ``download(uri, local)``, ``exists(uri)``, ``list_prefix(uri)``;
- ``sync_dir_to(local_dir, uri)`` / ``restore_dir_from(uri, local_dir) -> bool`` for
  Trainer checkpoints.

Guarantees (why each exists):
- Nothing incomplete looks complete. A single object is uploaded under
  ``<key>.partial-<uuid>``, checked (size, sha256) and only then published with a
  server-side copy. A directory is published by its manifest object
  (``<prefix>/.reasoning-manifest.json``, written last, listing every file with size and
  sha256); readers refuse a prefix without one. So a crash mid-upload leaves no object a
  later stage would consume.
- Integrity: each object carries ``x-amz-meta-sha256`` (and ``x-amz-meta-source``, its
  lineage); every transfer is verified against it.
- Transient failures (connection errors, 5xx, SlowDown) are retried with exponential
  backoff, a bounded number of times, so an unreachable endpoint fails within seconds.
- Credentials come only from the environment (see ``reasoning.io.s3client``) and never
  appear in a log line, an error message, an artifact or object metadata.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from reasoning.errors import InputError, StorageError, StorageRefused, scrub
from reasoning.io.fileio import atomic_dir
from reasoning.io.s3client import REMOTE_SCHEMES, Location, client_for, is_missing, parse_uri, retrying
from reasoning.paths import cache_dir

__all__ = ["REMOTE_SCHEMES", "MANIFEST_NAME", "StorageError", "StorageRefused", "is_remote", "fetch", "local_output", "upload",
           "download", "exists", "check_writable", "list_prefix", "sync_dir_to", "restore_dir_from", "read_manifest"]

log = logging.getLogger(__name__)

MANIFEST_NAME = ".reasoning-manifest.json"
MANIFEST_FORMAT = "reasoning-directory/1"
PARTIAL_MARK = ".partial-"
SIDECAR_SUFFIX = ".meta.json"  # reasoning.io.artifacts.DATASET_META_SUFFIX: dataset lineage beside a file
SHA_META = "sha256"
SOURCE_META = "source"
COPY_LIMIT = 5 * 1024**3  # S3 CopyObject refuses bigger sources; ComposeObject does multipart copy

Progress = Callable[[int], None]


def is_remote(uri: str | os.PathLike) -> bool:
    return str(uri).startswith(REMOTE_SCHEMES)


_digests: dict[tuple[str, int, int], str] = {}


def _sha256(path: Path, chunk: int = 4 << 20) -> str:
    """sha256 of a file, remembered by (path, size, mtime): checkpoint syncs rehash nothing old."""
    stat = path.stat()
    memo = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if memo in _digests:
        return _digests[memo]
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    if len(_digests) > 100_000:
        _digests.clear()
    _digests[memo] = digest.hexdigest()
    return _digests[memo]


def _files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                  if p.is_file() and p.name != MANIFEST_NAME)


def _meta(stat: Any, name: str) -> str | None:
    return stat.metadata.get(f"x-amz-meta-{name}") if stat.metadata is not None else None


def _header_safe(text: str) -> str:
    # Object metadata travels as HTTP headers: ASCII only, bounded length.
    return scrub(str(text)).encode("ascii", "backslashreplace").decode()[:1024]


def _lineage_source(path: Path, fallback: str) -> str:
    """What the artifact was made from (its metadata's ``source``), else where it was uploaded from."""
    from reasoning.io.artifacts import read_metadata
    with contextlib.suppress(Exception):
        source = read_metadata(path).get("source")
        if source:
            return str(source)
    return fallback


class _ProgressAdapter:
    """The minio SDK's progress protocol, forwarding byte counts to a plain callable."""

    def __init__(self, callback: Progress | None):
        self.callback = callback

    def set_meta(self, object_name: str, total_length: int) -> None:
        pass

    def update(self, size: int) -> None:
        if self.callback is not None:
            self.callback(size)


# ---------------------------------------------------------------- single objects

def _stat(loc: Location, action: str = "reading"):
    """The object's stat, or None when the key does not exist (a missing bucket raises)."""
    client, tuning = client_for(loc)

    def attempt():
        try:
            return client.stat_object(loc.bucket, loc.key)
        except Exception as exc:
            if is_missing(exc, "NoSuchKey"):
                return None
            raise
    return retrying(attempt, loc, action, tuning)


def _put_file(local: Path, loc: Location, *, source: str, publish: bool, progress: Progress | None = None,
              sha256: str | None = None) -> dict[str, Any]:
    """Upload one file and verify it; ``publish`` goes through a partial key + server-side copy."""
    client, tuning = client_for(loc)
    size = local.stat().st_size
    digest = sha256 or _sha256(local)
    metadata = {SHA_META: digest, SOURCE_META: _header_safe(source)}
    part_size = tuning.part_size_for(size)

    def attempt():
        key = f"{loc.key}{PARTIAL_MARK}{uuid.uuid4().hex[:12]}" if publish else loc.key
        try:
            client.fput_object(loc.bucket, key, str(local), metadata=metadata, part_size=part_size,
                               num_parallel_uploads=tuning.parallel_parts, progress=_ProgressAdapter(progress))
            stat = client.stat_object(loc.bucket, key)
            if stat.size != size or _meta(stat, SHA_META) != digest:
                raise _IntegrityError(f"stored {stat.size} bytes / sha256 {_meta(stat, SHA_META)}, "
                                      f"sent {size} / {digest}")
            if publish:
                _publish(client, loc, key, size, metadata)
        finally:
            if publish:
                with contextlib.suppress(Exception):  # the server may be down: best effort
                    client.remove_object(loc.bucket, key)
        return {"size": size, "sha256": digest}
    return retrying(attempt, loc, "uploading", tuning, integrity_error=_IntegrityError)


def _publish(client: Any, loc: Location, partial_key: str, size: int, metadata: dict[str, str]) -> None:
    from minio.commonconfig import ComposeSource, CopySource
    if size <= COPY_LIMIT:
        client.copy_object(loc.bucket, loc.key, CopySource(loc.bucket, partial_key))
    else:
        client.compose_object(loc.bucket, loc.key, [ComposeSource(loc.bucket, partial_key)], metadata=metadata)
    stat = client.stat_object(loc.bucket, loc.key)
    if stat.size != size or _meta(stat, SHA_META) != metadata[SHA_META]:
        raise _IntegrityError(f"published copy has {stat.size} bytes / sha256 {_meta(stat, SHA_META)}")


class _IntegrityError(Exception):
    """A transfer whose size or sha256 does not match: retried like a transient error."""


def _get_file(loc: Location, destination: Path, *, expected: dict[str, Any] | None = None,
              progress: Progress | None = None) -> dict[str, Any]:
    """Download one object to ``destination`` (atomically) and verify size and sha256."""
    client, tuning = client_for(loc)
    destination.parent.mkdir(parents=True, exist_ok=True)

    def attempt():
        staging = destination.with_name(f".{destination.name}.{uuid.uuid4().hex[:8]}.download")
        try:
            stat = client.fget_object(loc.bucket, loc.key, str(staging), tmp_file_path=f"{staging}.part",
                                      progress=_ProgressAdapter(progress))
            want_sha = _meta(stat, SHA_META) or (expected or {}).get("sha256")
            want_size = (expected or {}).get("size", stat.size)
            got_size = staging.stat().st_size
            if got_size != stat.size or got_size != want_size:
                raise _IntegrityError(f"received {got_size} bytes, expected {want_size}")
            got_sha = _sha256(staging)
            if want_sha and got_sha != want_sha:
                raise _IntegrityError(f"sha256 {got_sha} differs from the recorded {want_sha}")
            os.replace(staging, destination)
            return {"size": got_size, "sha256": got_sha, "etag": stat.etag}
        finally:
            for leftover in (staging, Path(f"{staging}.part")):
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()
    return retrying(attempt, loc, "downloading", tuning, integrity_error=_IntegrityError)


def _put_bytes(data: bytes, loc: Location, *, source: str) -> None:
    client, tuning = client_for(loc)
    metadata = {SHA_META: hashlib.sha256(data).hexdigest(), SOURCE_META: _header_safe(source)}
    retrying(lambda: client.put_object(loc.bucket, loc.key, io.BytesIO(data), len(data), metadata=metadata,
                                       content_type="application/json"), loc, "writing", tuning)


def _remove(locs: list[Location]) -> None:
    if not locs:
        return
    from minio.deleteobjects import DeleteObject
    client, tuning = client_for(locs[0])

    def attempt():
        errors = list(client.remove_objects(locs[0].bucket, [DeleteObject(loc.key) for loc in locs]))
        if errors:
            raise StorageError(f"could not delete {len(errors)} objects ({errors[0].code})", uri=locs[0].uri)
    retrying(attempt, locs[0], "deleting", tuning)


def _list(loc: Location) -> list[Any]:
    client, tuning = client_for(loc)
    prefix = loc.key.rstrip("/") + "/" if loc.key else ""
    return retrying(lambda: list(client.list_objects(loc.bucket, prefix=prefix, recursive=True)),
                    loc, "listing", tuning)


def _require_bucket(loc: Location) -> None:
    """Fail before any expensive hashing when the bucket is missing or the credentials are wrong."""
    client, tuning = client_for(loc)
    if not retrying(lambda: client.bucket_exists(loc.bucket), loc, "checking the bucket of", tuning):
        raise StorageRefused(f"bucket '{loc.bucket}' does not exist (create it first)", uri=loc.uri)


# ---------------------------------------------------------------- directories

def read_manifest(uri: str | Location) -> dict[str, Any] | None:
    """The manifest of a directory uploaded by this module, or None when there is none."""
    loc = parse_uri(uri) if isinstance(uri, str) else uri
    manifest_loc = loc.child(MANIFEST_NAME)
    client, tuning = client_for(loc)

    def attempt():
        try:
            response = client.get_object(manifest_loc.bucket, manifest_loc.key)
        except Exception as exc:
            if is_missing(exc, "NoSuchKey"):
                return None
            raise
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()
    raw = retrying(attempt, manifest_loc, "reading", tuning)
    if raw is None:
        return None
    try:
        manifest = json.loads(raw)
    except json.JSONDecodeError:
        raise StorageRefused("the directory manifest is not valid JSON", uri=manifest_loc.uri) from None
    if manifest.get("format") != MANIFEST_FORMAT or not isinstance(manifest.get("files"), dict):
        raise StorageRefused(f"unknown manifest format {manifest.get('format')!r}", uri=manifest_loc.uri)
    return manifest


def _parallel(tasks: list[Callable[[], Any]], workers: int) -> list[Any]:
    if len(tasks) <= 1 or workers <= 1:
        return [task() for task in tasks]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="s3-transfer") as pool:
        futures = [pool.submit(task) for task in tasks]
        # result() re-raises the first failure; the pool still waits for the others to end.
        return [future.result() for future in futures]


def _upload_files(local_dir: Path, loc: Location, names: list[str], source: str,
                  progress: Progress | None) -> dict[str, dict[str, Any]]:
    _, tuning = client_for(loc)
    # Files of a directory go straight to their keys: the manifest, written last, is what
    # publishes the directory, so the partial-key copy would only cost time here.
    tasks = [lambda name=name: (name, _put_file(local_dir / name, loc.child(name), publish=False, progress=progress,
                                                source=source))
             for name in names]
    return dict(_parallel(tasks, tuning.workers))


def _write_manifest(loc: Location, files: dict[str, dict[str, Any]], source: str) -> dict[str, Any]:
    manifest = {"format": MANIFEST_FORMAT, "source": source,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "total_bytes": sum(f["size"] for f in files.values()),
                "files": {name: {"size": f["size"], "sha256": f["sha256"]} for name, f in sorted(files.items())}}
    _put_bytes(json.dumps(manifest, indent=1, sort_keys=True).encode(), loc.child(MANIFEST_NAME), source=source)
    return manifest


def _stale(loc: Location, keep: set[str]) -> list[Location]:
    prefix = loc.key.rstrip("/") + "/" if loc.key else ""
    return [Location(loc.scheme, loc.bucket, obj.object_name) for obj in _list(loc)
            if obj.object_name[len(prefix):] not in keep and obj.object_name[len(prefix):] != MANIFEST_NAME]


def _upload_dir(local_dir: Path, loc: Location, *, source: str, progress: Progress | None = None) -> dict:
    started = time.monotonic()
    _require_bucket(loc)
    names = _files_under(local_dir)
    # Unpublish first: while files are replaced, no reader may take the prefix as complete.
    _remove([loc.child(MANIFEST_NAME)])
    files = _upload_files(local_dir, loc, names, source, progress)
    _remove(_stale(loc, set(names)))
    manifest = _write_manifest(loc, files, source)
    elapsed = time.monotonic() - started
    log.info("uploaded %s -> %s: %d files, %.1f MB in %.1fs", local_dir, loc.uri, len(names),
             manifest["total_bytes"] / 1e6, elapsed)
    return manifest


def _download_dir(loc: Location, manifest: dict[str, Any], destination: Path, *, progress: Progress | None = None,
                  reuse: Path | None = None) -> None:
    """Download every file of ``manifest`` into ``destination``; ``reuse`` files whose sha256 matches."""
    _, tuning = client_for(loc)

    def one(name: str, expected: dict[str, Any]) -> None:
        target = destination / name
        if reuse is not None and (reuse / name).is_file() and (reuse / name).stat().st_size == expected["size"] \
                and _sha256(reuse / name) == expected["sha256"]:
            if reuse.resolve() != destination.resolve():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(reuse / name, target)
            return
        _get_file(loc.child(name), target, expected=expected, progress=progress)
    _parallel([lambda n=n, e=e: one(n, e) for n, e in manifest["files"].items()], tuning.workers)


# ---------------------------------------------------------------- public API

def _with_sidecar(path: Path) -> list[Path]:
    sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
    return [sidecar, path] if sidecar.is_file() else [path]


def upload(local: str | os.PathLike, uri: str, *, source: str | None = None,
           progress: Progress | None = None) -> str:
    """Upload a file (with its ``.meta.json`` lineage sidecar) or a directory to ``uri``."""
    local = Path(local).expanduser()
    if not local.exists():
        raise InputError("does not exist", file=local)
    if not is_remote(uri):
        target = Path(uri).expanduser()
        if local.is_dir():
            with atomic_dir(target) as tmp:
                shutil.copytree(local, tmp, dirs_exist_ok=True)
        else:
            for path in _with_sidecar(local):
                with local_output(target.with_name(target.name + path.name[len(local.name):]), is_dir=False) as tmp:
                    shutil.copy2(path, tmp)
        return str(target)
    loc = parse_uri(uri)
    source = source or _lineage_source(local, str(local.resolve()))
    if local.is_dir():
        _upload_dir(local, loc, source=source, progress=progress)
    else:
        _require_bucket(loc)
        # The sidecar first: once the data object exists, its lineage does too.
        for path in _with_sidecar(local):
            suffix = path.name[len(local.name):]
            _put_file(path, Location(loc.scheme, loc.bucket, loc.key + suffix), publish=True,
                      source=source, progress=progress if path == local else None)
        log.info("uploaded %s -> %s", local, loc.uri)
    return loc.uri


def _describe_remote(loc: Location) -> tuple[str, Any]:
    """("file", stat) | ("dir", manifest) | raises a StorageError naming what is missing."""
    if loc.key and not loc.key.endswith("/"):
        stat = _stat(loc)
        if stat is not None:
            return "file", stat
    manifest = read_manifest(loc)
    if manifest is not None:
        return "dir", manifest
    if loc.key and _list(loc):
        raise StorageRefused(f"objects exist under this prefix but no {MANIFEST_NAME}: an upload was interrupted, "
                           "or the directory was not written by reasoning (upload it with reasoning.io.storage.upload)",
                           uri=loc.uri)
    raise StorageRefused("no such object or directory", uri=loc.uri)


def download(uri: str, local: str | os.PathLike, *, progress: Progress | None = None) -> Path:
    """Download an object (and its lineage sidecar) or a whole directory to ``local``."""
    target = Path(local).expanduser()
    if not is_remote(uri):
        return Path(upload(uri, str(target)))
    loc = parse_uri(uri)
    kind, info = _describe_remote(loc)
    if kind == "dir":
        with atomic_dir(target) as tmp:
            _download_dir(loc, info, tmp, progress=progress, reuse=target if target.is_dir() else None)
        return target
    sidecar = Location(loc.scheme, loc.bucket, loc.key + SIDECAR_SUFFIX)
    if _stat(sidecar) is not None:
        _get_file(sidecar, target.with_name(target.name + SIDECAR_SUFFIX))
    _get_file(loc, target, progress=progress)
    return target


def _cache_root(loc: Location) -> Path:
    _, tuning = client_for(loc)
    key = hashlib.sha256(f"{tuning.endpoint}\0{loc.bucket}/{loc.key}".encode()).hexdigest()[:32]
    return cache_dir() / "objects" / key


def fetch(uri: str | os.PathLike) -> Path:
    """A local path for ``uri``: the path itself, or a cached download of the object/directory.

    The cache is keyed by endpoint + URI and reused while the remote sha256 (object
    metadata, or the directory manifest) is unchanged, so a pod that restarts does not
    download a model twice.
    """
    if not is_remote(uri):
        path = Path(uri).expanduser()
        if not path.exists():
            raise InputError("does not exist", file=path)
        return path
    loc = parse_uri(str(uri))
    kind, info = _describe_remote(loc)
    root = _cache_root(loc)
    with _cache_lock(root):
        return _fetch_into_cache(loc, kind, info, root)


@contextlib.contextmanager
def _cache_lock(root: Path) -> Iterator[None]:
    """One process at a time fills a cache entry (parallel eval tasks share a model cache volume);
    the others wait and then find it current instead of swapping the directory under a reader."""
    import fcntl
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.with_name(root.name + ".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fetch_into_cache(loc: Location, kind: str, info: Any, root: Path) -> Path:
    state_path = root / "state.json"
    state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    if kind == "file":
        wanted = {"kind": "file", "etag": info.etag, "sha256": _meta(info, SHA_META), "size": info.size}
        local = root / "content" / Path(loc.key).name
        if state == wanted and local.is_file() and local.stat().st_size == info.size:
            return local
        with atomic_dir(root / "content") as tmp:
            download(loc.uri, tmp / local.name)
    else:
        wanted = {"kind": "dir", "files": info["files"]}
        local = root / "content"
        if state == wanted and local.is_dir():
            return local
        with atomic_dir(local) as tmp:
            _download_dir(loc, info, tmp, reuse=local if local.is_dir() else None)
    root.mkdir(parents=True, exist_ok=True)
    state_path.write_text(json.dumps(wanted))
    log.info("fetched %s into %s", loc.uri, local)
    return local


def check_writable(uri: str | os.PathLike) -> None:
    """Fail now, not after hours of training, when ``uri`` cannot be written: the bucket must
    exist and accept an object (a tiny probe under a partial key, deleted at once)."""
    if not is_remote(uri):
        return
    loc = parse_uri(str(uri))
    _require_bucket(loc)
    probe = Location(loc.scheme, loc.bucket, f"{loc.key.rstrip('/')}{PARTIAL_MARK}write-check-{uuid.uuid4().hex[:12]}")
    _put_bytes(b"{}", probe, source="write check")
    _remove([probe])


def exists(uri: str | os.PathLike) -> bool:
    """True for an existing object or a complete (manifested) directory."""
    if not is_remote(uri):
        return Path(uri).expanduser().exists()
    loc = parse_uri(str(uri))
    if loc.key and not loc.key.endswith("/") and _stat(loc) is not None:
        return True
    return read_manifest(loc) is not None


def list_prefix(uri: str | os.PathLike) -> list[str]:
    """URIs of every object under ``uri`` (recursive), without in-flight partial uploads."""
    if not is_remote(uri):
        root = Path(uri).expanduser()
        return [str(root / name) for name in _files_under(root)] if root.is_dir() else []
    loc = parse_uri(str(uri))
    return sorted(f"{loc.scheme}://{loc.bucket}/{obj.object_name}" for obj in _list(loc)
                  if PARTIAL_MARK not in obj.object_name)


@contextlib.contextmanager
def local_output(uri: str | os.PathLike, *, is_dir: bool) -> Iterator[Path]:
    """Yield a local path to write; on success it becomes ``uri`` (complete or absent).

    For a file, siblings written next to it (the ``.meta.json`` lineage sidecar) are
    kept too. On failure nothing is moved or uploaded.
    """
    if is_remote(uri):
        loc = parse_uri(str(uri))
        _require_bucket(loc)  # fail before the stage spends hours producing the output
        staging_root = cache_dir() / "staging"
        staging_root.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix="out-", dir=staging_root))
        try:
            name = Path(loc.key.rstrip("/")).name or "output"
            staged = workdir / name
            if is_dir:
                staged.mkdir()
            yield staged
            if is_dir:
                upload(staged, loc.uri, source=_lineage_source(staged, "unknown"))
            else:
                source = _lineage_source(staged, "unknown")
                siblings = [p for p in workdir.iterdir() if p.is_file()]
                for sibling in sorted(siblings, key=lambda p: p == staged):  # the data object last
                    sibling_loc = Location(loc.scheme, loc.bucket, loc.key[:len(loc.key) - len(name)] + sibling.name)
                    _put_file(sibling, sibling_loc, publish=True, source=source)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return
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


# ---------------------------------------------------------------- checkpoints

def sync_dir_to(local_dir: str | os.PathLike, uri: str) -> dict[str, int]:
    """Mirror ``local_dir`` to ``uri``: upload new/changed files, then the manifest, then prune.

    Called after every Trainer checkpoint save. The previous manifest stays in place
    while files upload, so a sync killed halfway still leaves the last complete set of
    checkpoints restorable.
    """
    local_dir = Path(local_dir)
    if not local_dir.is_dir():
        raise InputError("checkpoint directory does not exist", file=local_dir)
    if not is_remote(uri):
        upload(local_dir, uri)
        return {"uploaded": len(_files_under(local_dir)), "unchanged": 0, "deleted": 0}
    loc = parse_uri(uri)
    _require_bucket(loc)
    remote = (read_manifest(loc) or {}).get("files", {})
    names = _files_under(local_dir)
    files, changed = {}, []
    for name in names:
        size = (local_dir / name).stat().st_size
        known = remote.get(name)
        if known and known["size"] == size and _sha256(local_dir / name) == known["sha256"]:
            files[name] = known
        else:
            changed.append(name)
    files.update(_upload_files(local_dir, loc, changed, str(local_dir.resolve()), None))
    _write_manifest(loc, files, str(local_dir.resolve()))
    stale = _stale(loc, set(names))
    _remove(stale)
    log.info("synced %s -> %s: %d uploaded, %d unchanged, %d deleted", local_dir, loc.uri, len(changed),
             len(names) - len(changed), len(stale))
    return {"uploaded": len(changed), "unchanged": len(names) - len(changed), "deleted": len(stale)}


def restore_dir_from(uri: str, local_dir: str | os.PathLike) -> bool:
    """Bring ``local_dir`` up to date with the directory at ``uri``; False when none is there.

    Files already present with the right sha256 are kept; local files the store does not
    know are left alone (a newer local checkpoint wins in ``get_last_checkpoint``).
    """
    local_dir = Path(local_dir)
    if not is_remote(uri):
        source = Path(uri).expanduser()
        if not source.is_dir():
            return False
        shutil.copytree(source, local_dir, dirs_exist_ok=True)
        return True
    loc = parse_uri(uri)
    manifest = read_manifest(loc)
    if manifest is None:
        return False
    local_dir.mkdir(parents=True, exist_ok=True)
    _download_dir(loc, manifest, local_dir, reuse=local_dir)
    log.info("restored %d files from %s into %s", len(manifest["files"]), loc.uri, local_dir)
    return True
