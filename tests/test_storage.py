"""The object-store data plane against a real S3 server (SeaweedFS, see tests/s3_fixture.py).

Run: .venv/bin/pytest tests/test_storage.py           (about a minute; -m slow adds the 500 MB case)
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
import time
from pathlib import Path

import pytest

from reasoning.errors import EXIT_STORAGE, InputError
from reasoning.io import storage
from reasoning.io.artifacts import read_metadata, write_dataset_metadata
from reasoning.io.s3client import parse_uri, settings_from_env

MB = 1024 * 1024


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_model_dir(root: Path, total_mb: int, seed: int = 0) -> Path:
    """A model-shaped directory of random bytes: two weight shards, a config, a nested adapter."""
    root.mkdir(parents=True)
    (root / "config.json").write_text(json.dumps({"model_type": "llama", "seed": seed}))
    (root / "adapter").mkdir()
    (root / "adapter" / "adapter_config.json").write_text('{"r": 8}')
    for index, share in enumerate((0.75, 0.25)):
        remaining = int(total_mb * share * MB)
        with open(root / f"model-{index:05d}.safetensors", "wb") as handle:
            while remaining:
                chunk = min(remaining, 16 * MB)
                handle.write(os.urandom(chunk))
                remaining -= chunk
    (root / "reasoning_artifact.json").write_text(json.dumps({"stage": "sft", "source": "builtin:x"}))
    return root


def assert_same_tree(a: Path, b: Path) -> None:
    files_a = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file())
    assert files_a == files_b
    for name in files_a:
        assert sha256(a / name) == sha256(b / name), name


def object_meta(server, uri: str) -> dict:
    loc = parse_uri(uri)
    stat = server.client().stat_object(loc.bucket, loc.key)
    return {k.lower(): v for k, v in stat.metadata.items()}


# ---------------------------------------------------------------- no server needed

def test_uri_parsing_and_settings(monkeypatch):
    assert storage.is_remote("s3://b/k") and storage.is_remote("minio://b/k") and not storage.is_remote("/tmp/x")
    loc = parse_uri("minio://my-bucket/models/sft")
    assert (loc.scheme, loc.bucket, loc.key) == ("minio", "my-bucket", "models/sft")
    assert loc.child("config.json").uri == "minio://my-bucket/models/sft/config.json"
    with pytest.raises(InputError, match="invalid bucket name 'Bad_Bucket'"):
        parse_uri("s3://Bad_Bucket/x")
    for name in ("MINIO_ENDPOINT", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "MINIO_SECURE", "S3_SECURE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(InputError, match="MINIO_ENDPOINT"):
        settings_from_env("minio")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://minio.kubeflow:9000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very-secret-value")
    settings = settings_from_env("s3")
    assert (settings.endpoint, settings.secure) == ("minio.kubeflow:9000", False)
    assert "very-secret-value" not in repr(settings)
    monkeypatch.setenv("S3_SECURE", "true")
    assert settings_from_env("s3").secure is True
    monkeypatch.setenv("S3_SECURE", "maybe")
    with pytest.raises(InputError, match="S3_SECURE"):
        settings_from_env("s3")


def test_local_paths_keep_working(tmp_path):
    with storage.local_output(tmp_path / "out" / "rows.jsonl", is_dir=False) as staged:
        staged.write_text('{"a": 1}\n')
        write_dataset_metadata(staged, stage="test", source="unit", rows=1)
    assert storage.fetch(tmp_path / "out" / "rows.jsonl").read_text() == '{"a": 1}\n'
    assert read_metadata(tmp_path / "out" / "rows.jsonl")["rows"] == 1
    with pytest.raises(InputError, match="does not exist"):
        storage.fetch(tmp_path / "missing.jsonl")


# ---------------------------------------------------------------- round trips

@pytest.mark.s3
def test_dataset_round_trip_keeps_lineage_and_checksums(s3_env, shared_data):
    server, bucket = s3_env
    source = shared_data / "gsm8k" / "test.jsonl"
    if not source.exists():
        source = next(p for p in sorted(shared_data.rglob("*")) if p.is_file() and p.suffix == ".jsonl")
    uri = f"{bucket}/datasets/train.jsonl"
    with storage.local_output(uri, is_dir=False) as staged:
        staged.write_bytes(source.read_bytes())
        write_dataset_metadata(staged, stage="cot", source=str(source), rows=3)

    meta = object_meta(server, uri)
    assert meta["x-amz-meta-sha256"] == sha256(source)
    assert meta["x-amz-meta-source"] == str(source)  # lineage from the .meta.json sidecar
    assert storage.exists(uri) and storage.exists(uri + ".meta.json")
    assert not any(".partial-" in u for u in storage.list_prefix(f"{bucket}/datasets"))

    local = storage.fetch(uri)
    assert local.suffix == ".jsonl" and local.read_bytes() == source.read_bytes()
    assert read_metadata(local)["sha256"] == sha256(source)  # the sidecar came along

    copy = storage.download(uri, server.root / "dl" / "copy.jsonl")
    assert copy.read_bytes() == source.read_bytes() and read_metadata(copy)["stage"] == "cot"


def _model_round_trip(s3_env, tmp_path, total_mb: int):
    server, bucket = s3_env
    model = make_model_dir(tmp_path / "model", total_mb)
    uri = f"{bucket}/models/sft"
    started = time.monotonic()
    storage.upload(model, uri)
    upload_s = time.monotonic() - started

    manifest = storage.read_manifest(uri)
    assert set(manifest["files"]) == {p.relative_to(model).as_posix() for p in model.rglob("*") if p.is_file()}
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == sha256(model / name)
        assert object_meta(server, f"{uri}/{name}")["x-amz-meta-sha256"] == entry["sha256"]

    started = time.monotonic()
    local = storage.fetch(uri)
    download_s = time.monotonic() - started
    assert_same_tree(model, local)

    # A second fetch reuses the cache; a changed upload is fetched again.
    inode = (local / "model-00000.safetensors").stat().st_ino
    assert storage.fetch(uri) == local and (local / "model-00000.safetensors").stat().st_ino == inode
    (model / "config.json").write_text('{"model_type": "llama", "changed": true}')
    storage.upload(model, uri)
    assert json.loads((storage.fetch(uri) / "config.json").read_text())["changed"] is True
    assert_same_tree(model, storage.fetch(uri))
    return upload_s, download_s


@pytest.mark.s3
def test_model_directory_round_trip_50mb(s3_env, tmp_path):
    _model_round_trip(s3_env, tmp_path, 50)


@pytest.mark.s3
def test_model_directory_round_trip_500mb(s3_env, tmp_path):
    upload_s, download_s = _model_round_trip(s3_env, tmp_path, 500)
    print(f"500 MB: upload {upload_s:.1f}s, fetch {download_s:.1f}s")


@pytest.mark.s3
def test_models_resolve_model_fetches_a_uri(s3_env, tiny_model_dir):
    from reasoning.modeling.models import resolve_model
    _, bucket = s3_env
    storage.upload(tiny_model_dir, f"{bucket}/tiny")
    resolved = Path(resolve_model(f"{bucket}/tiny"))
    assert_same_tree(tiny_model_dir, resolved)


@pytest.mark.s3
def test_failed_output_block_uploads_nothing(s3_env):
    _, bucket = s3_env
    with pytest.raises(RuntimeError, match="stage crashed"):
        with storage.local_output(f"{bucket}/models/broken", is_dir=True) as staged:
            (staged / "config.json").write_text("{}")
            raise RuntimeError("stage crashed")
    with pytest.raises(RuntimeError):
        with storage.local_output(f"{bucket}/data/rows.jsonl", is_dir=False) as staged:
            staged.write_text("{}\n")
            raise RuntimeError("stage crashed")
    assert storage.list_prefix(bucket) == []


@pytest.mark.s3
def test_prefix_without_manifest_is_refused(s3_env):
    import io
    server, bucket = s3_env
    loc = parse_uri(f"{bucket}/half/config.json")
    server.client().put_object(loc.bucket, loc.key, io.BytesIO(b"{}"), 2)
    with pytest.raises(storage.StorageError, match="no .reasoning-manifest.json"):
        storage.fetch(f"{bucket}/half")
    assert not storage.exists(f"{bucket}/half")


# ---------------------------------------------------------------- clear errors without secrets

def _assert_clear(error: Exception, uri: str, *secrets: str) -> str:
    text = str(error)
    assert uri in text
    for secret in secrets:
        assert secret not in text and secret not in repr(error.args)
    assert error.__cause__ is None  # the SDK exception, which may echo request details, is not chained
    return text


@pytest.mark.s3
def test_wrong_credentials(s3_env, monkeypatch, tmp_path):
    server, bucket = s3_env
    wrong = "wrong-secret-" + "x" * 20
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", wrong)
    uri = f"{bucket}/data/rows.jsonl"
    with pytest.raises(storage.StorageError) as caught:
        storage.fetch(uri)
    assert "access denied" in _assert_clear(caught.value, uri, wrong, server.secret_key)
    (tmp_path / "rows.jsonl").write_text("{}\n")
    with pytest.raises(storage.StorageError) as caught:
        storage.upload(tmp_path / "rows.jsonl", uri)
    assert "AWS_SECRET_ACCESS_KEY" in _assert_clear(caught.value, uri, wrong, server.secret_key)


@pytest.mark.s3
def test_missing_bucket_and_missing_key(s3_env, tmp_path):
    server, bucket = s3_env
    missing_bucket = "s3://no-such-bucket-4711/models/sft"
    with pytest.raises(storage.StorageError) as caught:
        storage.fetch(missing_bucket)
    assert "bucket 'no-such-bucket-4711' does not exist" in _assert_clear(caught.value, missing_bucket,
                                                                          server.secret_key)
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(storage.StorageError, match="does not exist"):
        storage.upload(tmp_path / "x.txt", missing_bucket + "/x.txt")
    with pytest.raises(storage.StorageError, match="does not exist"):
        with storage.local_output(missing_bucket, is_dir=True):
            pytest.fail("local_output must check the bucket before the stage runs")

    missing_key = f"{bucket}/datasets/none.jsonl"
    with pytest.raises(storage.StorageError) as caught:
        storage.fetch(missing_key)
    assert "no such object" in _assert_clear(caught.value, missing_key, server.secret_key)
    assert storage.restore_dir_from(f"{bucket}/checkpoints", tmp_path / "ckpt") is False


@pytest.mark.s3
def test_unreachable_endpoint_fails_fast(s3_env, monkeypatch):
    server, bucket = s3_env
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    uri = f"{bucket}/models/sft"
    started = time.monotonic()
    with pytest.raises(storage.StorageError) as caught:
        storage.fetch(uri)
    elapsed = time.monotonic() - started
    text = _assert_clear(caught.value, uri, server.secret_key)
    assert f"127.0.0.1:{port}" in text and "5 attempts" in text and "connection refused" in text
    assert elapsed < 30, f"took {elapsed:.1f}s"


@pytest.mark.s3
def test_no_secret_in_logs_metadata_or_manifest(s3_env, tmp_path, caplog):
    server, bucket = s3_env
    caplog.set_level(logging.DEBUG)
    model = make_model_dir(tmp_path / "model", 1)
    storage.upload(model, f"{bucket}/m")
    storage.fetch(f"{bucket}/m")
    manifest = json.dumps(storage.read_manifest(f"{bucket}/m"))
    metas = json.dumps([object_meta(server, u) for u in storage.list_prefix(f"{bucket}/m")])
    for text in (caplog.text, manifest, metas):
        assert server.secret_key not in text and server.access_key not in text


# ---------------------------------------------------------------- the server dies mid-upload

class KillAt:
    """A progress callback that kills the server once ``at`` bytes have been read for upload."""

    def __init__(self, server, at: int, restart_after: float | None):
        self.server, self.at, self.restart_after = server, at, restart_after
        self.sent, self.killed, self.lock = 0, False, threading.Lock()
        self.restarter: threading.Thread | None = None

    def __call__(self, size: int) -> None:
        with self.lock:
            self.sent += size
            if self.killed or self.sent < self.at:
                return
            self.killed = True
        self.server.kill()
        if self.restart_after is not None:
            def restart():
                time.sleep(self.restart_after)
                self.server.start()
            self.restarter = threading.Thread(target=restart, daemon=True)
            self.restarter.start()


@pytest.mark.s3
def test_upload_survives_a_server_restart(s3_env, tmp_path, monkeypatch):
    server, bucket = s3_env
    monkeypatch.setenv("REASONING_S3_PART_MB", "5")
    monkeypatch.setenv("REASONING_S3_ATTEMPTS", "10")  # the restart takes a few seconds on a busy machine
    big = tmp_path / "weights.bin"
    big.write_bytes(os.urandom(40 * MB))
    killer = KillAt(server, at=25 * MB, restart_after=1.0)
    uri = f"{bucket}/models/weights.bin"
    storage.upload(big, uri, progress=killer)
    assert killer.killed
    killer.restarter.join(timeout=120)
    assert object_meta(server, uri)["x-amz-meta-sha256"] == sha256(big)
    assert storage.fetch(uri).read_bytes() == big.read_bytes()
    assert storage.list_prefix(f"{bucket}/models") == [uri]  # the partial key is gone


@pytest.mark.s3
def test_failed_upload_publishes_nothing(s3_env, tmp_path, monkeypatch):
    server, bucket = s3_env
    monkeypatch.setenv("REASONING_S3_PART_MB", "5")
    monkeypatch.setenv("REASONING_S3_ATTEMPTS", "2")
    monkeypatch.setenv("REASONING_S3_BACKOFF", "0.1")
    big = tmp_path / "weights.bin"
    big.write_bytes(os.urandom(30 * MB))
    model = make_model_dir(tmp_path / "model", 30)
    try:
        with pytest.raises(storage.StorageError, match="failed 2 attempts"):
            storage.upload(big, f"{bucket}/file/weights.bin", progress=KillAt(server, 12 * MB, None))
        server.start()
        with pytest.raises(storage.StorageError, match="failed 2 attempts"):
            storage.upload(model, f"{bucket}/dir/model", progress=KillAt(server, 12 * MB, None))
    finally:
        server.start()
    assert not storage.exists(f"{bucket}/file/weights.bin")
    assert f"{bucket}/file/weights.bin" not in storage.list_prefix(f"{bucket}/file")
    assert not storage.exists(f"{bucket}/dir/model")
    with pytest.raises(storage.StorageError):
        storage.fetch(f"{bucket}/dir/model")


# ---------------------------------------------------------------- checkpoints

@pytest.mark.s3
def test_checkpoint_sync_and_restore(s3_env, tmp_path):
    _, bucket = s3_env
    uri = f"{bucket}/runs/sft.checkpoints"
    local = tmp_path / "ckpt"
    (local / "checkpoint-1").mkdir(parents=True)
    (local / "checkpoint-1" / "model.safetensors").write_bytes(os.urandom(MB))
    (local / "checkpoint-1" / "trainer_state.json").write_text('{"global_step": 1}')
    assert storage.sync_dir_to(local, uri) == {"uploaded": 2, "unchanged": 0, "deleted": 0}

    # The Trainer saves checkpoint-2 and rotates checkpoint-1 away.
    (local / "checkpoint-2").mkdir()
    (local / "checkpoint-2" / "model.safetensors").write_bytes(os.urandom(MB))
    (local / "checkpoint-2" / "trainer_state.json").write_text('{"global_step": 2}')
    assert storage.sync_dir_to(local, uri) == {"uploaded": 2, "unchanged": 2, "deleted": 0}
    import shutil
    shutil.rmtree(local / "checkpoint-1")
    assert storage.sync_dir_to(local, uri) == {"uploaded": 0, "unchanged": 2, "deleted": 2}

    fresh = tmp_path / "fresh-pod"
    assert storage.restore_dir_from(uri, fresh) is True
    assert_same_tree(local, fresh)
    # Restoring again changes nothing; a corrupted local file is repaired.
    (fresh / "checkpoint-2" / "model.safetensors").write_bytes(b"garbage")
    assert storage.restore_dir_from(uri, fresh) is True
    assert_same_tree(local, fresh)


def _free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_store_exits_4_and_a_refusal_exits_2(tmp_path):
    """A store that is down is not the user's bad input: exit 4 (a KFP retry may pass), with the
    endpoint named and no traceback; a refusal that retrying cannot change stays exit 2."""
    import subprocess
    import sys
    env = {**os.environ, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{_free_port()}", "AWS_ACCESS_KEY_ID": "k",
           "AWS_SECRET_ACCESS_KEY": "s", "REASONING_S3_ATTEMPTS": "2", "REASONING_S3_BACKOFF": "0.05"}
    down = subprocess.run([sys.executable, "-m", "reasoning.stages.cot", "--input", "s3://bucket/problems.jsonl",
                           "--output", str(tmp_path / "cot.jsonl")], env=env, capture_output=True, text=True, timeout=120)
    assert down.returncode == EXIT_STORAGE, down.stderr
    assert "error: s3://bucket/problems.jsonl:" in down.stderr and "failed 2 attempts" in down.stderr
    assert "Traceback" not in down.stderr
    refused = storage.StorageRefused("bucket 'b' does not exist", uri="s3://k:secret@b/x")
    assert isinstance(refused, InputError) and isinstance(refused, storage.StorageError)
    assert str(refused) == "s3://***@b/x: bucket 'b' does not exist"
    assert not isinstance(storage.StorageError("failed", uri="s3://b/x"), InputError)
