"""import_model: a model reference (builtin:..., HF directory, hub id, s3:// / minio:// URI) -> Model."""
from kfp.dsl import Model, Output

from components._common import image, lightweight


def import_model(source: str, model: Output[Model]):
    """Materialise the model as a standalone Hugging Face directory with lineage metadata."""
    from reasoning.pipeline.steps import import_model as materialise

    model.metadata.update(materialise(source, model.path))


def build(base_image: str | None = None):
    return lightweight(import_model, base_image or image("cpu"))
