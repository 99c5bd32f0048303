"""images/engine.sh: one clear error naming what to install or run, and it never stops an engine it did not start."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENGINE = ROOT / "images" / "engine.sh"


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([shutil.which("bash"), str(ENGINE), *args], env=env, capture_output=True, text=True,
                          timeout=120)


def tool_dir(tmp_path: Path, **scripts: str) -> Path:
    """A PATH of the real coreutils the script uses, plus stand-in programs named in ``scripts``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "id", "mkdir", "cat", "rm", "seq", "sleep", "kill", "tail", "timeout", "nohup"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    for name, body in scripts.items():
        (bin_dir / name).write_text(f"#!{shutil.which('bash')}\n{body}\n")
        (bin_dir / name).chmod(0o755)
    return bin_dir


def test_check_names_the_engine_address_and_the_fix(tmp_path):
    env = {"PATH": str(tool_dir(tmp_path)), "DOCKER_HOST": f"unix://{tmp_path}/none.sock"}
    result = run("check", env=env)
    assert result.returncode == 1
    assert f"unix://{tmp_path}/none.sock" in result.stderr and "images/engine.sh start" in result.stderr
    assert "apt-get install docker.io" in result.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="starting an engine needs root")
def test_an_engine_that_refuses_to_start_is_reported_with_its_log(tmp_path):
    # A daemon that dies at once, as dockerd does on a kernel it cannot use, and a client that finds no engine.
    bin_dir = tool_dir(tmp_path, dockerd='echo "failed to start daemon: overlay2 not supported" >&2; exit 1',
                       docker="exit 1")
    env = {"PATH": str(bin_dir), "ENGINE_STATE_DIR": str(tmp_path / "state")}
    result = run("start", env=env)
    assert result.returncode == 1
    assert "dockerd did not start" in result.stderr and "overlay2 not supported" in result.stderr
    assert not (tmp_path / "state" / "dockerd.pid").exists()


def test_stop_leaves_an_engine_it_did_not_start(tmp_path):
    env = {"PATH": str(tool_dir(tmp_path)), "ENGINE_STATE_DIR": str(tmp_path / "state")}
    result = run("stop", env=env)
    assert result.returncode == 0 and "not started by this script" in result.stdout
    assert run("restart", env=env).returncode == 2
