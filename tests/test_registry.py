"""Registration in Kubeflow Model Registry (reasoning.pipeline.registry) with the real client from PyPI.

The real server (Go) cannot run here; ``tests/model_registry_server.py`` stands in for it and holds
every request to the registry's own OpenAPI spec (a misspelt field, an undeclared query parameter or
a path the API does not have is refused, as the real server refuses it), so what is checked is the
client's real traffic. Each test takes well under a second.
"""
import json
import logging

import pytest

from reasoning.errors import InputError
from reasoning.pipeline.registry import (
    RegistryError,
    RegistrySettings,
    check_registry_address,
    lineage_properties,
    register_promoted_model,
)
from tests.model_registry_server import SPEC_PREFIX, ModelRegistryServer, Spec

TOKEN = "tok-Secret-0123456789"
FINAL = {"stage": "grpo", "sha256": "ab" * 32, "parameters": 134515008, "reasoning_version": "0.1.0",
         "config": {"model": "/s3/run/sft_model", "learning_rate": 5e-5, "iterations": 20, "group_size": 4,
                    "lora_r": 32, "seed": 0},
         "metrics": {"final_reward": 0.61, "global_step": 20, "dynamic_sampling": True}}
SFT = {"stage": "sft", "sha256": "cd" * 32, "config": {"learning_rate": 3e-4, "max_steps": 80, "lora_r": 32}}
BASE = {"kind": "model", "stage": "import", "source": "builtin:smollm2-135m-instruct", "sha256": "ef" * 32}
DATASET = {"kind": "dataset", "source": "synthetic:math?n=640&split=train", "rows": 640, "sha256": "12" * 32}
RESULTS = {"base": {"datasets": {"synthetic-test": {"overall": {"accuracy": 0.11, "format_compliance": 0.0}},
                                 "gsm8k-test": {"overall": {"accuracy": 0.02, "format_compliance": 0.0}}}},
           "grpo": {"datasets": {"synthetic-test": {"overall": {"accuracy": 0.86, "format_compliance": 1.0}},
                                 "gsm8k-test": {"overall": {"accuracy": 0.0, "format_compliance": 0.69}}}}}
REASON = "promoted: grpo mean accuracy 0.430 > base 0.065 over gsm8k-test, synthetic-test (+0.365)"


def register(server, version="run-1", uri="s3://reasoning/models/r1", final=FINAL, token=TOKEN, **overrides):
    settings = RegistrySettings(server.url, overrides.pop("name", "reasoning-r1"), token=token)
    return register_promoted_model(settings, version=version, uri=uri, final=final, stages=[SFT, FINAL],
                                   base_model=BASE, dataset=DATASET, eval_results=RESULTS, promotion_reason=REASON,
                                   **overrides)


def custom(body: dict) -> dict:
    """customProperties as plain values ({"metadataType": ..., "string_value": x} -> x; int64 travels as a string)."""
    plain = {}
    for key, value in body["customProperties"].items():
        kind, item = next((k, v) for k, v in value.items() if k.endswith("_value"))
        plain[key] = int(item) if kind == "int_value" else item
    return plain


@pytest.fixture
def server():
    with ModelRegistryServer(token=TOKEN) as running:
        yield running
        assert not running.violations, running.violations


def test_registration_carries_the_lineage_in_requests_the_spec_accepts(server):
    record = register(server)
    assert record["reused"] is False and record["version"] == "run-1"
    (model_body,) = [r["body"] for r in server.calls("POST", "/registered_models")]
    assert model_body["name"] == "reasoning-r1"
    (version_request,) = server.calls("POST", "/model_versions")
    properties = custom(version_request["body"])
    assert version_request["body"]["name"] == "run-1" and version_request["body"]["author"] == "reasoning-pipeline"
    # lineage: what the run was given (not the task's local paths), digests, settings, metrics
    assert properties["base_model"] == "builtin:smollm2-135m-instruct" and properties["base_model_sha256"] == "ef" * 32
    assert properties["dataset"] == "synthetic:math?n=640&split=train" and properties["dataset_sha256"] == "12" * 32
    assert properties["model_sha256"] == "ab" * 32 and properties["kfp_run_id"] == "run-1"
    assert json.loads(properties["stage/sft/settings"]) == {"learning_rate": 3e-4, "max_steps": 80, "lora_r": 32}
    assert json.loads(properties["stage/grpo/settings"])["iterations"] == 20
    assert len(properties["stage/grpo/config_sha256"]) == 64 and "/s3/run" not in json.dumps(properties)
    assert properties["eval/grpo/synthetic-test/accuracy"] == 0.86
    assert properties["eval/grpo/mean_accuracy"] == pytest.approx(0.43)
    assert properties["eval/base/mean_accuracy"] == pytest.approx(0.065)
    assert properties["train/grpo/final_reward"] == 0.61 and properties["promotion"] == REASON
    # typed as the registry stores them: doubles, ints, strings
    types = {k: v["metadataType"] for k, v in version_request["body"]["customProperties"].items()}
    assert types["eval/grpo/mean_accuracy"] == "MetadataDoubleValue"
    assert types["model_parameters"] == "MetadataIntValue" and types["dataset"] == "MetadataStringValue"
    (artifact_body,) = [r["body"] for r in server.calls("POST", "/model_versions/{modelversionId}/artifacts")]
    assert artifact_body["uri"] == "s3://reasoning/models/r1" and artifact_body["artifactType"] == "model-artifact"
    assert (artifact_body["modelFormatName"], artifact_body["modelFormatVersion"]) == ("huggingface", "1")
    assert record["properties"] == properties
    assert {r["authorization"] for r in server.requests} == {f"Bearer {TOKEN}"}


