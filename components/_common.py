"""Images and the component factory shared by every component.

Why a factory rather than a bare ``@dsl.component``: the base image is fixed when the
decorator runs, and ``make compile`` must be able to target any registry and tag. Each
component module therefore keeps its plain function and a ``build(image)`` that wraps it.
"""
from __future__ import annotations

import os
from collections.abc import Callable

from kfp import dsl

DEFAULT_REGISTRY = "ghcr.io/example"
DEFAULT_TAG = "0.1.0"


def image(kind: str = "cpu", registry: str | None = None, tag: str | None = None) -> str:
    """``${REGISTRY}/reasoning-<kind>:${TAG}``; REASONING_IMAGE / REASONING_GPU_IMAGE override the default."""
    if kind not in ("cpu", "gpu"):
        raise ValueError(f"image kind must be cpu or gpu, got {kind!r}")
    if registry is None and tag is None:
        override = os.environ.get("REASONING_GPU_IMAGE" if kind == "gpu" else "REASONING_IMAGE")
        if override:
            return override
    return f"{(registry or DEFAULT_REGISTRY).rstrip('/')}/reasoning-{kind}:{tag or DEFAULT_TAG}"


def lightweight(func: Callable, base_image: str):
    """A lightweight Python component: the function's source runs in ``base_image``.

    ``install_kfp_package=False`` and no ``packages_to_install``: the project images already
    hold kfp and ``reasoning`` at pinned versions, and kfp.local's SubprocessRunner runs the
    same component in this virtual environment.
    """
    return dsl.component(func, base_image=base_image, install_kfp_package=False)
