"""The object-store connection: URIs, settings from the environment, retries, clear errors.

Settings (environment only; a Kubernetes secret is mounted as these variables):
- ``MINIO_ENDPOINT`` or ``AWS_ENDPOINT_URL`` (``http://host:port`` or ``host:port``; the scheme
  decides TLS, ``MINIO_SECURE`` / ``S3_SECURE`` = true/false override). Without either,
  ``s3://`` means AWS S3 (``s3.amazonaws.com``).
- ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY`` (optional ``AWS_SESSION_TOKEN``);
  ``AWS_REGION`` / ``AWS_DEFAULT_REGION``; ``AWS_CA_BUNDLE`` for a private CA.
- Tuning: ``REASONING_S3_ATTEMPTS`` (5), ``REASONING_S3_BACKOFF`` (0.5 s, doubled per retry,
  at most 8 s), ``REASONING_S3_CONNECT_TIMEOUT`` (5 s), ``REASONING_S3_READ_TIMEOUT`` (120 s),
  ``REASONING_S3_PART_MB`` (16), ``REASONING_S3_WORKERS`` (4 files at once),
  ``REASONING_S3_PARALLEL_PARTS`` (3 parts of one file at once).

Secrets never leave this module: they are not in any repr, log line or error message
(every message is scrubbed, and the SDK's own exception, whose text can echo request
details, is never chained).
"""
from __future__ import annotations

import dataclasses
import http.client
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from reasoning.errors import (
    InputError,
    StorageError,
    StorageRefused,
    has_uri_credentials,
    redact_credentials,
    remember_secret,
    scrub,
)

log = logging.getLogger(__name__)

REMOTE_SCHEMES = ("s3://", "minio://")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
TRANSIENT_CODES = {"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "RequestTimeTooSkewed",
                   "XMinioServerNotInitialized", "OperationAborted", "Throttling", "ThrottlingException"}
CREDENTIAL_CODES = {"SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied", "InvalidToken",
                    "ExpiredToken", "AuthorizationHeaderMalformed", "InvalidSecurity"}
MIN_PART = 5 * 1024**2  # S3's smallest multipart part
MAX_PARTS = 10_000

T = TypeVar("T")
CREDENTIALS_IN_URI = ("credentials in the URI are not accepted (they would end up in logs, configs and the "
                      "pipeline's records); set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead")


@dataclasses.dataclass(frozen=True)
class Location:
    scheme: str
    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"{self.scheme}://{self.bucket}/{self.key}"

    def child(self, name: str) -> Location:
        prefix = self.key.rstrip("/")
        return Location(self.scheme, self.bucket, f"{prefix}/{name}" if prefix else name)


def parse_uri(uri: str) -> Location:
    text = str(uri)
    if has_uri_credentials(text):
        raise InputError(CREDENTIALS_IN_URI, file=redact_credentials(text))
    scheme, sep, rest = text.partition("://")
    if not sep or f"{scheme}://" not in REMOTE_SCHEMES:
        raise InputError(f"not an object-store URI (expected {' or '.join(REMOTE_SCHEMES)}bucket/key)", file=text)
    bucket, _, key = rest.partition("/")
    if not _BUCKET.match(bucket):
        raise InputError(f"invalid bucket name '{bucket}' (3-63 lowercase letters, digits, '.', '-')", file=text)
    if "//" in key or key.startswith("/"):
        raise InputError("empty path segment in the key", file=text)
    return Location(scheme, bucket, key)


@dataclasses.dataclass(frozen=True)
class Settings:
    endpoint: str  # host[:port], what the SDK takes
    secure: bool
    region: str | None
    ca_bundle: str | None
    access_key: str | None = dataclasses.field(default=None, repr=False)
    secret_key: str | None = dataclasses.field(default=None, repr=False)
    session_token: str | None = dataclasses.field(default=None, repr=False)

    @property
    def display(self) -> str:
        return f"{'https' if self.secure else 'http'}://{self.endpoint}"


