"""Stage 1, CoT data: convert a data set to chain-of-thought rows (optionally sampled from a
teacher with rejection sampling), or generate synthetic math with checkable steps.

    python -m reasoning.stages.cot --input ../shared/data/gsm8k/train.jsonl --output data/cot_gsm8k.jsonl --type math
    reasoning cot --input problems.jsonl --output data/cot.jsonl --teacher builtin:smollm2-135m-instruct \\
        --samples-per-problem 4 --max-new-tokens 256
    reasoning cot synthetic --output data/synthetic_math.jsonl --num-samples 10000 --seed 0 \\
        [--split train|test] [--families arithmetic,word_problem] [--difficulty 1]

``reasoning cot ...`` runs the same (any flags). Input and output may be ``s3://`` URIs. The
report (rows read, written, skipped and why, teacher acceptance rate) is printed as JSON on
stdout; bad input exits with status 2 and a message naming the file, line and field, an object
store that fails after every retry with 4 (the table in ``reasoning.errors``).
"""
from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

from reasoning.config import option, require
from reasoning.cot.synthetic import DIFFICULTIES, FAMILIES, KNOWN_FAMILIES, SPLITS
from reasoning.schema import ReasoningType
from reasoning.stages import common


@dataclass
class CoTConfig:
    input: str = option("", "dataset to convert: a file (JSONL/JSON/Parquet/CSV) or s3:// URI in a known layout")
    output: str = option("", "where to write the CoT rows (JSONL; local path or s3:// URI)")
    reasoning_type: str = option("math", "reasoning type of rows whose layout does not fix it",
                                 flag="--type", choices=[t.value for t in ReasoningType])
    skip_invalid: bool = option(False, "skip (and count) malformed rows instead of stopping at the first")
    limit: int | None = option(None, "convert only the first N rows")
    teacher: str | None = option(None, "teacher model for rejection sampling (builtin:..., directory, s3://)")
    samples_per_problem: int = option(1, "teacher responses sampled per problem")
    max_new_tokens: int = option(512, "teacher: new tokens per response")
    temperature: float = option(0.7, "teacher: sampling temperature (0 = greedy)")
    top_p: float = option(0.95, "teacher: nucleus sampling threshold")
    batch_size: int = option(8, "teacher: prompts per generation batch")
    seed: int = option(0, "teacher: sampling seed")
    repair_format: bool = option(True, "teacher: keep verified responses without <think> tags by wrapping "
                                       "the reasoning before 'The answer is' in a think block")

    def __post_init__(self):
        require(bool(self.input), "is required", "--input")
        require(bool(self.output), "is required", "--output")
        require(self.input != self.output, "must differ from --input", "--output")
        require(self.limit is None or self.limit > 0, "must be positive", "--limit")
        require(self.samples_per_problem >= 1, "must be at least 1", "--samples-per-problem")
        require(self.teacher is not None or self.samples_per_problem == 1,
                "needs --teacher (conversion writes one row per problem)", "--samples-per-problem")
        require(self.max_new_tokens >= 1, "must be positive", "--max-new-tokens")
        require(self.temperature >= 0, "must be >= 0", "--temperature")
        require(0 < self.top_p <= 1, "must be in (0, 1]", "--top-p")
        require(self.batch_size >= 1, "must be positive", "--batch-size")


@dataclass
class SyntheticConfig:
    output: str = option("", "where to write the synthetic rows (JSONL; local path or s3:// URI)")
    num_samples: int = option(10000, "number of rows")
    seed: int = option(0, "random seed (same seed and options -> same file)")
    split: str = option("train", "problem split; test problems never occur in train", choices=list(SPLITS))
    families: list[str] = option(default_factory=list, help=f"problem families (default: {', '.join(FAMILIES)}; also: "
                                  f"{', '.join(sorted(set(KNOWN_FAMILIES) - set(FAMILIES)))})")
    difficulty: int | None = option(None, "difficulty 1-3 (default: mixed)", choices=list(DIFFICULTIES))

    def __post_init__(self):
        require(bool(self.output), "is required", "--output")
        require(self.num_samples >= 1, "must be positive", "--num-samples")
        for family in self.families:
            require(family in KNOWN_FAMILIES, f"unknown family {family!r}; known: {', '.join(KNOWN_FAMILIES)}",
                    "--families")


def run_convert(config: CoTConfig) -> dict:
    from reasoning.cot.generator import CoTGenerator
    generator = CoTGenerator(teacher=config.teacher, samples_per_problem=config.samples_per_problem,
                             max_new_tokens=config.max_new_tokens, temperature=config.temperature,
                             top_p=config.top_p, batch_size=config.batch_size, seed=config.seed,
                             repair_format=config.repair_format)
    return generator.generate_from_dataset(config.input, config.output, reasoning_type=config.reasoning_type,
                                           skip_invalid=config.skip_invalid, limit=config.limit)


def run_synthetic(config: SyntheticConfig) -> dict:
    from reasoning.cot.generator import CoTGenerator
    return CoTGenerator().generate_synthetic_math(config.output, num_samples=config.num_samples, seed=config.seed,
                                                  split=config.split, families=config.families or None,
                                                  difficulty=config.difficulty)


def main(argv: Sequence[str] | None = None) -> int:
    """``reasoning cot [synthetic] ...``: the shared stage entry (logging, exit codes) with either config."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["synthetic"]:
        return common.stage_main(SyntheticConfig, run_synthetic, argv[1:], prog="reasoning cot synthetic",
                                 description=__doc__, summary=dict)
    return common.stage_main(CoTConfig, run_convert, argv, prog="reasoning cot", description=__doc__, summary=dict)


if __name__ == "__main__":
    sys.exit(main())
