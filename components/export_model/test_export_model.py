import pytest

from reasoning.errors import InputError
from reasoning.pipeline.steps import export_model, import_model


def test_exports_to_a_local_path(tiny_model_dir, tmp_path):
    import_model(str(tiny_model_dir), tmp_path / "model")
    result = export_model(tmp_path / "model", str(tmp_path / "exported"))
    assert (tmp_path / "exported" / "model.safetensors").read_bytes() == (tmp_path / "model" / "model.safetensors").read_bytes()
    assert result["stage"] == "import" and len(result["sha256"]) == 64


def test_refuses_a_directory_without_a_model(tmp_path):
    with pytest.raises(InputError, match="no config.json"):
        export_model(tmp_path, str(tmp_path / "out"))
