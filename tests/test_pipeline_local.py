"""The whole pipeline through kfp.local on the tiny model: every task, each optional stage on and off.

Run 1 (about 1.5 min on 2 cores): CoT on, context extension off (its task writes a skipped marker and
GRPO trains the SFT model), export on.
Run 2: CoT off (SFT trains on the imported rows), context extension on with a long-data fine-tune
(GRPO trains the extended model).
A bad parameter stops the run in its first task.
"""
import json
from pathlib import Path

import pytest

from reasoning.pipeline.params import load_pipeline_recipe

ROOT = Path(__file__).resolve().parents[1]


def tiny_parameters(tiny_model_dir, **overrides):
    values = load_pipeline_recipe(ROOT / "recipes" / "pipeline_tiny_ci.yaml")
    values.update(base_model=str(tiny_model_dir), **overrides)
    return values


def executor_output(task_dir: str | Path) -> dict:
    return json.loads((Path(task_dir) / "executor_output.json").read_text())


def artifact(outputs, component, name) -> tuple[Path, dict]:
    from pipelines.cli import task_outputs
    task_dir = Path(task_outputs(outputs, component)["executor_output.json"]).parent
    (entry,) = executor_output(task_dir)["artifacts"][name]["artifacts"]
    return Path(entry["uri"]), entry["metadata"]


def check_model(path: Path, stage: str) -> dict:
    assert (path / "config.json").exists() and (path / "model.safetensors").exists(), path
    metadata = json.loads((path / "reasoning_artifact.json").read_text())
    assert metadata["stage"] == stage and len(metadata["sha256"]) == 64
    return metadata


def check_skipped(outputs, component, name, stage) -> Path:
    """A switched-off stage ran, and left only its marker where the model or rows would be."""
    path, meta = artifact(outputs, component, name)
    assert [p.name for p in path.iterdir()] == ["reasoning_artifact.json"], list(path.iterdir())
    assert meta["kind"] == "skipped" and meta["stage"] == stage and "is false" in meta["skipped"]
    return path


def lineage(model: Path) -> dict:
    return json.loads((model / "reasoning_artifact.json").read_text())["lineage"]


def check_common_tasks(summary, outputs):
    model, meta = artifact(outputs, "import-model", "model")
    check_model(model, "import")
    assert meta["stage"] == "import" and len(meta["sha256"]) == 64
    rows, meta = artifact(outputs, "import-dataset", "dataset")
    assert meta["rows"] == 8 and sum(1 for _ in (rows / "rows.jsonl").open()) == 8
    sft, meta = artifact(outputs, "reasoning-sft", "sft_model")
    check_model(sft, "sft")
    assert meta["stage"] == "sft"
    _, sft_metrics = artifact(outputs, "reasoning-sft", "metrics")
    assert sft_metrics and all(isinstance(v, float) for v in sft_metrics.values())
    grpo, _ = artifact(outputs, "reasoning-grpo", "grpo_model")
    check_model(grpo, "grpo")
    assert (grpo / "train_log.jsonl").read_text().strip()
    _, grpo_metrics = artifact(outputs, "reasoning-grpo", "metrics")
    assert grpo_metrics
    metrics_file, eval_metrics = artifact(outputs, "evaluate", "metrics")
    report = json.loads(metrics_file.read_text())
    for model in ("base", "sft", "grpo"):
        for dataset in ("synthetic-test", "gsm8k-test"):
            overall = report["results"][model]["datasets"][dataset]["overall"]
            # the KFP metric is the report's number; eval_limit 2, one sample each: 0, 1/2 or 1
            assert eval_metrics[f"{model}/{dataset}/accuracy"] == overall["accuracy"] in (0.0, 0.5, 1.0)
    assert set(report["models"]) == {"base", "sft", "grpo"}
    html, _ = artifact(outputs, "evaluate", "report_html")
    assert "<html" in html.read_text().lower()
    for name in ("report.html", "report.md", "metrics.json"):
        assert Path(summary["report"][name]).stat().st_size > 0
        assert (Path(summary["run_dir"]).parent / "latest" / name).exists()
    # the per-task profile: every task that ran, in order, adding up to the run's wall time
    order = [task for task, _ in summary["task_seconds"]]
    seconds = [s for _, s in summary["task_seconds"]]
    assert sorted(order) == summary["tasks"] and order[0] == "validate-parameters"
    assert all(s >= 0 for s in seconds) and sum(seconds) <= summary["wall_seconds"] + 1
    assert order.index("reasoning-sft") < order.index("reasoning-grpo") < order.index("evaluate")
    # the serving gate: evaluate returns the decision, and the report says what it was and why
    from pipelines.cli import task_outputs
    decision = executor_output(Path(task_outputs(outputs, "evaluate")["executor_output.json"]).parent)
    promote, reason = (decision["parameterValues"][k] for k in ("promote", "promotion_reason"))
    assert isinstance(promote, bool) and reason.startswith("promoted" if promote else "not promoted")
    assert "## Promotion" in Path(summary["report"]["report.md"]).read_text()
    assert reason in Path(summary["report"]["report.md"]).read_text()
    return promote


