"""serve_model: the KServe InferenceService (vLLM runtime) for a promoted, exported model."""
from kfp.dsl import Artifact, Input, Model, Output

from components._common import image, lightweight


def serve_model(model: Input[Model], destination: str, serving_name: str, gpus: int, promotion_reason: str,
                inference_service: Output[Artifact]):
    """Writes the InferenceService YAML for the model exported to ``destination`` (apply it with kubectl,
    docs/cluster.md); its annotations carry the model's lineage and why it was promoted."""
    import yaml

    from reasoning.pipeline.promotion import inference_service as build_service

    lineage = {f"reasoning.kubeflow.org/{key}": str(model.metadata[key])[:1000]
               for key in ("base_model", "sha256", "stage", "source") if model.metadata.get(key)}
    lineage["reasoning.kubeflow.org/promotion"] = promotion_reason[:1000]
    service = build_service(serving_name, destination, gpus=max(int(gpus), 1),
                            service_account="reasoning-model-server", annotations=lineage)
    with open(inference_service.path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(service, handle, sort_keys=False)
    inference_service.metadata.update({"name": service["metadata"]["name"], "storageUri": destination})


def build(base_image: str | None = None):
    return lightweight(serve_model, base_image or image("cpu"))
