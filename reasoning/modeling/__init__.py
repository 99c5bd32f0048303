"""Models and what the stages do to them beyond TRL's defaults.

``models`` resolves a model reference (``builtin:NAME``, a directory, ``s3://``, a hub id) to a
local Hugging Face directory and loads it; ``generation`` samples completions in batches;
``context_extension`` sets RoPE scaling (linear, dynamic, YaRN, NTK) for longer contexts;
``dynamic_sampling`` adds DAPO's dynamic sampling to TRL's GRPOTrainer; ``cpu_training``
tunes thread counts for training on a CPU.
"""
