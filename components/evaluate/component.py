"""evaluate: compare the base, SFT and GRPO models on the evaluation datasets; HTML + Markdown report."""
from typing import NamedTuple

from kfp.dsl import HTML, Input, Markdown, Metrics, Model, Output

from components._common import image, lightweight


def evaluate(eval_datasets: str, eval_limit: int, eval_max_new_tokens: int, seed: int,
             metrics: Output[Metrics], report_html: Output[HTML], report_markdown: Output[Markdown],
             base_model: Input[Model] = None, sft_model: Input[Model] = None, grpo_model: Input[Model] = None,
             eval_sampled_k: int = 0,
             ) -> NamedTuple("Promotion", [("promote", bool), ("promotion_reason", str)]):
    """Runs reasoning.stages.eval; logs accuracy, format compliance and reward means per model and dataset.
    Returns whether the final model beats the base model (the pipeline serves it only then), and why."""
    import html
    import json
    import shutil
    import tempfile
    from collections import namedtuple

    from reasoning.pipeline.params import eval_models
    from reasoning.pipeline.promotion import promotion_decision, promotion_markdown
    from reasoning.pipeline.steps import evaluate_models, numeric_metrics, report_file

    models = eval_models(*(m.path if m is not None else None for m in (base_model, sft_model, grpo_model)))
    datasets = [part.strip() for part in eval_datasets.split(",") if part.strip()]
    workdir = tempfile.mkdtemp(prefix="evaluate-")
    output = f"{workdir}/report"
    result = evaluate_models(models, datasets, output, limit=eval_limit, max_new_tokens=eval_max_new_tokens,
                             seed=seed, sampled_k=eval_sampled_k)
    for name, value in numeric_metrics(result.get("metrics", {})).items():
        metrics.log_metric(name, value)
    with open(f"{output}/metrics.json", encoding="utf-8") as handle:
        decision = promotion_decision(json.load(handle)["results"])
    section = promotion_markdown(decision)
    with open(report_markdown.path, "w", encoding="utf-8") as handle:
        handle.write(report_file(output, "markdown").read_text(encoding="utf-8") + section)
    page = report_file(output, "html").read_text(encoding="utf-8")
    block = f"<h2>Promotion</h2><p>{html.escape(decision['reason'])}.</p>"
    with open(report_html.path, "w", encoding="utf-8") as handle:
        handle.write(page.replace("</body>", block + "</body>") if "</body>" in page else page + block)
    metrics.metadata["promotion"] = decision["reason"]
    # The full metrics (per reasoning type, settings, timings) travel in the Metrics artifact's file;
    # the UI shows the logged scalars.
    shutil.copyfile(f"{output}/metrics.json", metrics.path)
    metrics.metadata["models"] = json.dumps(sorted(models))
    metrics.metadata["datasets"] = json.dumps(datasets)
    shutil.rmtree(workdir, ignore_errors=True)
    return namedtuple("Promotion", ["promote", "promotion_reason"])(bool(decision["promote"]), decision["reason"])


def build(base_image: str | None = None):
    return lightweight(evaluate, base_image or image("cpu"))
