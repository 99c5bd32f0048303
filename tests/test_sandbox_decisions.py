"""The sandbox's decisions, each pinned in well under a second (the slow hostile-program tests in
tests/test_sandbox.py show the same end to end): how a run is classified (passed, failed,
timeout, error) and what its detail says, the limits and guards the program runs under, how
output is kept, and the helpers that find and kill what a sandbox left behind.

Real subprocesses throughout; timeouts are fractions of a second. A few classifications cannot
be produced by a program inside the real sandbox (``unshare`` failing, a process surviving the
kill): those run ``_run_isolated`` with a small shell script as the prefix, or inject the
survivor, and say so."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from reasoning.scoring import sandbox
from reasoning.scoring.sandbox import SandboxResult, build_program, run_program, run_tests
from tests.process_probe import processes_with

TESTS = "def check(candidate):\n    assert candidate(1) == 2\n"
RIGHT = "def f(x):\n    return x + 1\n"


@pytest.fixture
def unisolated(monkeypatch):
    """No namespaces, explicitly allowed: the program is the interpreter itself (not pid 1 of a
    namespace, which the kernel protects from its own signals), so it can die by a signal."""
    monkeypatch.setenv(sandbox.FORCE_ISOLATION_ENV, "none")
    monkeypatch.setenv(sandbox.ALLOW_UNISOLATED_ENV, "1")


def _marker() -> str:
    """A number no other process has on its command line (``sleep`` takes it as seconds)."""
    return f"{time.time() % 1000:.6f}{os.getpid()}"


def _kill_all(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


# ---------------------------------------------------------------- classification and detail

def test_a_passing_program_passes_with_its_stderr_else_its_stdout_as_detail():
    assert run_program("x = 1\n", timeout=0.5) == SandboxResult(True, "passed", "")
    assert run_program("print('out')\n", timeout=0.5) == SandboxResult(True, "passed", "out\n")
    both = run_program("import sys\nprint('out')\nsys.stderr.write('err\\n')\n", timeout=0.5)
    assert both == SandboxResult(True, "passed", "err\n")


def test_detail_is_the_last_2000_characters_of_the_output():
    result = run_program("import sys\nsys.stderr.write('a' * 3000 + 'b' * 1000 + 'END')\n", timeout=1)
    assert result.passed
    assert result.detail == "a" * 997 + "b" * 1000 + "END"


def test_a_failing_program_says_its_exit_status_then_its_output():
    result = run_program("raise ValueError('nope')\n", timeout=0.5)
    assert (result.passed, result.status) == (False, "failed")
    assert result.detail.startswith("exit status 1\nTraceback")
    assert result.detail.endswith("ValueError: nope")  # stripped
    assert run_program("import os\nos._exit(3)\n", timeout=0.5) == SandboxResult(False, "failed", "exit status 3")


def test_an_exit_with_status_0_before_the_end_is_no_result_marker():
    result = run_program("raise SystemExit(0)\nx = 1\n", timeout=0.5)
    assert result == SandboxResult(False, "failed", "no result marker (the program exited before its tests ended); "
                                                    "exit status 0")


def test_a_forged_result_marker_without_the_nonce_does_not_pass():
    # sys.argv[8] is the result pipe; the nonce is only in the bootstrap's memory. "None" is what
    # the marker would hold if no nonce had been drawn.
    for forged in ("passed\n", "passed None\n", "passed 0\n"):
        program = f"import os, sys\nos.write(int(sys.argv[8]), {forged!r}.encode())\nos._exit(0)\n"
        result = run_program(program, timeout=0.5)
        assert result.status == "failed", (forged, result)


def test_the_entry_point_is_checked_only_when_given():
    assert run_program(RIGHT + TESTS, timeout=0.5, entry_point="f").passed
    wrong = "def f(x):\n    return x\n" + TESTS
    assert run_program(wrong, timeout=0.5, entry_point="f").status == "failed"
    assert run_program(wrong, timeout=0.5).passed  # no entry point: running to the end is a pass
    assert "check() or g() is not defined" in run_program(wrong, timeout=0.5, entry_point="g").detail


def test_a_killed_sandbox_returns_at_once_not_at_the_kill_deadline():
    # After killing a running sandbox the parent waits for its namespace to empty, for at most
    # 5 s: an empty one must end the wait at once (a GRPO step runs hundreds of these).
    started = time.monotonic()
    assert run_program("import time\ntime.sleep(30)\n", timeout=0.2).status == "timeout"
    assert time.monotonic() - started < 3


def test_a_timeout_says_how_long_and_shows_the_output_so_far():
    sleeper = "import sys, time\nsys.stderr.write('started\\n')\nsys.stderr.flush()\ntime.sleep(30)\n"
    assert run_program(sleeper, timeout=0.3) == SandboxResult(False, "timeout", "exceeded 0.3s\nstarted\n")
    assert run_program("import time\ntime.sleep(30)\n", timeout=0.25) == SandboxResult(False, "timeout",
                                                                                      "exceeded 0.2s")


def test_a_timed_out_program_is_killed_and_its_directory_removed():
    marker = _marker()
    program = ("import os, posix, sys\nsys.stderr.write(os.getcwd() + '\\n')\nsys.stderr.flush()\n"
               f"posix.execv('/bin/sleep', ['sleep', '{marker}'])\n")
    try:
        result = run_program(program, timeout=0.3)
        assert result.status == "timeout", result
        workdir = result.detail.splitlines()[1]
        assert Path(workdir).name.startswith("reasoning-sandbox-")
        assert not Path(workdir).exists()
        assert processes_with(marker) == []
    finally:
        _kill_all(processes_with(marker))


@pytest.mark.parametrize("signal_name", ["SIGXCPU", "SIGKILL"])
def test_death_by_the_cpu_limit_signals_is_a_timeout_only_near_the_limit(unisolated, signal_name):
    # RLIMIT_CPU sends SIGXCPU, then SIGKILL; the program raises them itself here. timeout 1 ->
    # a CPU limit of 1 s: dying at 0.6 s counts as the limit, dying at once is a crash (failed).
    late = f"import signal, time\ntime.sleep(0.6)\nsignal.raise_signal(signal.{signal_name})\n"
    assert run_program(late, timeout=1).status == "timeout"
    at_once = f"import signal\nsignal.raise_signal(signal.{signal_name})\n"
    number = getattr(signal, signal_name)
    assert run_program(at_once, timeout=1) == SandboxResult(False, "failed", f"exit status -{number}")


def test_a_program_cannot_claim_a_setup_failure_without_saying_so():
    # Exit 97 is the bootstrap refusing to run the program; it is an error only with its message.
    setup = "import os, sys\nsys.stderr.write('sandbox setup failed, program not run: x\\n')\nos._exit(97)\n"
    assert run_program(setup, timeout=0.5) == SandboxResult(False, "error",
                                                            "sandbox setup failed, program not run: x\n")
    assert run_program("import os\nos._exit(97)\n", timeout=0.5) == SandboxResult(False, "failed", "exit status 97")
    said = "import os, sys\nsys.stderr.write('sandbox setup failed')\nos._exit(96)\n"
    assert run_program(said, timeout=0.5).status == "failed"


def _run_with_prefix(prefix, program="x = 1\n"):
    """_run_isolated with ``prefix`` in place of ``unshare ...``: how the sandbox's own start fails."""
    return sandbox._run_isolated(program, prefix, -1, -1, timeout=2, memory_mb=256, max_file_mb=1, max_processes=16,
                                 entry_point=None)


