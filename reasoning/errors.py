"""What can go wrong, how it is told without leaking a secret, and the exit code each failure gives.

Every stage process (``python -m reasoning.stages.X``, ``reasoning X``, a KFP step) ends with
one of these codes, so a retry policy or an operator can tell a retryable outage from a bad
setting without reading the log:

====  =====================  ==========================================================
code  name                   meaning
====  =====================  ==========================================================
0     EXIT_OK                the output was written completely
1     EXIT_FAILURE           an unexpected error (a bug: Python prints the traceback), or the
                             fast GRPO path's private library symbols are missing
2     EXIT_INPUT             bad input (:class:`InputError`): a file, line, field or flag is
                             named; also a bad flag (argparse) and an object-store refusal
                             that retrying cannot change (:class:`StorageRefused`: access
                             denied, no such bucket or object)
3     EXIT_GATE_REFUSED      the context stage's long-context gate refused the model
4     EXIT_STORAGE           the object store or the network failed after every retry
                             (:class:`StorageError`): not the input's fault, a later retry may pass
143   EXIT_TERMINATED        SIGTERM (128 + 15, what Kubernetes expects): preempted or cancelled;
                             training saved a checkpoint, ``--resume`` continues it
====  =====================  ==========================================================

Messages never carry a credential: URIs with ``user:password@`` are redacted, and the
object-store secrets this process has used (:func:`remember_secret`, plus the AWS variables
of the environment) are replaced by ``***`` (:func:`scrub`).
"""
from __future__ import annotations

import os
import re

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_INPUT = 2
EXIT_GATE_REFUSED = 3
EXIT_STORAGE = 4
EXIT_TERMINATED = 143

# "s3://KEY:SECRET@bucket/..." (a secret may contain '/', never whitespace or '@').
_URI_CREDENTIALS_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^@\s/:]*+(?::[^@\s]*+)?+@")
_secrets: set[str] = set()


def redact_credentials(text: str) -> str:
    """``s3://KEY:SECRET@bucket/x`` -> ``s3://***@bucket/x`` anywhere in ``text``."""
    return _URI_CREDENTIALS_RE.sub(r"\1***@", str(text))


def has_uri_credentials(value: str) -> bool:
    """Whether ``value`` holds a URI with ``user[:password]@`` before its host or bucket
    (also inside ``name=uri`` lists such as eval's ``--model base=s3://...``)."""
    return _URI_CREDENTIALS_RE.search(str(value)) is not None


def remember_secret(secret: str | None) -> None:
    """A credential this process uses: :func:`scrub` removes it from every later message.
    Shorter than 4 characters it would turn ordinary words into ``***``, so it is not kept."""
    if secret and len(secret) >= 4:
        _secrets.add(secret)


def scrub(text: str) -> str:
    for secret in sorted(_secrets | _env_secrets(), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _env_secrets() -> set[str]:
    names = ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN")
    return {v for v in (os.environ.get(n) for n in names) if v and len(v) >= 4}


class InputError(ValueError):
    """Bad user input, always naming where it is: file, line, field or flag (exit 2).

    Credentials embedded in a URI (``s3://KEY:SECRET@...``) are redacted from the message."""

    def __init__(self, message: str, *, file: str | os.PathLike | None = None,
                 line: int | None = None, field: str | None = None):
        message = redact_credentials(message)
        if file is not None and redact_credentials(str(file)) != str(file):
            file = redact_credentials(str(file))
        where = []
        if file is not None:
            where.append(str(file))
        if line is not None:
            where.append(f"line {line}")
        if field is not None:
            where.append(f"field '{field}'")
        self.file, self.line, self.field = file, line, field
        super().__init__(f"{': '.join([', '.join(where), message]) if where else message}")


class StorageError(RuntimeError):
    """An object-store failure that a later try may not meet: the server unreachable or failing after
    every retry, an upload that fails its integrity check, objects it would not delete. Not bad input:
    stages exit 4 (a KFP retry can help), not 2. Names the URI, never a credential."""

    def __init__(self, message: str, *, uri: str):
        self.uri, self.line, self.field = uri, None, None
        self.file = redact_credentials(uri)
        super().__init__(f"{self.file}: {scrub(message)}")


class StorageRefused(StorageError, InputError):
    """A refusal that retrying will not change (access denied, no such bucket, object or manifest, a
    manifest we cannot read): the settings are wrong, so it is bad input (exit 2) as well."""

    def __init__(self, message: str, *, uri: str):
        self.uri = uri
        InputError.__init__(self, scrub(message), file=uri)


def exit_code_for(exc: BaseException) -> int | None:
    """The exit code of an expected failure, or None for one that is a bug (let it raise).

    A refusal is both a StorageError and an InputError: retrying cannot change it, so it is bad input."""
    if isinstance(exc, InputError):
        return EXIT_INPUT
    if isinstance(exc, StorageError):
        return EXIT_STORAGE
    return None
