"""The evaluation gate and the InferenceService of a promoted model (reasoning.pipeline.promotion)."""
from __future__ import annotations

import pytest

from reasoning.errors import InputError
from reasoning.pipeline.promotion import inference_service, promotion_decision, promotion_markdown, service_name
from tests.crd_schema import load_schema, pruned_fields, schema_errors


def results(**accuracy_by_model: dict[str, float]) -> dict:
    return {model: {"datasets": {name: {"overall": {"accuracy": value}} for name, value in by_dataset.items()}}
            for model, by_dataset in accuracy_by_model.items()}


def test_promotes_only_a_model_ahead_of_its_base():
    better = promotion_decision(results(base={"synthetic": 0.11, "gsm8k": 0.02}, grpo={"synthetic": 0.86,
                                                                                     "gsm8k": 0.0}))
    assert better["promote"] is True and better["gain"] == pytest.approx(0.365)
    assert better["reason"].startswith("promoted: grpo mean accuracy 0.430 > base 0.065 over gsm8k, synthetic")
    same = promotion_decision(results(base={"gsm8k": 0.3}, grpo={"gsm8k": 0.3}))
    assert same["promote"] is False and "not promoted" in same["reason"] and "<=" in same["reason"]
    worse = promotion_decision(results(base={"gsm8k": 0.3}, grpo={"gsm8k": 0.2}))
    assert worse["promote"] is False
    assert promotion_decision(results(base={"gsm8k": 0.3}, grpo={"gsm8k": 0.35}), min_gain=0.1)["promote"] is False
    missing = promotion_decision(results(base={"gsm8k": 0.3}))
    assert missing["promote"] is False and "no accuracy for model 'grpo'" in missing["reason"]


def test_report_section_says_why_nothing_was_served():
    section = promotion_markdown(promotion_decision(results(base={"gsm8k": 0.3}, grpo={"gsm8k": 0.2})))
    assert "## Promotion" in section and "not promoted" in section and "No InferenceService" in section
    assert "no version was registered in Model Registry" in section
    assert "| gsm8k | 0.200 | 0.300 |" in section


def test_inference_service_is_accepted_by_the_kserve_crd():
    service = inference_service("reasoning-r1", "minio://models/run-1", gpus=1,
                                service_account="reasoning-model-server",
                                annotations={"reasoning.kubeflow.org/sha256": "ab" * 32})
    schema = load_schema("inferenceservices-v0.20.0-reduced")
    assert pruned_fields(service, schema) == [] and schema_errors(service, schema) == []
    model = service["spec"]["predictor"]["model"]
    assert model["storageUri"] == "s3://models/run-1" and model["runtime"] == "kserve-huggingfaceserver"
    assert model["resources"]["limits"]["nvidia.com/gpu"] == "1"
    with pytest.raises(InputError, match="export_destination"):
        inference_service("x", "/local/model")
    assert service_name("Reasoning_R1 run 7") == "reasoning-r1-run-7"
