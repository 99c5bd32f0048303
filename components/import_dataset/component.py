"""import_dataset: a dataset spec (file, URI, synthetic:math?..., known name) -> Dataset in the row format."""
from kfp.dsl import Dataset, Output

from components._common import image, lightweight


def import_dataset(source: str, limit: int, dataset: Output[Dataset]):
    """Resolve the spec with reasoning.data.datasets.resolve_dataset; write rows.jsonl and its lineage."""
    from reasoning.pipeline.steps import import_dataset as materialise

    dataset.metadata.update(materialise(source, dataset.path, limit=limit))


def build(base_image: str | None = None):
    return lightweight(import_dataset, base_image or image("cpu"))
