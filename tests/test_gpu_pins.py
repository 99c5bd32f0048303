"""The GPU image's complete pin set resolves (issue 13): its CUDA base cannot be pulled here, so the
image is never built here, but pip's resolver can still prove that vllm, flash-attn, deepspeed,
torch and transformers at the repository's pins agree, before a user's build finds out.

Needs the package registry (PyPI), as `make install` does; about a minute.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "images"))
import requirements as image_requirements  # noqa: E402  (images/requirements.py)

ROOT = Path(__file__).resolve().parents[1]


def resolve(requirements: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    (tmp_path / "requirements.txt").write_text("\n".join(requirements) + "\n")
    # --isolated: no local find-links or constraints of this machine, PyPI as the image sees it.
    # --no-build-isolation: flash-attn's and deepspeed's sdists import torch to describe themselves;
    # the image installs them the same way, against the torch installed before them.
    command = [sys.executable, "-m", "pip", "install", "--isolated", "--dry-run", "--ignore-installed",
               "--no-build-isolation", "--quiet", "--report", str(tmp_path / "report.json"),
               "-r", str(tmp_path / "requirements.txt")]
    cert = os.environ.get("PIP_CERT") or os.environ.get("SSL_CERT_FILE")
    if cert:
        command[4:4] = ["--cert", cert]
    env = {**os.environ, "FLASH_ATTENTION_SKIP_CUDA_BUILD": "TRUE", "DS_BUILD_OPS": "0"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)


def test_gpu_image_pin_set_resolves_with_pips_resolver(tmp_path):
    pyproject = __import__("tomllib").loads((ROOT / "pyproject.toml").read_text())
    lines = image_requirements.requirements(pyproject, ["gpu"])
    result = resolve(lines, tmp_path)
    assert result.returncode == 0, f"the GPU image's pins do not resolve:\n{result.stderr[-3000:]}"
    resolved = {image_requirements.pins([f"{i['metadata']['name']}=={i['metadata']['version']}"]).popitem()
                for i in json.loads((tmp_path / "report.json").read_text())["install"]}
    resolved = dict(resolved)
    for name, version in image_requirements.pins(lines).items():
        assert resolved.get(name, "").split("+")[0] == version, f"{name}: pinned {version}, resolved {resolved.get(name)}"


def test_a_conflicting_pin_fails_the_resolution(tmp_path):
    """The check can fail: vllm 0.30.0 needs a transformers newer than 4.40."""
    result = resolve(["vllm==0.30.0", "transformers==4.40.0", "torch==2.13.0"], tmp_path)
    assert result.returncode != 0 and "ResolutionImpossible" in result.stderr + result.stdout
