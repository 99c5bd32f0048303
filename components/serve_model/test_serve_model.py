import yaml

from components.serve_model.component import build


def test_component_writes_an_inference_service_for_the_exported_model(tmp_path):
    """The component body through the KFP SDK's own artifact classes (what kfp.local runs)."""
    from kfp.dsl import Artifact, Model

    component = build("registry.example/reasoning-cpu:9")
    assert component.component_spec.implementation.container.image == "registry.example/reasoning-cpu:9"
    model = Model(uri=str(tmp_path / "model"), metadata={"base_model": "builtin:smollm2-135m-instruct",
                                                          "sha256": "ab" * 32, "stage": "grpo"})
    output = Artifact(uri=str(tmp_path / "isvc.yaml"))
    component.python_func(model=model, destination="s3://models/run-1", serving_name="reasoning-r1", gpus=0,
                          promotion_reason="promoted: grpo mean accuracy 0.860 > base 0.110",
                          inference_service=output)
    service = yaml.safe_load((tmp_path / "isvc.yaml").read_text())
    assert service["metadata"]["name"] == "reasoning-r1"
    annotations = service["metadata"]["annotations"]
    assert annotations["reasoning.kubeflow.org/base_model"] == "builtin:smollm2-135m-instruct"
    assert annotations["reasoning.kubeflow.org/promotion"].startswith("promoted")
    predictor = service["spec"]["predictor"]
    assert predictor["serviceAccountName"] == "reasoning-model-server"
    assert predictor["model"]["resources"]["limits"]["nvidia.com/gpu"] == "1"  # vLLM needs a GPU
    assert output.metadata["storageUri"] == "s3://models/run-1"