@pytest.mark.parametrize("status", [126, 127])
def test_unshare_failing_to_start_the_interpreter_is_an_error(status):
    failing = ("/bin/sh", "-c", f"echo 'unshare: failed to execute python' >&2; exit {status}", "sh")
    assert _run_with_prefix(failing) == SandboxResult(False, "error", "unshare: failed to execute python\n")
    quiet = ("/bin/sh", "-c", f"echo 'other' >&2; exit {status}", "sh")
    assert _run_with_prefix(quiet) == SandboxResult(False, "failed", f"exit status {status}\nother")
    other = ("/bin/sh", "-c", "echo 'unshare: x' >&2; exit 125", "sh")
    assert _run_with_prefix(other).status == "failed"


def test_a_sandbox_that_cannot_start_is_an_error_and_leaks_nothing():
    before = set(os.listdir("/proc/self/fd"))
    dirs = {p for p in os.listdir(tempfile.gettempdir()) if p.startswith("reasoning-sandbox-")}
    result = _run_with_prefix(("/nonexistent/unshare",))
    assert (result.passed, result.status) == (False, "error")
    assert result.detail.startswith("could not start the sandbox: [Errno 2]")
    assert set(os.listdir("/proc/self/fd")) == before
    assert {p for p in os.listdir(tempfile.gettempdir()) if p.startswith("reasoning-sandbox-")} == dirs