def test_a_second_run_adds_a_version_and_a_retry_reuses_its_own(server):
    first = register(server, version="run-1")
    second = register(server, version="run-2", uri="s3://reasoning/models/r2", final={**FINAL, "sha256": "99" * 32})
    assert second["registered_model_id"] == first["registered_model_id"] and len(server.models) == 1
    assert len(server.versions) == 2 and second["model_version_id"] != first["model_version_id"]
    retried = register(server, version="run-2", uri="s3://reasoning/models/r2", final={**FINAL, "sha256": "99" * 32})
    assert retried["reused"] is True and retried["model_version_id"] == second["model_version_id"]
    assert len(server.versions) == 2 and len(server.artifacts) == 2


def test_a_retry_completes_a_registration_that_stopped_before_its_artifact(server):
    server.fail_next[("POST", "/model_versions/{modelversionId}/artifacts")] = 503
    with pytest.raises(RegistryError, match="HTTP 503") as error:
        register(server)
    assert server.url.split("//")[1] in str(error.value) and len(server.versions) == 1 and not server.artifacts
    record = register(server)
    assert record["reused"] is True and len(server.versions) == 1 and len(server.artifacts) == 1
    assert server.artifacts[record["model_artifact_id"]]["uri"] == "s3://reasoning/models/r1"


def test_a_version_holding_another_model_is_refused(server):
    register(server)
    with pytest.raises(RegistryError, match="already holds another model"):
        register(server, final={**FINAL, "sha256": "77" * 32})
    with pytest.raises(RegistryError, match="points at s3://reasoning/models/r1, not s3://elsewhere/m"):
        register(server, uri="s3://elsewhere/m")
    assert len(server.versions) == 1 and len(server.artifacts) == 1


@pytest.mark.parametrize("address, words", [
    ("model-registry-service.kubeflow:8080", "http://host[:port]"),
    ("ftp://registry:21", "http://host[:port]"),
    ("http://admin:hunter2@registry:8080", "credentials"),
    ("http://registry:8080/api/model_registry/v1", "only scheme, host and port"),
    ("http://registry:8080?x=1", "only scheme, host and port"),
    ("http://registry:99999", "valid port"),
    ("", "http://host[:port]"),
])
def test_bad_addresses_are_refused_before_any_call(address, words):
    with pytest.raises(InputError, match=r"field 'model_registry_address'") as error:
        RegistrySettings(address, "reasoning-r1")
    assert words in str(error.value) and "hunter2" not in str(error.value)


def test_addresses_get_their_port_and_names_and_tokens_are_checked():
    assert check_registry_address("http://model-registry-service.kubeflow") == \
        "http://model-registry-service.kubeflow:8080"
    assert check_registry_address("https://registry.example.com/") == "https://registry.example.com:443"
    assert check_registry_address("http://[::1]:8081") == "http://[::1]:8081"
    for name in ("", " padded", "caf\u00e9"):
        with pytest.raises(InputError, match="registered_model_name"):
            RegistrySettings("http://registry:8080", name)
    with pytest.raises(InputError, match="MODEL_REGISTRY_TOKEN") as error:
        RegistrySettings("http://registry:8080", "r1", token="two words")
    assert "two words" not in str(error.value)
    assert RegistrySettings("http://registry:8080", "r1", token="abc\n").token == "abc"  # a token file's newline


