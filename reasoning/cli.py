"""The ``reasoning`` command: one sub-command per stage, plus model and pipeline helpers.

    reasoning cot --input F --output F --type math [--skip-invalid]
    reasoning cot synthetic --output F --num-samples N --seed S [--split train|test]
    reasoning cot|sft|grpo|context|eval [stage flags]   (runs python -m reasoning.stages.X: same flags and exit codes)
    reasoning model resolve builtin:smollm2-135m-instruct
    reasoning pipeline run|compile|submit [...]          (runs the pipelines/ package, which uses kfp)
"""
from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Sequence

from reasoning.errors import InputError, StorageError, exit_code_for

STAGES = {
    "cot": "reasoning.stages.cot",
    "sft": "reasoning.stages.sft",
    "grpo": "reasoning.stages.grpo",
    "context": "reasoning.stages.context",
    "eval": "reasoning.stages.eval",
}


def _model_command(argv: Sequence[str]) -> int:
    from reasoning.modeling.models import resolve_model
    if len(argv) != 2 or argv[0] != "resolve":
        print("usage: reasoning model resolve MODEL", file=sys.stderr)
        return 2
    print(resolve_model(argv[1]))
    return 0


def _pipeline_command(argv: Sequence[str]) -> int:
    # The library never imports kfp; the pipeline package does, in its own process.
    os.execvp(sys.executable, [sys.executable, "-m", "pipelines.cli", *argv])
    return 0  # pragma: no cover - exec does not return


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=os.environ.get("REASONING_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    try:
        if command in STAGES:
            return int(importlib.import_module(STAGES[command]).main(rest) or 0)
        if command == "model":
            return _model_command(rest)
        if command == "pipeline":
            return _pipeline_command(rest)
    except (InputError, StorageError) as exc:  # bad input (2), or the store failed and a retry may pass (4)
        print(f"error: {exc}", file=sys.stderr)
        return exit_code_for(exc)
    print(f"error: unknown command '{command}'; expected one of: {', '.join([*STAGES, 'model', 'pipeline'])}",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
