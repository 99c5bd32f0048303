import json

import pytest

from components.import_model.component import build
from reasoning.errors import InputError
from reasoning.pipeline.steps import import_model


def test_imports_a_model_directory_with_lineage(tiny_model_dir, tmp_path):
    out = tmp_path / "model"
    summary = import_model(str(tiny_model_dir), out)
    assert (out / "config.json").exists() and (out / "model.safetensors").exists()
    metadata = json.loads((out / "reasoning_artifact.json").read_text())
    assert metadata["stage"] == "import" and metadata["base_model"] == str(tiny_model_dir)
    assert summary["sha256"] == metadata["sha256"] and summary["source"] == str(tiny_model_dir)


def test_missing_model_fails_clearly(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        import_model(str(tmp_path / "nothing"), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_component_outputs_a_model():
    spec = build().component_spec
    assert spec.outputs["model"].type.startswith("system.Model")