def test_a_run_leaks_no_descriptor():
    before = set(os.listdir("/proc/self/fd"))
    assert run_program("print('x')\n", timeout=0.5).passed
    assert run_program("import time\ntime.sleep(5)\n", timeout=0.2).status == "timeout"
    assert set(os.listdir("/proc/self/fd")) == before


def test_processes_surviving_the_kill_make_the_run_an_error(monkeypatch):
    # No program can survive SIGKILL to its namespace; inject one pid the kill reported left.
    real = sandbox._kill_sandbox
    monkeypatch.setattr(sandbox, "_kill_sandbox", lambda process, namespaced: real(process, namespaced) + [4242])
    assert run_program("x = 1\n", timeout=0.5) == SandboxResult(False, "error",
                                                                "processes [4242] of the sandbox survived the kill")


# ---------------------------------------------------------------- what the program runs under

def _inside(checks: str, **kwargs) -> SandboxResult:
    return run_program("import os, resource, sys\n" + checks, **kwargs)


def test_the_limits_follow_the_arguments():
    checks = ("R = resource\n"
              "assert R.getrlimit(R.RLIMIT_CPU) == (3, 3), R.getrlimit(R.RLIMIT_CPU)\n"
              "assert R.getrlimit(R.RLIMIT_AS) == (300 << 20, 300 << 20), R.getrlimit(R.RLIMIT_AS)\n"
              "assert R.getrlimit(R.RLIMIT_FSIZE) == (3 << 20, 3 << 20), R.getrlimit(R.RLIMIT_FSIZE)\n"
              "assert R.getrlimit(R.RLIMIT_NPROC) == (20, 20), R.getrlimit(R.RLIMIT_NPROC)\n"
              "assert R.getrlimit(R.RLIMIT_CORE) == (0, 0)\n")
    result = _inside(checks, timeout=2.5, memory_mb=300, max_file_mb=3, max_processes=20)
    assert result.passed, result.detail


def test_the_default_limits_and_a_cpu_limit_of_at_least_one_second():
    checks = ("R = resource\n"
              "assert R.getrlimit(R.RLIMIT_CPU) == (10, 10), R.getrlimit(R.RLIMIT_CPU)\n"
              "assert R.getrlimit(R.RLIMIT_AS) == (1024 << 20, 1024 << 20), R.getrlimit(R.RLIMIT_AS)\n"
              "assert R.getrlimit(R.RLIMIT_FSIZE) == (16 << 20, 16 << 20), R.getrlimit(R.RLIMIT_FSIZE)\n"
              "assert R.getrlimit(R.RLIMIT_NPROC) == (64, 64), R.getrlimit(R.RLIMIT_NPROC)\n")
    assert _inside(checks).passed, _inside(checks).detail
    one = "assert resource.getrlimit(resource.RLIMIT_CPU) == (1, 1), resource.getrlimit(resource.RLIMIT_CPU)\n"
    assert _inside(one, timeout=0.3).passed


def test_run_tests_passes_its_timeout_and_memory_on():
    limits = ("import resource\n"
              "def check(candidate):\n"
              "    assert resource.getrlimit(resource.RLIMIT_CPU) == ({cpu}, {cpu})\n"
              "    assert resource.getrlimit(resource.RLIMIT_AS) == ({mb} << 20, {mb} << 20)\n"
              "    assert candidate(1) == 2\n")
    assert run_tests(RIGHT, limits.format(cpu=10, mb=1024), "f").passed
    assert run_tests(RIGHT, limits.format(cpu=2, mb=200), "f", timeout=1.5, memory_mb=200).passed
    assert run_tests("def f(x):\n    return x\n", limits.format(cpu=10, mb=1024), "f").status == "failed"


