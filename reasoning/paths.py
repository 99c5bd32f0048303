"""Where the library keeps files of its own on this machine.

One place for the cache root, so the model converter (``models``), the object-store cache
(``storage``) and the training checkpoints agree on it without importing each other.
"""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The cache root: converted builtin models (``models/``), object-store downloads (``objects/``),
    outputs staged for upload (``staging/``), checkpoints of remote outputs (``checkpoints/``).
    ``REASONING_CACHE`` overrides it; else ``$XDG_CACHE_HOME/reasoning`` or ``~/.cache/reasoning``."""
    root = os.environ.get("REASONING_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "reasoning")
    return Path(root)
