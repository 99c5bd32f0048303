"""Component tests share the session fixtures of tests/conftest.py (tiny model, tokenizer, data)."""
import os
from pathlib import Path

os.environ.setdefault("REASONING_CACHE", str(Path(__file__).resolve().parents[1] / ".cache" / "reasoning"))

from tests.conftest import shared_data, smollm2_tokenizer_dir, tiny_model_dir  # noqa: E402,F401