def test_tiny_pipeline_with_cot_and_export(tiny_model_dir, tmp_path):
    from pipelines.cli import collect_outputs, run_locally
    export = tmp_path / "exported-model"
    # distinct reward weights: each must arrive under its own name at the GRPO stage
    weights = {"correctness_weight": 5.0, "format_weight": 3.0, "consistency_weight": 1.0, "length_weight": 0.5,
               "process_weight": 0.25}
    summary = run_locally(tiny_parameters(tiny_model_dir, enable_cot=True, enable_context=False,
                                          export_destination=str(export), **weights), tmp_path / "runs",
                          run_name="cot")
    outputs = collect_outputs(Path(summary["artifacts"]))
    check_common_tasks(summary, outputs)
    cot, meta = artifact(outputs, "generate-cot", "cot_dataset")
    assert meta["rows"] >= 1 and "<think>" in (cot / "rows.jsonl").read_text()
    sft, _ = artifact(outputs, "reasoning-sft", "sft_model")
    assert lineage(sft)["dataset"] == str(cot / "rows.jsonl")  # SFT trained on the CoT rows
    check_skipped(outputs, "extend-context", "long_model", "context")
    grpo, _ = artifact(outputs, "reasoning-grpo", "grpo_model")
    assert lineage(grpo)["base_model"] == str(sft)  # ... and GRPO on the SFT model
    exported = check_model(export, "grpo")
    grpo_metadata = json.loads((grpo / "reasoning_artifact.json").read_text())
    assert exported["sha256"] == grpo_metadata["sha256"]
    assert grpo_metadata["lineage"]["reward_weights"] == weights
    assert {name: grpo_metadata["config"][name] for name in weights} == weights


def test_tiny_pipeline_without_cot_with_context_extension(tiny_model_dir, tmp_path):
    from pipelines.cli import collect_outputs, run_locally
    summary = run_locally(tiny_parameters(tiny_model_dir, enable_cot=False, enable_context=True, target_context=4096,
                                          scaling_type="linear", context_dataset="synthetic:math?n=4&seed=1",
                                          context_steps=1, long_context_lengths="2500", long_context_tasks="perplexity",
                                          context_gate_metric="ppl_retention"), tmp_path / "runs", run_name="context")
    outputs = collect_outputs(Path(summary["artifacts"]))
    check_common_tasks(summary, outputs)
    assert not any(task.startswith("export-model") for task in outputs)  # no export_destination
    check_skipped(outputs, "generate-cot", "cot_dataset", "cot")
    rows, _ = artifact(outputs, "import-dataset", "dataset")
    sft, _ = artifact(outputs, "reasoning-sft", "sft_model")
    assert lineage(sft)["dataset"] == str(rows / "rows.jsonl")  # SFT trained on the imported rows
    extended, meta = artifact(outputs, "extend-context", "long_model")
    check_model(extended, "context")
    config = json.loads((extended / "config.json").read_text())
    assert config["max_position_embeddings"] == 4096 and meta["target_context"] == 4096
    grpo, _ = artifact(outputs, "reasoning-grpo", "grpo_model")
    assert lineage(grpo)["base_model"] == str(extended)  # GRPO trained the extended model
    assert json.loads((grpo / "config.json").read_text())["max_position_embeddings"] == 4096
    # the context stage's long-context report is published beside the evaluation's, and in latest/
    long_report = Path(summary["report"]["long_context_report.md"]).read_text()
    assert "Chosen scaling type: **linear**" in long_report and "| unscaled | 2500 |" in long_report
    assert (Path(summary["run_dir"]).parent / "latest" / "long_context_report.html").exists()