def test_the_interpreter_is_isolated_without_site_in_a_fresh_directory_with_no_environment():
    checks = ("assert sys.flags.isolated == 1 and sys.flags.no_site == 1, sys.flags\n"
              "assert set(os.environ) <= {'LC_CTYPE'}, dict(os.environ)\n"  # the interpreter's locale coercion
              "here = os.getcwd()\n"  # hidden under the private /tmp by its path, reachable as '.'
              "assert os.path.basename(here).startswith('reasoning-sandbox-'), here\n"
              "assert os.listdir('.') == ['program.py'], os.listdir('.')\n"
              "assert os.stat('.').st_uid == os.getuid() == os.stat('program.py').st_uid\n"
              "assert os.getuid() != 0 and os.getgid() == os.getuid()\n"
              "assert open('program.py', encoding='utf-8').read().startswith('import os')\n"
              "open('written.txt', 'w').write('the working directory is the program\\'s')\n"
              "assert os.read(0, 10) == b''\n")  # stdin is /dev/null, not the nonce pipe
    result = _inside(checks + "# non-ASCII survives the round trip: \u00e9\u4e2d\n", timeout=1)
    assert result == SandboxResult(True, "passed", ""), result


def test_every_preloaded_module_is_imported_before_the_program_starts():
    checks = f"missing = [m for m in {sandbox.PRELOAD!r} if m not in sys.modules]\nassert not missing, missing\n"
    result = _inside(checks, timeout=1)
    assert result.passed, result.detail


def test_only_the_standard_descriptors_and_the_result_pipe_reach_the_program():
    leaked_read, leaked_write = os.pipe()
    os.set_inheritable(leaked_read, True)  # as a careless library in the trainer might leave one
    try:
        checks = ("fds = {int(fd) for fd in os.listdir('/proc/self/fd')}\n"  # includes the listing's own fd
                  "assert len(fds) == 5 and len(fds - {0, 1, 2, int(sys.argv[8])}) == 1, fds\n")
        result = _inside(checks, timeout=1)
        assert result.passed, result.detail
    finally:
        os.close(leaked_read)
        os.close(leaked_write)


