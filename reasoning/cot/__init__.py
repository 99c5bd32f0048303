"""Stage 1: chain-of-thought data, converted from public data sets, sampled from a teacher
with rejection sampling, or generated synthetically with sympy-checkable steps.

    from reasoning import CoTGenerator, ReasoningType
    CoTGenerator().generate_from_dataset("gsm8k.jsonl", "cot.jsonl", reasoning_type=ReasoningType.MATH)
    CoTGenerator().generate_synthetic_math("synthetic.jsonl", num_samples=10000)
"""
from reasoning.cot.generator import CoTGenerator, convert_file
from reasoning.cot.synthetic import synthetic_rows, verify_steps
from reasoning.schema import ReasoningType

__all__ = ["CoTGenerator", "ReasoningType", "convert_file", "synthetic_rows", "verify_steps"]
