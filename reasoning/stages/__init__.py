"""Training and evaluation stages: one module each, ``run(config) -> dict`` plus ``main(argv)``.

    python -m reasoning.stages.sft      supervised fine-tuning on CoT rows (LoRA or full)
    python -m reasoning.stages.context  RoPE scaling for long context (+ optional long-sequence tuning)
    python -m reasoning.stages.grpo     reinforcement learning with group-relative rewards
    python -m reasoning.stages.eval     evaluation

Shared plumbing (datasets, hardware defaults, checkpoints, SIGTERM, the artifact) lives in
``reasoning.stages.common``. Modules are imported lazily so ``import reasoning.stages`` is cheap.
"""
