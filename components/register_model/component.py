"""register_model: the promoted, exported model as a version in Kubeflow Model Registry, with its lineage."""
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output

from components._common import image, lightweight


def register_model(model: Input[Model], sft_model: Input[Model], policy: Input[Model], base_model: Input[Model],
                   problems: Input[Dataset], evaluation: Input[Metrics], destination: str, registry_address: str,
                   registered_model_name: str, run_id: str, promotion_reason: str, registration: Output[Artifact]):
    """Registers ``destination`` (where export_model put the model) as version ``run_id`` of
    ``registered_model_name``; the lineage comes from the models' reasoning_artifact.json, the
    imported base model and dataset, and the evaluation's metrics.json. Writes the ids and the
    properties sent as JSON (reasoning.pipeline.registry.register_promoted_model)."""
    import json
    import os

    from reasoning.io.artifacts import read_metadata
    from reasoning.io.fileio import write_json_atomic
    from reasoning.pipeline.registry import TOKEN_ENV, RegistrySettings, register_promoted_model
    from reasoning.pipeline.steps import stage_input

    settings = RegistrySettings(registry_address, registered_model_name, token=os.environ.get(TOKEN_ENV) or None)
    with open(evaluation.path, encoding="utf-8") as handle:
        results = json.load(handle)["results"]
    # the model GRPO started from: the context-extended one, or the SFT model when that stage was skipped
    start = stage_input(policy.path, sft_model.path, stage="context")
    stages = [read_metadata(path) for path in (sft_model.path, start)]
    record = register_promoted_model(settings, version=run_id, uri=destination, final=read_metadata(model.path),
                                     stages=stages, base_model=dict(base_model.metadata),
                                     dataset=dict(problems.metadata), eval_results=results,
                                     promotion_reason=promotion_reason)
    write_json_atomic(registration.path, record)
    registration.metadata.update({key: record[key] for key in ("address", "registered_model", "registered_model_id",
                                                               "version", "model_version_id", "uri", "reused")})


def build(base_image: str | None = None):
    return lightweight(register_model, base_image or image("cpu"))