def test_an_unresolved_run_id_or_an_unpromoted_model_is_refused_before_any_call(server):
    with pytest.raises(InputError, match="run_id"):
        register(server, version="{{$.pipeline_job_uuid}}")
    with pytest.raises(RegistryError, match="only a promoted model"):
        register_promoted_model(RegistrySettings(server.url, "r1", token=TOKEN), version="run-1", uri="s3://b/m",
                                final=FINAL, stages=[], base_model=BASE, dataset=DATASET, eval_results=RESULTS,
                                promotion_reason="not promoted: grpo mean accuracy 0.1 <= base 0.2")
    assert not server.requests


def test_the_token_is_used_but_never_logged_printed_or_recorded(server, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    for name in ("model-registry", "mr_openapi", "aiohttp", ""):
        logging.getLogger(name).setLevel(logging.DEBUG)
    record = register(server)
    settings = RegistrySettings(server.url, "reasoning-r1", token=TOKEN)
    with pytest.raises(RegistryError) as error:  # a wrong token: the server says 401
        register(server, token="tok-Wrong-9876543210")
    seen = caplog.text + "".join(capfd.readouterr()) + json.dumps(record) + repr(settings) + str(error.value)
    assert "401" in str(error.value)
    assert TOKEN not in seen and "tok-Wrong-9876543210" not in seen
    assert f"Bearer {TOKEN}" in {r["authorization"] for r in server.requests}  # it did reach the server


def test_an_unreachable_registry_is_named():
    with ModelRegistryServer() as gone:
        address = gone.url
    with pytest.raises(RegistryError, match=f"cannot use Model Registry at {address}"):
        register_promoted_model(RegistrySettings(address, "r1"), version="run-1", uri="s3://b/m", final=FINAL,
                                stages=[], base_model=BASE, dataset=DATASET, eval_results=RESULTS,
                                promotion_reason=REASON)


def test_a_server_without_the_v1_api_is_named_with_the_client_that_fits():
    with ModelRegistryServer(prefixes=(SPEC_PREFIX + "/",)) as old_server:
        with pytest.raises(RegistryError, match=r"HTTP 404.*v1alpha3 needs the client model-registry==0.3.11"):
            register_promoted_model(RegistrySettings(old_server.url, "r1"), version="run-1", uri="s3://b/m",
                                    final=FINAL, stages=[], base_model=BASE, dataset=DATASET, eval_results=RESULTS,
                                    promotion_reason=REASON)


def test_the_stand_in_refuses_what_the_spec_refuses(server):
    """The checks the other tests rely on can fail: a misspelt field, an undeclared query parameter, an
    operation the API does not have."""
    import urllib.error
    import urllib.request

    def call(method, path, body=None):
        request = urllib.request.Request(server.url + path, method=method, data=json.dumps(body).encode()
                                         if body is not None else None,
                                         headers={"Authorization": f"Bearer {TOKEN}",
                                                  "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    prefix = "/api/model_registry/v1"
    assert call("POST", f"{prefix}/registered_models", {"name": "m", "custom_properties": {}}) == 400
    assert call("POST", f"{prefix}/registered_models", {"name": "m", "customProperties": {
        "k": {"metadataType": "MetadataStringValue", "stringValue": "v"}}}) == 400
    assert call("GET", f"{prefix}/registered_model?modelName=m") == 400
    assert call("DELETE", f"{prefix}/registered_models/1") == 405
    assert call("GET", f"{prefix}/models") == 404
    assert call("POST", f"{prefix}/registered_models", {"name": "m"}) == 201
    assert len(server.violations) == 5
    server.violations.clear()


def test_the_vendored_spec_still_describes_the_pinned_client():
    """The stand-in checks bodies against the v1alpha3 spec while client 0.3.18 calls /v1: the request
    models it sends must have exactly the properties the spec declares (an upgrade that changes them
    fails here), and what it parses must be in the spec."""
    from mr_openapi import models

    spec = Spec()
    schemas = spec.document["components"]["schemas"]
    for name in ("RegisteredModelCreate", "ModelVersionCreate", "ModelArtifactCreate"):
        fields = {f.alias or key for key, f in getattr(models, name).model_fields.items()}
        assert fields == spec.properties(schemas[name]), name
    for name in ("RegisteredModel", "ModelVersion", "ModelArtifact"):
        fields = {f.alias or key for key, f in getattr(models, name).model_fields.items()}
        assert fields <= spec.properties(schemas[name]), name


def test_lineage_keeps_scalars_and_drops_what_is_unknown():
    properties = lineage_properties(final={**FINAL, "parameters": None}, stages=[SFT], base_model={},
                                    dataset=DATASET, eval_results={}, promotion_reason=REASON, run_id="r")
    assert "model_parameters" not in properties and "base_model" not in properties
    assert all(isinstance(v, (bool, int, float, str)) for v in properties.values())
    assert list(properties).count("stage/grpo/config_sha256") == 1