def test_children_of_an_unisolated_program_die_with_it(unisolated):
    # Without namespaces the program's process group is what is killed: it must be a new session,
    # not the trainer's group.
    marker = _marker()
    program = ("import posix\n"
               f"if posix.fork() == 0:\n    posix.execv('/bin/sleep', ['sleep', '{marker}'])\n")
    try:
        assert run_program(program, timeout=2).passed
        deadline = time.monotonic() + 2
        while processes_with(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert processes_with(marker) == []
    finally:
        _kill_all(processes_with(marker))


def test_non_text_programs_are_refused_before_anything_runs():
    for program in (b"x = 1", None, "x = 1\x00"):
        assert run_program(program) == SandboxResult(False, "failed", "the program is not text")


def test_run_tests_refuses_missing_code_tests_or_entry_point():
    for code in ("", "  \n\t"):
        assert run_tests(code, TESTS, "f") == SandboxResult(False, "failed", "no code")
    refused = SandboxResult(False, "error", "tests and a valid entry point are required")
    assert run_tests(RIGHT, "", "f") == refused
    assert run_tests(RIGHT, TESTS, "") == refused
    assert run_tests(RIGHT, TESTS, "f(x)") == refused
    assert run_tests(RIGHT, TESTS, "f").passed


def test_build_program_is_the_completion_then_the_tests():
    assert build_program("def f(x):\n    return x", TESTS, "f") == f"def f(x):\n    return x\n\n{TESTS}\n"


# ---------------------------------------------------------------- isolation settings

@pytest.mark.parametrize("value, allowed", [("1", True), ("true", True), (" YES ", True), ("True", True),
                                            ("0", False), ("", False), ("no", False), ("y", False)])
def test_running_unisolated_needs_an_explicit_yes(monkeypatch, value, allowed):
    monkeypatch.setenv(sandbox.ALLOW_UNISOLATED_ENV, value)
    assert sandbox.unisolated_allowed() is allowed


def test_unisolated_is_not_allowed_by_default(monkeypatch):
    monkeypatch.delenv(sandbox.ALLOW_UNISOLATED_ENV, raising=False)
    assert sandbox.unisolated_allowed() is False


@pytest.mark.parametrize("value, forced", [(" None ", True), ("NONE", True), ("none", True), ("", False),
                                           ("namespaces", False)])
def test_namespaces_are_used_unless_forced_off(monkeypatch, value, forced):
    monkeypatch.setenv(sandbox.FORCE_ISOLATION_ENV, value)
    prefix = sandbox.namespace_prefix()
    assert prefix == (() if forced else sandbox._probe_namespaces())
    monkeypatch.delenv(sandbox.FORCE_ISOLATION_ENV)
    assert sandbox.namespace_prefix() == sandbox._probe_namespaces() != ()


def test_isolation_in_words(monkeypatch):
    monkeypatch.delenv(sandbox.FORCE_ISOLATION_ENV, raising=False)
    monkeypatch.delenv(sandbox.ALLOW_UNISOLATED_ENV, raising=False)
    assert sandbox.isolation() == "namespaces (pid, mount, network), read-only filesystem, own uid per sandbox"
    monkeypatch.setattr(sandbox.os, "geteuid", lambda: 1000)  # the unprivileged wording (this host runs as root)
    assert sandbox.isolation() == "namespaces (pid, mount, network), read-only filesystem, " \
                                  "user namespace, no capabilities"
    monkeypatch.undo()
    monkeypatch.setenv(sandbox.FORCE_ISOLATION_ENV, "none")
    monkeypatch.delenv(sandbox.ALLOW_UNISOLATED_ENV, raising=False)
    unavailable = ("unavailable: code is not run (no namespaces; set REASONING_SANDBOX_ALLOW_UNISOLATED=1 "
                   "to run it anyway)")
    assert sandbox.isolation() == unavailable
    assert run_program("x = 1\n") == SandboxResult(False, "error", f"refused: isolation {unavailable}")
    monkeypatch.setenv(sandbox.ALLOW_UNISOLATED_ENV, "1")
    assert sandbox.isolation() == ("NONE: no namespaces, in-interpreter guards only "
                                   "(REASONING_SANDBOX_ALLOW_UNISOLATED=1)")


# ---------------------------------------------------------------- output readers

def _read_all(data: bytes, limit: int) -> sandbox._TailReader:
    read, write = os.pipe()
    os.write(write, data)  # before the reader starts: one os.read gets all of it
    os.close(write)
    reader = sandbox._TailReader(read, limit)
    reader.start()
    reader.join(5)
    return reader


def test_the_tail_reader_keeps_the_last_bytes_counts_all_and_closes_its_pipe():
    reader = _read_all(b"0123456789" * 5, limit=8)
    assert reader.text() == "23456789"
    assert reader.total == 50
    assert len(reader.data) <= 16  # trimmed to the limit once over twice the limit
    with pytest.raises(OSError):
        os.fstat(reader.fd)
    exact = _read_all(b"x" * 16, limit=8)  # exactly twice the limit: not trimmed yet
    assert len(exact.data) == 16 and exact.text() == "x" * 8 and exact.total == 16
    over = _read_all(b"y" * 17, limit=8)  # one byte over: trimmed to the limit
    assert len(over.data) == 8 and over.total == 17
    assert reader.daemon  # a reader never keeps the trainer's interpreter alive


def test_the_tail_reader_reads_everything_in_chunks_and_replaces_bad_utf8():
    read, write = os.pipe()
    reader = sandbox._TailReader(read, 100)
    assert (reader.total, bytes(reader.data), reader.limit) == (0, b"", 100)
    assert sandbox._TailReader(write).limit == sandbox.OUTPUT_LIMIT_BYTES == 1 << 20
    reader.start()
    for _ in range(3):
        os.write(write, b"ab\xff")
        time.sleep(0.05)
    os.close(write)
    reader.join(5)
    assert reader.total == 9
    assert reader.text() == "ab\ufffd" * 3


# ---------------------------------------------------------------- finding and killing processes

def test_pid_namespaces_and_the_processes_in_them():
    own = os.readlink("/proc/self/ns/pid")
    assert sandbox._pid_namespace(os.getpid()) == own
    assert sandbox._pid_namespace(-1) is None
    members = sandbox._processes_in(own)
    assert os.getpid() in members and all(isinstance(pid, int) for pid in members)
    assert sandbox._processes_in("pid:[0]") == []


def _parent_of_two(tmp_path) -> subprocess.Popen:
    """A shell with two sleeping children, one whose name holds ') 1 (' (as /proc/PID/stat shows it)."""
    odd = tmp_path / "a) 1 (b"
    odd.symlink_to("/bin/sleep")
    parent = subprocess.Popen(["/bin/sh", "-c", f"/bin/sleep 30 & '{odd}' 30 & wait"], start_new_session=True)
    deadline = time.monotonic() + 5
    while len(sandbox._children(parent.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    return parent


def test_children_from_the_kernel_list_and_from_stat_agree(tmp_path):
    parent = _parent_of_two(tmp_path)
    try:
        children = sandbox._children(parent.pid)
        assert len(children) == 2
        assert sorted(sandbox._children_from_stat(parent.pid)) == sorted(children)
        assert all(isinstance(pid, int) for pid in sandbox._children_from_stat(parent.pid))
    finally:
        os.killpg(parent.pid, signal.SIGKILL)
        parent.wait()
    assert sandbox._children(parent.pid) == []  # gone: no such file, and no process has it as parent
    assert sandbox._children_from_stat(parent.pid) == []


def test_killing_a_namespaced_sandbox_kills_every_process_in_its_namespace():
    marker = _marker()
    prefix = sandbox._probe_namespaces()
    inner = f"import os, subprocess, time\nsubprocess.Popen(['/bin/sleep', '{marker}'], start_new_session=True)\n" \
            "time.sleep(30)\n"
    process = subprocess.Popen([*prefix, sys.executable, "-c", inner], start_new_session=True)
    try:
        deadline = time.monotonic() + 5
        while not processes_with(marker) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert processes_with(marker)
        assert sandbox._kill_sandbox(process, True) == []
        assert process.returncode is not None
        assert processes_with(marker) == []
    finally:
        _kill_all(processes_with(marker))
        process.kill()
        process.wait()


def test_the_namespace_init_is_killed_even_when_it_left_the_process_group():
    # Without --kill-child, and with the namespace's init in a session of its own, neither the
    # parent's death nor the process-group kill reaches it: only the direct kill of the init does.
    marker = _marker()
    prefix = [arg for arg in sandbox._probe_namespaces() if arg != "--kill-child"]
    inner = "import os, time\nos.setsid()\ntime.sleep(30)\n"
    process = subprocess.Popen([*prefix, sys.executable, "-c", inner, marker], start_new_session=True)
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not (
                (pids := processes_with(marker)) and sandbox._pid_namespace(pids[-1]) != sandbox._pid_namespace(
                    os.getpid()) and os.getsid(pids[-1]) == pids[-1]):
            time.sleep(0.02)
        assert sandbox._kill_sandbox(process, True) == []
        assert processes_with(marker) == []
    finally:
        _kill_all(processes_with(marker))
        process.kill()
        process.wait()


def test_killing_an_unisolated_sandbox_kills_its_process_group():
    marker = _marker()
    process = subprocess.Popen(["/bin/sh", "-c", f"/bin/sleep {marker} & wait"], start_new_session=True)
    try:
        deadline = time.monotonic() + 5
        while not processes_with(marker) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sandbox._kill_sandbox(process, False) == []
        assert process.returncode == -signal.SIGKILL
        assert processes_with(marker) == []
    finally:
        _kill_all(processes_with(marker))


def test_a_sandbox_uid_is_its_own_while_it_runs():
    with sandbox._sandbox_uid() as (uid, gid):
        assert uid == gid and sandbox.UID_RANGE[0] <= uid < sandbox.UID_RANGE[1]
        assert uid in sandbox._uids_in_use
        with sandbox._sandbox_uid() as (other, _):
            assert other != uid
    assert uid not in sandbox._uids_in_use


def test_threads_get_distinct_uids():
    seen, lock, barrier = [], threading.Lock(), threading.Barrier(4)

    def take():
        with sandbox._sandbox_uid() as (uid, _):
            with lock:
                seen.append(uid)
            barrier.wait(5)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert len(set(seen)) == 4
