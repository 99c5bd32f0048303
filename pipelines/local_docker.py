"""Run the pipeline's tasks inside the project image: kfp.local's DockerRunner, checked first.

    python -m pipelines.cli run --runner docker [--image localhost/reasoning-cpu:dev] --recipe R
    make run RUNNER=docker

Every task runs in the CPU image (`make images-local` builds it), as the image's own non-root
user, so a local run executes the same bytes a cluster does. Before any task starts, the engine
and the image are checked and a missing one is named with what to install or run.

Why host networking: a task reaches the object store the way the run's own process does
(a SeaweedFS or MinIO on the host's loopback), and it works on an engine started without a
bridge network (images/engine.sh). Object-store settings and credentials reach the container
only as environment variables copied from this process (``FORWARDED_ENV``); they are never
written into a task's arguments, so they appear in no artifact, log or executor output.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from reasoning.errors import InputError

DEFAULT_IMAGE = "localhost/reasoning-cpu:dev"
# The object-store settings reasoning.io.s3client reads, and the log level; nothing else of the host's
# environment (paths such as REASONING_CACHE or AWS_CA_BUNDLE name host files, not the image's).
FORWARDED_ENV = ("MINIO_ENDPOINT", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "MINIO_SECURE", "S3_SECURE",
                 "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
                 "AWS_DEFAULT_REGION", "REASONING_LOG_LEVEL")
_FORWARDED_PREFIX = re.compile(r"^REASONING_S3_[A-Z_]+$")


class EngineError(InputError):
    """The container engine or the image is not there: a setup problem, named before any task runs."""


def engine_address() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def check_engine(image: str):
    """A connected ``docker.DockerClient`` once the engine answers and has ``image``; else EngineError."""
    try:
        import docker
        from docker.errors import DockerException, ImageNotFound
    except ImportError:
        raise EngineError("the docker runner needs the Python package 'docker' (pip install docker==7.2.0; "
                          "`make install` puts it in .venv)", field="--runner") from None
    try:
        client = docker.from_env(timeout=10)
        client.ping()
    except DockerException as exc:
        reason = str(exc).splitlines()[0][:200]
        raise EngineError(f"no container engine answers at {engine_address()} ({reason}): start Docker "
                          "(as root: `images/engine.sh start`; install it with `apt-get install docker.io`), "
                          "or point DOCKER_HOST at a running engine", field="--runner") from None
    try:
        client.images.get(image)
    except ImageNotFound:
        client.close()
        raise EngineError(f"the image {image} is not in the engine at {engine_address()}: build it with "
                          "`make images-local` (or pass --image NAME of one the engine has)",
                          field="--image") from None
    return client


def forwarded_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    environ = os.environ if environ is None else environ
    return {name: value for name, value in environ.items()
            if name in FORWARDED_ENV or _FORWARDED_PREFIX.match(name)}


def open_for_image_user(pipeline_root: Path) -> None:
    """Let the image's user (uid 10001) write the bind-mounted pipeline root.

    kfp.local mounts the host folder at the same path; the host creates the run's task folders,
    the container's user writes into them. Sticky and world-writable, as /tmp: a user may add
    files, not remove another's.
    """
    pipeline_root.mkdir(parents=True, exist_ok=True)
    pipeline_root.chmod(0o1777)


def docker_runner(image: str):
    """A kfp.local DockerRunner for ``image`` after the engine checks (raises EngineError first)."""
    from kfp import local

    check_engine(image).close()
    return local.DockerRunner(network_mode="host", environment=forwarded_environment())