@dataclasses.dataclass(frozen=True)
class TransferTuning:
    endpoint: str  # for messages and cache keys; no credentials
    attempts: int = 5
    backoff_s: float = 0.5
    max_backoff_s: float = 8.0
    part_mb: int = 16
    workers: int = 4
    parallel_parts: int = 3

    def part_size_for(self, size: int) -> int:
        # S3 allows 10,000 parts: grow parts for huge files rather than fail at part 10,001.
        part = max(MIN_PART, self.part_mb * 1024**2)
        while size > part * MAX_PARTS:
            part *= 2
        return part


def _flag(name: str) -> bool | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    if value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if value.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise InputError(f"expected true or false, got {value!r}", field=name)


def _number(name: str, default: float, cast: Callable = float, minimum: float = 0) -> Any:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        number = cast(value)
    except ValueError:
        raise InputError(f"expected a number, got {value!r}", field=name) from None
    if number < minimum:
        raise InputError(f"must be at least {minimum}", field=name)
    return number


def settings_from_env(scheme: str) -> Settings:
    raw = os.environ.get("MINIO_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if not raw:
        if scheme == "minio":
            raise InputError("minio:// URIs need MINIO_ENDPOINT (or AWS_ENDPOINT_URL) set to the server's address",
                             field="MINIO_ENDPOINT")
        raw = "https://s3.amazonaws.com"
    if "@" in raw:
        # Never echo the value: credentials embedded in the URL are exactly what it would leak.
        raise InputError("the endpoint must not contain credentials (user:password@); set AWS_ACCESS_KEY_ID and "
                         "AWS_SECRET_ACCESS_KEY instead", field="AWS_ENDPOINT_URL / MINIO_ENDPOINT")
    secure = not raw.startswith("http://")
    endpoint = re.sub(r"^https?://", "", raw.strip()).rstrip("/")
    if "/" in endpoint or not endpoint:
        raise InputError(f"expected host[:port] or http(s)://host[:port], got {raw!r}", field="AWS_ENDPOINT_URL")
    for name in ("MINIO_SECURE", "S3_SECURE"):
        override = _flag(name)
        if override is not None:
            secure = override
    return Settings(endpoint=endpoint, secure=secure,
                    region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None,
                    ca_bundle=os.environ.get("AWS_CA_BUNDLE") or None,
                    access_key=os.environ.get("AWS_ACCESS_KEY_ID") or None,
                    secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY") or None,
                    session_token=os.environ.get("AWS_SESSION_TOKEN") or None)


def tuning_from_env(settings: Settings) -> TransferTuning:
    return TransferTuning(endpoint=settings.display,
                          attempts=_number("REASONING_S3_ATTEMPTS", 5, int, 1),
                          backoff_s=_number("REASONING_S3_BACKOFF", 0.5),
                          part_mb=_number("REASONING_S3_PART_MB", 16, int, 5),
                          workers=_number("REASONING_S3_WORKERS", 4, int, 1),
                          parallel_parts=_number("REASONING_S3_PARALLEL_PARTS", 3, int, 1))


_clients: dict[tuple, Any] = {}
_clients_lock = threading.Lock()


def client_for(loc: Location) -> tuple[Any, TransferTuning]:
    """A minio client for the current environment (cached while the settings stay the same)."""
    settings = settings_from_env(loc.scheme)
    tuning = tuning_from_env(settings)
    key = (settings, tuning)
    with _clients_lock:
        if key not in _clients:
            _clients[key] = _make_client(settings, tuning)
        for secret in (settings.secret_key, settings.access_key, settings.session_token):
            remember_secret(secret)
        return _clients[key], tuning


def _make_client(settings: Settings, tuning: TransferTuning) -> Any:
    import certifi
    import urllib3
    from minio import Minio
    connections = tuning.workers * (tuning.parallel_parts + 1) + 2
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=_number("REASONING_S3_CONNECT_TIMEOUT", 5.0),
                                read=_number("REASONING_S3_READ_TIMEOUT", 120.0)),
        maxsize=connections, cert_reqs="CERT_REQUIRED",
        ca_certs=settings.ca_bundle or os.environ.get("SSL_CERT_FILE") or certifi.where(),
        # Retries happen in ``retrying`` (whole transfers, with backoff and clear errors).
        retries=False)
    return Minio(settings.endpoint, access_key=settings.access_key, secret_key=settings.secret_key,
                 session_token=settings.session_token, secure=settings.secure, region=settings.region,
                 http_client=http)


