import json

from components.register_model.component import build
from tests.model_registry_server import ModelRegistryServer
from tests.test_registry import BASE, DATASET, FINAL, REASON, RESULTS, SFT, TOKEN


def test_component_registers_the_exported_model_with_the_token_from_its_secret(tmp_path, monkeypatch):
    """The component body through the KFP SDK's own artifact classes (what kfp.local runs): lineage read
    from the models' reasoning_artifact.json, the artifacts' metadata and the evaluation's metrics.json."""
    from kfp.dsl import Artifact, Dataset, Metrics, Model

    component = build("registry.example/reasoning-cpu:9")
    assert component.component_spec.implementation.container.image == "registry.example/reasoning-cpu:9"
    models = {}
    for name, metadata in (("grpo", FINAL), ("sft", SFT)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "reasoning_artifact.json").write_text(json.dumps(metadata))
        models[name] = Model(uri=str(tmp_path / name), metadata={"stage": metadata["stage"]})
    (tmp_path / "metrics.json").write_text(json.dumps({"results": RESULTS}))
    output = Artifact(uri=str(tmp_path / "registration.json"))
    monkeypatch.setenv("MODEL_REGISTRY_TOKEN", TOKEN)  # what the optional Secret reasoning-model-registry sets
    with ModelRegistryServer(token=TOKEN) as server:
        component.python_func(model=models["grpo"], sft_model=models["sft"], policy=models["sft"],
                              base_model=Model(uri=str(tmp_path / "base"), metadata=BASE),
                              problems=Dataset(uri=str(tmp_path / "rows"), metadata=DATASET),
                              evaluation=Metrics(uri=str(tmp_path / "metrics.json")),
                              destination="s3://reasoning/models/run-7", registry_address=server.url,
                              registered_model_name="reasoning-r1", run_id="run-7", promotion_reason=REASON,
                              registration=output)
        assert not server.violations, server.violations
    record = json.loads((tmp_path / "registration.json").read_text())
    assert record["version"] == "run-7" and record["uri"] == "s3://reasoning/models/run-7"
    assert record["properties"]["base_model"] == "builtin:smollm2-135m-instruct"
    assert record["properties"]["stage/sft/config_sha256"] and record["properties"]["eval/grpo/mean_accuracy"]
    assert output.metadata["registered_model"] == "reasoning-r1" and output.metadata["reused"] is False
    assert TOKEN not in (tmp_path / "registration.json").read_text()
