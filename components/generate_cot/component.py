"""generate_cot: problems -> chain-of-thought rows (templated, or rejection-sampled from a teacher)."""
from kfp.dsl import Dataset, Input, Model, Output

from components._common import image, lightweight


def generate_cot(problems: Input[Dataset], reasoning_type: str, seed: int, cot_dataset: Output[Dataset],
                 teacher: Input[Model] = None):
    """Stage 1 of the R1 recipe through reasoning.cot.CoTGenerator."""
    from reasoning.pipeline.steps import generate_cot as run

    summary = run(problems.path, cot_dataset.path, reasoning_type=reasoning_type,
                  teacher=teacher.path if teacher is not None else None, seed=seed)
    report = summary.pop("report", {}) or {}
    cot_dataset.metadata.update(summary)
    cot_dataset.metadata.update({f"report/{k}": v for k, v in report.items() if isinstance(v, (int, float, str))})


def build(base_image: str | None = None):
    return lightweight(generate_cot, base_image or image("cpu"))