# ---------------------------------------------------------------- errors and retries

def _code(exc: BaseException) -> str | None:
    return getattr(exc, "code", None) if type(exc).__name__ == "S3Error" else None


def is_missing(exc: BaseException, code: str) -> bool:
    return _code(exc) == code or (code == "NoSuchKey" and _code(exc) in ("NoSuchObject", "NotFound"))


def is_transient(exc: BaseException) -> bool:
    import urllib3
    from minio.error import InvalidResponseError, S3Error, ServerError
    if isinstance(exc, S3Error):
        status = getattr(exc.response, "status", 0) or 0
        return exc.code in TRANSIENT_CODES or status >= 500
    if isinstance(exc, ServerError):
        return exc.status_code >= 500 or exc.status_code == 429
    if isinstance(exc, InvalidResponseError):
        return True  # a proxy's HTML error page, a server restarting
    return isinstance(exc, (urllib3.exceptions.HTTPError, http.client.HTTPException, ConnectionError, TimeoutError))


def _reason(exc: BaseException) -> str:
    """A short description of an SDK / network error, without request details."""
    import urllib3
    code = _code(exc)
    if code:
        return f"{code}: {getattr(exc, 'message', '') or ''}".rstrip(": ")
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return "connection refused or host unreachable"
    if isinstance(exc, urllib3.exceptions.TimeoutError):
        return "timed out"
    if isinstance(exc, urllib3.exceptions.ProtocolError):
        return "connection dropped"
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def translate(exc: BaseException, loc: Location, action: str, tuning: TransferTuning, attempts: int) -> StorageError:
    code = _code(exc)
    if code in CREDENTIAL_CODES:
        return StorageRefused(f"{action}: access denied by {tuning.endpoint} ({code}); check AWS_ACCESS_KEY_ID and "
                            "AWS_SECRET_ACCESS_KEY (and the bucket policy)", uri=loc.uri)
    if code == "NoSuchBucket":
        return StorageRefused(f"{action}: bucket '{loc.bucket}' does not exist on {tuning.endpoint}", uri=loc.uri)
    if code in ("NoSuchKey", "NoSuchObject", "NotFound"):
        return StorageRefused(f"{action}: no such object on {tuning.endpoint}", uri=loc.uri)
    if is_transient(exc):
        return StorageError(f"{action}: the object store at {tuning.endpoint} failed {attempts} attempts "
                            f"({_reason(exc)}); check MINIO_ENDPOINT / AWS_ENDPOINT_URL and that the server is up",
                            uri=loc.uri)
    return StorageError(f"{action}: {_reason(exc)} (from {tuning.endpoint})", uri=loc.uri)


def retrying(fn: Callable[[], T], loc: Location, action: str, tuning: TransferTuning,
             integrity_error: type[BaseException] | None = None) -> T:
    """Run ``fn``, retrying transient failures with exponential backoff; translate the rest."""
    delay = tuning.backoff_s
    for attempt in range(1, tuning.attempts + 1):
        try:
            return fn()
        except StorageError:
            raise
        except Exception as exc:
            integrity = integrity_error is not None and isinstance(exc, integrity_error)
            if not (integrity or is_transient(exc)):
                if isinstance(exc, OSError):
                    raise  # a local file problem (missing, unreadable): its own error is clearer
                raise translate(exc, loc, action, tuning, attempt) from None
            if attempt == tuning.attempts:
                if integrity:
                    raise StorageError(f"{action}: integrity check failed {attempt} times: {exc}", uri=loc.uri) from None
                raise translate(exc, loc, action, tuning, attempt) from None
            log.warning("%s %s: attempt %d/%d failed (%s); retrying in %.1fs", action, loc.uri, attempt,
                        tuning.attempts, scrub(str(exc) if integrity else _reason(exc)), delay)
            time.sleep(delay)
            delay = min(delay * 2, tuning.max_backoff_s)
    raise AssertionError("unreachable")
