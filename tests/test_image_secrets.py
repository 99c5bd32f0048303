"""No credential is baked into an image: no ENV or ARG with a credential-like name, no RUN that
sets one inline, no credential file copied in (read statically from the Dockerfiles; a value
set in any of these ends up in a layer or in the image history)."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILES = sorted((ROOT / "images").glob("*/Dockerfile"))

# A name carries a secret when one of its underscore-separated words says so (HF_TOKEN, DB_PASSWORD,
# WANDB_API_KEY) or it belongs to a storage/cloud client that reads credentials from the environment.
SECRET_WORDS = {"SECRET", "SECRETS", "PASSWORD", "PASSWD", "TOKEN", "CREDENTIAL", "CREDENTIALS"}
SECRET_PAIRS = {("ACCESS", "KEY"), ("API", "KEY"), ("PRIVATE", "KEY"), ("SECRET", "KEY")}
CREDENTIAL_PREFIXES = ("AWS_", "MINIO_", "AZURE_")


def is_credential_name(name: str) -> bool:
    upper = name.upper()
    words = upper.split("_")
    return (upper.startswith(CREDENTIAL_PREFIXES) or bool(SECRET_WORDS & set(words))
            or bool(SECRET_PAIRS & set(zip(words, words[1:], strict=False))))


CREDENTIAL_FILES = re.compile(r"(?i)(^|/)(\.aws|\.netrc|\.env|\.docker/config\.json|credentials|\.git-credentials"
                              r"|id_rsa|id_ed25519|\.kube)(/|$)")


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    lines = [line for line in dockerfile.read_text().splitlines() if not line.lstrip().startswith("#")]
    text = "\n".join(lines).replace("\\\n", " ")
    result = []
    for line in text.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def declared_names(keyword: str, arguments: str) -> list[str]:
    """The variable names an ENV or ARG instruction declares (``K=V ...``, legacy ``ENV K V``, ``ARG K``)."""
    words = shlex.split(arguments)
    if keyword == "ENV" and words and "=" not in words[0]:
        return [words[0]]  # legacy form: ENV NAME value with spaces
    return [word.split("=", 1)[0] for word in words]


def credential_findings(dockerfile: Path) -> list[str]:
    findings = []
    for keyword, arguments in instructions(dockerfile):
        if keyword in ("ENV", "ARG"):
            findings += [f"{keyword} {name}" for name in declared_names(keyword, arguments)
                         if is_credential_name(name)]
        elif keyword == "RUN":
            for name in re.findall(r"(?:^|[\s;&|(])(?:export\s+)?([A-Za-z_]\w*)=", arguments):
                if is_credential_name(name):
                    findings.append(f"RUN sets {name}")
        elif keyword in ("COPY", "ADD"):
            sources = [w for w in shlex.split(arguments) if not w.startswith("--")][:-1]
            findings += [f"{keyword} {source}" for source in sources if CREDENTIAL_FILES.search(source)]
    return findings


@pytest.mark.parametrize("name", ["AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN", "HF_TOKEN",
                                  "HUGGING_FACE_HUB_TOKEN", "MINIO_ROOT_PASSWORD", "MINIO_ACCESS_KEY",
                                  "MINIO_SECRET_KEY", "DB_PASSWORD", "WANDB_API_KEY", "GITHUB_TOKEN",
                                  "CLIENT_SECRET", "aws_secret_access_key"])
def test_the_real_credential_names_are_recognised(name):
    assert is_credential_name(name)


@pytest.mark.parametrize("name", ["PIP_NO_CACHE_DIR", "CUDA_IMAGE", "VIRTUAL_ENV", "DEBIAN_FRONTEND", "PATH",
                                  "REASONING_CACHE", "HF_HOME", "TOKENIZERS_PARALLELISM", "HF_HUB_OFFLINE"])
def test_ordinary_settings_are_not_flagged(name):
    assert not is_credential_name(name)


@pytest.mark.parametrize("planted, finding", [
    ("ENV AWS_SECRET_ACCESS_KEY=abc", "ENV AWS_SECRET_ACCESS_KEY"),
    ("ENV PIP_NO_CACHE_DIR=1 \\\n    HF_TOKEN=hf_x", "ENV HF_TOKEN"),
    ("ENV MINIO_ROOT_PASSWORD secret value", "ENV MINIO_ROOT_PASSWORD"),
    ("ARG AWS_ACCESS_KEY_ID", "ARG AWS_ACCESS_KEY_ID"),
    ("RUN AWS_SECRET_ACCESS_KEY=abc python -c 'print(1)'", "RUN sets AWS_SECRET_ACCESS_KEY"),
    ("RUN pip install x && export HF_TOKEN=hf_x", "RUN sets HF_TOKEN"),
    ("COPY .aws/credentials /root/.aws/credentials", "COPY .aws/credentials"),
])
def test_a_planted_credential_is_found(tmp_path, planted, finding):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(f"FROM python:3.11-slim\n{planted}\nUSER 10001:10001\n")
    assert finding in credential_findings(dockerfile)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_images_bake_in_no_credentials(dockerfile):
    assert DOCKERFILES, "no Dockerfiles found under images/"
    assert credential_findings(dockerfile) == []
