import json

from reasoning.pipeline.params import eval_models
from reasoning.pipeline.steps import evaluate_models, numeric_metrics, report_file


def test_compares_named_models_and_writes_the_report(tiny_model_dir, tmp_path):
    models = eval_models(str(tiny_model_dir), None, str(tiny_model_dir))
    assert list(models) == ["base", "grpo"]
    result = evaluate_models(models, ["synthetic-test"], tmp_path / "report", limit=1, max_new_tokens=4)
    flat = numeric_metrics(result["metrics"])
    assert "base/synthetic-test/accuracy" in flat and "grpo/synthetic-test/accuracy" in flat
    assert "<html" in report_file(tmp_path / "report", "html").read_text().lower()
    assert report_file(tmp_path / "report", "markdown").read_text().strip()
    assert set(json.loads((tmp_path / "report" / "metrics.json").read_text())["models"]) == {"base", "grpo"}


def test_numeric_metrics_flattens_and_drops_text():
    assert numeric_metrics({"a": {"b": 1, "c": "x"}, "d": True}) == {"a/b": 1.0, "d": 1.0}
