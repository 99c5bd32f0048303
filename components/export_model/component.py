"""export_model: copy the final model to a local path or an s3:// / minio:// URI."""
from kfp.dsl import Input, Model

from components._common import image, lightweight


def export_model(model: Input[Model], destination: str) -> str:
    """Upload atomically through reasoning.io.storage; returns the destination."""
    from reasoning.pipeline.steps import export_model as export

    export(model.path, destination)
    return destination


def build(base_image: str | None = None):
    return lightweight(export_model, base_image or image("cpu"))