def test_bad_parameter_fails_in_the_first_task(tiny_model_dir, tmp_path, capfd):
    """The pipeline itself (not just the CLI) stops at validate-parameters."""
    from kfp import local

    from pipelines.cli import collect_outputs
    from pipelines.reasoning_pipeline import build_pipeline
    root = tmp_path / "artifacts"
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root), raise_on_error=True)
    with pytest.raises(RuntimeError):
        build_pipeline(local=True)(**tiny_parameters(tiny_model_dir, group_size=1))
    assert list(collect_outputs(root)) == ["validate-parameters"]
    captured = capfd.readouterr()
    assert "field 'group_size': pipeline parameter must be >= 2" in captured.out + captured.err


@pytest.mark.slow
def test_tiny_pipeline_serves_and_registers_only_a_promoted_model(tiny_model_dir, tmp_path, s3_server, monkeypatch):
    """serve_model and register_model on: the InferenceService and Model Registry tasks run exactly when the
    evaluation promotes the model (the registry is tests/model_registry_server.py, held to the real spec)."""
    import yaml

    from pipelines.cli import run_locally
    from tests.model_registry_server import ModelRegistryServer
    s3_server.apply_env(monkeypatch)
    bucket = s3_server.new_bucket()
    destination = f"s3://{bucket}/models/served"
    with ModelRegistryServer() as registry:
        summary = run_locally(tiny_parameters(tiny_model_dir, enable_cot=True, enable_context=False,
                                              export_destination=destination, serve_model=True,
                                              serving_name="tiny-r1", register_model=True,
                                              model_registry_address=registry.url), tmp_path / "runs",
                              run_name="serve")
    assert not registry.violations, registry.violations
    from pipelines.cli import collect_outputs
    outputs = collect_outputs(Path(summary["artifacts"]))
    promote = check_common_tasks(summary, outputs)
    served = [task for task in outputs if task.startswith("serve-model")]
    registered = [task for task in outputs if task.startswith("register-model")]
    assert bool(served) is promote and bool(registered) is promote, (promote, served, registered)
    assert len(registry.versions) == int(promote)
    if not promote:
        assert "no version was registered in Model Registry" in Path(summary["report"]["report.md"]).read_text()
    else:
        record, _ = artifact(outputs, "register-model", "registration")
        assert json.loads(record.read_text())["uri"] == destination
    if promote:
        manifest, _ = artifact(outputs, "serve-model", "inference_service")
        service = yaml.safe_load(manifest.read_text())
        assert service["kind"] == "InferenceService" and service["metadata"]["name"] == "tiny-r1"
        assert service["spec"]["predictor"]["model"]["storageUri"] == destination


def test_publish_report_adds_the_long_context_report_and_drops_an_older_runs(tmp_path):
    from pipelines.cli import publish_report
    evaluation = tmp_path / "evaluate"
    evaluation.mkdir()
    files = {"report_html": "<html>eval</html>", "report_markdown": "# eval", "metrics": "{}"}
    for name, text in files.items():
        (evaluation / name).write_text(text)
    long_model = tmp_path / "long_model"
    (long_model / "long_context").mkdir(parents=True)
    (long_model / "long_context" / "report.html").write_text("<html>long</html>")
    (long_model / "long_context" / "report.md").write_text("# long")
    outputs = {"evaluate": {k: str(evaluation / k) for k in files}, "extend-context": {"long_model": str(long_model)}}
    latest = tmp_path / "latest"
    (tmp_path / "run1").mkdir()
    first = publish_report(outputs, tmp_path / "run1", latest)
    assert Path(first["long_context_report.md"]).read_text() == "# long"
    assert (latest / "long_context_report.html").read_text() == "<html>long</html>"
    # a later run whose context stage was skipped (a marker, no long_context/): latest/ loses the old one
    skipped = tmp_path / "skipped_model"
    skipped.mkdir()
    (tmp_path / "run2").mkdir()
    second = publish_report({**outputs, "extend-context": {"long_model": str(skipped)}}, tmp_path / "run2", latest)
    assert set(second) == {"report.html", "report.md", "metrics.json"}
    assert not (latest / "long_context_report.html").exists() and not (latest / "long_context_report.md").exists()
    assert (latest / "report.md").read_text() == "# eval"
