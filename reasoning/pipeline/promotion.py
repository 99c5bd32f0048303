"""Whether the trained model is worth serving, and the KServe object that serves it.

The pipeline's evaluation compares the final model with the model it started from on the same
problems; ``promotion_decision`` turns that into one yes/no with a reason a person can read,
which the evaluation report prints and the pipeline graph branches on (``dsl.If`` on the
evaluate task's ``promote`` output). Only a promoted model gets an ``InferenceService``.

    from reasoning.pipeline.promotion import promotion_decision
    decision = promotion_decision(json.load(open("runs/latest/metrics.json"))["results"])
    print(decision["promote"], decision["reason"])
"""
from __future__ import annotations

import re
from typing import Any

from reasoning.errors import InputError

# KServe's Hugging Face runtime serves causal LMs with vLLM when the image has it (the default
# backend for text generation), with an OpenAI-compatible API under /openai/v1.
KSERVE_RUNTIME = "kserve-huggingfaceserver"
MODEL_FORMAT = "huggingface"


def mean_metric(results: dict[str, Any], model: str, metric: str) -> tuple[float | None, dict[str, float]]:
    """(mean over datasets, {dataset: value}) of ``metric`` for ``model``; None when it has no value."""
    datasets = (results.get(model) or {}).get("datasets") or {}
    values = {name: scores["overall"][metric] for name, scores in datasets.items()
              if (scores.get("overall") or {}).get(metric) is not None}
    return (sum(values.values()) / len(values) if values else None), values


def promotion_decision(results: dict[str, Any], *, final: str = "grpo", baseline: str = "base",
                       metric: str = "accuracy", min_gain: float = 0.0) -> dict[str, Any]:
    """Promote ``final`` when its mean ``metric`` over the evaluation datasets beats ``baseline``'s
    by more than ``min_gain``. ``results`` is metrics.json's "results" (reasoning.evaluation)."""
    final_mean, final_values = mean_metric(results, final, metric)
    base_mean, base_values = mean_metric(results, baseline, metric)
    if final_mean is None or base_mean is None:
        missing = final if final_mean is None else baseline
        return {"promote": False, "final": final_mean, "baseline": base_mean, "per_dataset": {},
                "reason": f"not promoted: no {metric} for model '{missing}' in the evaluation"}
    gain = final_mean - base_mean
    per_dataset = {name: {final: final_values[name], baseline: base_values.get(name)} for name in final_values}
    datasets = ", ".join(sorted(final_values))
    promote = gain > min_gain
    verdict = "promoted" if promote else "not promoted"
    comparison = ">" if promote else "<="
    reason = (f"{verdict}: {final} mean {metric} {final_mean:.3f} {comparison} {baseline} {base_mean:.3f}"
              f"{f' + {min_gain:.3f}' if min_gain else ''} over {datasets} ({gain:+.3f})")
    return {"promote": promote, "final": final_mean, "baseline": base_mean, "gain": gain,
            "per_dataset": per_dataset, "reason": reason}


def promotion_markdown(decision: dict[str, Any]) -> str:
    """The section the evaluation report ends with: what was decided and why."""
    lines = ["", "## Promotion", "", decision["reason"] + ".", ""]
    if decision.get("per_dataset"):
        names = list(next(iter(decision["per_dataset"].values())))
        lines += ["| dataset | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for dataset, values in sorted(decision["per_dataset"].items()):
            cells = ["" if values[n] is None else f"{values[n]:.3f}" for n in names]
            lines.append(f"| {dataset} | " + " | ".join(cells) + " |")
        lines.append("")
    if not decision["promote"]:
        lines += ["No InferenceService was written and no version was registered in Model Registry for this run "
                  "(both need a promoted model).", ""]
    return "\n".join(lines)


def service_name(text: str) -> str:
    """A DNS-1035 label (what an InferenceService name must be) from a run or model name."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    name = re.sub(r"^[^a-z]+", "", name)[:45].rstrip("-")
    if not name:
        raise InputError(f"cannot make a service name from {text!r}", field="serving_name")
    return name


def inference_service(name: str, storage_uri: str, *, namespace: str | None = None, gpus: int = 1,
                      service_account: str | None = None, max_model_len: int | None = None,
                      annotations: dict[str, str] | None = None) -> dict[str, Any]:
    """A KServe v1beta1 InferenceService serving the model directory at ``storage_uri`` with the
    Hugging Face runtime (vLLM backend). The service account carries the S3 credentials
    (KServe's storage initializer reads them from the Secret it names)."""
    storage_uri = storage_uri.replace("minio://", "s3://", 1)  # KServe's storage initializer knows s3://
    if not storage_uri.startswith(("s3://", "gs://", "hf://", "pvc://", "https://")):
        raise InputError(f"KServe cannot read {storage_uri!r}: export the model to an s3:// URI",
                         field="export_destination")
    args = [f"--model_name={name}"]
    if max_model_len:
        args.append(f"--max_model_len={max_model_len}")
    limits = {"cpu": "4", "memory": "32Gi"}
    if gpus:
        limits["nvidia.com/gpu"] = str(gpus)
    predictor: dict[str, Any] = {
        "minReplicas": 1,
        "model": {"modelFormat": {"name": MODEL_FORMAT}, "runtime": KSERVE_RUNTIME,
                  "storageUri": storage_uri, "args": args,
                  "resources": {"requests": dict(limits), "limits": limits}}}
    if service_account:
        predictor["serviceAccountName"] = service_account
    metadata: dict[str, Any] = {"name": service_name(name),
                                "labels": {"app.kubernetes.io/part-of": "reasoning"},
                                "annotations": dict(annotations or {})}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "metadata": metadata,
            "spec": {"predictor": predictor}}
