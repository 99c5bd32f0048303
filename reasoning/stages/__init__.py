"""The pipeline's stages: one module each, ``run(config) -> dict`` plus ``main(argv)``.

    python -m reasoning.stages.cot      CoT data: convert a data set (optionally via a teacher), or synthetic math
    python -m reasoning.stages.sft      supervised fine-tuning on CoT rows (LoRA or full)
    python -m reasoning.stages.context  RoPE scaling for long context (+ optional long-sequence tuning)
    python -m reasoning.stages.grpo     reinforcement learning with group-relative rewards
    python -m reasoning.stages.eval     evaluation

Every ``main`` is ``reasoning.stages.common.stage_main`` (logging, flags and ``--config`` recipe,
the exit codes of ``reasoning.errors``); ``reasoning <stage>`` runs the same. Shared training
plumbing (datasets, hardware defaults, checkpoints, SIGTERM, the artifact) lives in
``reasoning.stages.common`` too. Modules are imported lazily so ``import reasoning.stages`` is cheap.
"""
