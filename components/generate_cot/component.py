"""generate_cot: problems -> chain-of-thought rows (templated, or rejection-sampled from a teacher).

With ``enable_cot`` false the task writes only a skipped marker (reasoning.pipeline.steps.skip_stage)
and SFT trains on the imported rows; the teacher is a model reference the stage loads itself, so a
run without a teacher imports none.
"""
from kfp.dsl import Dataset, Input, Output

from components._common import image, lightweight


def generate_cot(problems: Input[Dataset], enable_cot: bool, reasoning_type: str, teacher_model: str, seed: int,
                 cot_dataset: Output[Dataset]):
    """Stage 1 of the R1 recipe through reasoning.cot.CoTGenerator."""
    from reasoning.pipeline.steps import generate_cot as run
    from reasoning.pipeline.steps import skip_stage

    if not enable_cot:
        cot_dataset.metadata.update(skip_stage(cot_dataset.path, "cot",
                                               "enable_cot is false: SFT trains on the imported rows as they are"))
        return
    summary = run(problems.path, cot_dataset.path, reasoning_type=reasoning_type, teacher=teacher_model or None,
                  seed=seed)
    report = summary.pop("report", {}) or {}
    cot_dataset.metadata.update(summary)
    cot_dataset.metadata.update({f"report/{k}": v for k, v in report.items() if isinstance(v, (int, float, str))})


def build(base_image: str | None = None):
    # the GPU image: a teacher samples on GPUs (cot_task_gpus); templated CoT runs on it as well
    return lightweight(generate_cot, base_image or image("gpu"))
