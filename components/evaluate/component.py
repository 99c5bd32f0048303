"""evaluate: compare the base, SFT and GRPO models on the evaluation datasets; HTML + Markdown report."""
from kfp.dsl import HTML, Input, Markdown, Metrics, Model, Output

from components._common import image, lightweight


def evaluate(eval_datasets: str, eval_limit: int, eval_max_new_tokens: int, seed: int,
             metrics: Output[Metrics], report_html: Output[HTML], report_markdown: Output[Markdown],
             base_model: Input[Model] = None, sft_model: Input[Model] = None, grpo_model: Input[Model] = None,
             eval_sampled_k: int = 0):
    """Runs reasoning.stages.eval; logs accuracy, format compliance and reward means per model and dataset."""
    import json
    import shutil
    import tempfile

    from reasoning.pipeline_params import eval_models
    from reasoning.pipeline_steps import evaluate_models, numeric_metrics, report_file

    models = eval_models(*(m.path if m is not None else None for m in (base_model, sft_model, grpo_model)))
    datasets = [part.strip() for part in eval_datasets.split(",") if part.strip()]
    workdir = tempfile.mkdtemp(prefix="evaluate-")
    output = f"{workdir}/report"
    result = evaluate_models(models, datasets, output, limit=eval_limit, max_new_tokens=eval_max_new_tokens,
                             seed=seed, sampled_k=eval_sampled_k)
    for name, value in numeric_metrics(result.get("metrics", {})).items():
        metrics.log_metric(name, value)
    shutil.copyfile(report_file(output, "html"), report_html.path)
    shutil.copyfile(report_file(output, "markdown"), report_markdown.path)
    # The full metrics (per reasoning type, settings, timings) travel in the Metrics artifact's file;
    # the UI shows the logged scalars.
    shutil.copyfile(f"{output}/metrics.json", metrics.path)
    metrics.metadata["models"] = json.dumps(sorted(models))
    metrics.metadata["datasets"] = json.dumps(datasets)
    shutil.rmtree(workdir, ignore_errors=True)


def build(base_image: str | None = None):
    return lightweight(evaluate, base_image or image("cpu"))
