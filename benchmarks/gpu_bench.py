"""GPU benchmark: SFT model-FLOPs utilisation and GRPO completion tokens per second.

    bash benchmarks/gpu_bench.sh                     # on one H100/H200, from the repo root (< 8 min)
    GPU_BENCH_DRY=1 bash benchmarks/gpu_bench.sh     # tiny sizes on the CPU: checks that it runs

Models (random weights: the GPU machine has no network and the GGUF default model is too
big to carry): the SmolLM2-135M architecture and a ~0.5B Llama (hidden 1024, 24 layers,
GQA 16/4 heads, MLP 4864, SmolLM2's 49,152-token vocabulary), with the SmolLM2 tokenizer
from .gpubench/tokenizer/. Random weights sample random tokens, so every completion is
forced to full length (min_new_tokens = max_new_tokens): tokens/s measure the engine.

Measurements, each in its own try/except (a failure prints its error and the rest go on):
- sft: full fine-tuning, bf16 weights, fused AdamW, sdpa, packed random sequences;
  MFU = 6 * N * tokens/s / 989e12 (H100/H200 dense bf16 peak), N = parameters (tied head once).
- generation: one GRPO batch (prompts x group) sampled with HF generate through the PEFT
  LoRA model (what TRL does) and through reasoning.fast_grpo's merged generation twin.
- grpo: whole GRPO iterations (TRL GRPOTrainer vs the project's FastGRPOTrainer, LoRA r 16,
  bf16 mixed precision); completion tokens per second of the iteration, 1 warm-up step.
- vllm: the same GRPO iterations with vLLM colocated generation, when vllm is importable.
Prints a table and writes it to $OUT/gpu_bench.json when OUT is set.
"""
from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
DRY = os.environ.get("GPU_BENCH_DRY", "") not in ("", "0")
BUDGET_S = float(os.environ.get("GPU_BENCH_BUDGET_S", "420"))  # measurements stop starting after this
PEAK_BF16_FLOPS = 989e12  # H100/H200 SXM dense bf16 tensor-core peak
STARTED = time.perf_counter()

ARCHITECTURES: dict[str, dict[str, Any]] = {
    "smollm2-135m": {"hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30,
                     "num_attention_heads": 9, "num_key_value_heads": 3},
    "llama-0.5b": {"hidden_size": 1024, "intermediate_size": 4864, "num_hidden_layers": 24,
                   "num_attention_heads": 16, "num_key_value_heads": 4},
}
DRY_ARCHITECTURE = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                    "num_attention_heads": 4, "num_key_value_heads": 2}
# (sft batch, sft sequence, sft steps, prompts per GRPO step, group, completion tokens, GRPO steps)
SIZES = {"sft_batch": 16, "sft_seq": 1024, "sft_steps": 8, "prompts": 16, "group": 4, "completion": 256,
         "grpo_steps": 3}
DRY_SIZES = {"sft_batch": 2, "sft_seq": 32, "sft_steps": 2, "prompts": 2, "group": 2, "completion": 8,
             "grpo_steps": 2}

RESULTS: list[dict[str, Any]] = []


def elapsed() -> float:
    return time.perf_counter() - STARTED


def device() -> torch.device:
    return torch.device("cpu" if DRY or not torch.cuda.is_available() else "cuda")


def sync() -> None:
    if device().type == "cuda":
        torch.cuda.synchronize()


def dtype() -> torch.dtype:
    return torch.float32 if device().type == "cpu" else torch.bfloat16


def sizes() -> dict[str, int]:
    return DRY_SIZES if DRY else SIZES


def tokenizer_dir() -> Path:
    candidates = [ROOT / ".gpubench" / "tokenizer", Path(os.environ.get("GPU_BENCH_TOKENIZER", "/nonexistent"))]
    for path in candidates:
        if (path / "tokenizer.json").is_file():
            return path
    raise FileNotFoundError("no tokenizer: copy SmolLM2's tokenizer.json, tokenizer_config.json and "
                            "chat_template.jinja to .gpubench/tokenizer/")


def model_config(arch: str):
    from transformers import LlamaConfig
    shape = DRY_ARCHITECTURE if DRY else ARCHITECTURES[arch]
    return LlamaConfig(vocab_size=49152, max_position_embeddings=8192, rms_norm_eps=1e-5,
                       tie_word_embeddings=True, rope_parameters={"rope_type": "default", "rope_theta": 100000.0},
                       bos_token_id=1, eos_token_id=2, pad_token_id=2, attn_implementation="sdpa", **shape)


def random_model(arch: str, model_dtype: torch.dtype):
    from transformers import LlamaForCausalLM
    torch.manual_seed(0)
    return LlamaForCausalLM(model_config(arch)).to(device=device(), dtype=model_dtype)


def parameter_count(model) -> int:
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def record(measurement: str, model: str, **values: Any) -> None:
    row = {"measurement": measurement, "model": model, **values}
    RESULTS.append(row)
    print("RESULT " + json.dumps(row, default=str), flush=True)


@contextlib.contextmanager
def guarded(measurement: str, model: str):
    """Run one measurement; print (and record) its error instead of stopping the benchmark."""
    if elapsed() > BUDGET_S:
        print(f"SKIP {measurement} {model}: time budget ({BUDGET_S:.0f} s) used up", flush=True)
        record(measurement, model, error="skipped: time budget used up")
        yield False
        return
    print(f"--- {measurement} {model} (t={elapsed():.0f} s)", flush=True)
    try:
        yield True
    except Exception as exc:  # noqa: BLE001 - one failed measurement must not end the run
        traceback.print_exc()
        record(measurement, model, error=f"{type(exc).__name__}: {exc}"[:500])
    finally:
        if device().type == "cuda":
            torch.cuda.empty_cache()


# ---------------------------------------------------------------- SFT MFU

def measure_sft(arch: str) -> None:
    size = sizes()
    model = random_model(arch, dtype())
    model.config.use_cache = False
    params = parameter_count(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=device().type == "cuda")
    batch = torch.randint(0, model.config.vocab_size, (size["sft_batch"], size["sft_seq"]), device=device())

    def step() -> None:
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(2):  # warm-up: kernels, allocator, optimizer state
        step()
    sync()
    started = time.perf_counter()
    for _ in range(size["sft_steps"]):
        step()
    sync()
    seconds = (time.perf_counter() - started) / size["sft_steps"]
    tokens_per_s = size["sft_batch"] * size["sft_seq"] / seconds
    mfu = 6 * params * tokens_per_s / PEAK_BF16_FLOPS
    record("sft", arch, parameters=params, tokens_per_step=size["sft_batch"] * size["sft_seq"],
           step_s=round(seconds, 4), tokens_per_s=round(tokens_per_s), mfu=round(mfu, 4))


# ---------------------------------------------------------------- generation through PEFT vs the twin

def grpo_prompts(tokenizer, count: int) -> list[str]:
    questions = [f"What is {10 + 7 * i} + {23 + 5 * i}? Show your reasoning." for i in range(count)]
    return [tokenizer.apply_chat_template([{"role": "user", "content": q}], tokenize=False,
                                          add_generation_prompt=True) for q in questions]


def measure_generation(arch: str) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoTokenizer

    from reasoning.fast_grpo.trainer import build_generation_twin, refresh_generation_twin
    size = sizes()
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir())
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    base = random_model(arch, dtype())
    model = get_peft_model(base, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear",
                                            task_type="CAUSAL_LM"))
    prompts = [p for p in grpo_prompts(tokenizer, size["prompts"]) for _ in range(size["group"])]
    inputs = tokenizer(prompts, return_tensors="pt", padding=True).to(device())
    length = size["completion"]

    def generate(module, new_tokens: int) -> float:
        sync()
        started = time.perf_counter()
        with torch.no_grad():
            out = module.generate(**inputs, do_sample=True, temperature=1.0, top_p=1.0, top_k=0,
                                  max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                                  pad_token_id=tokenizer.pad_token_id)
        sync()
        assert out.shape[1] - inputs["input_ids"].shape[1] == new_tokens
        return time.perf_counter() - started

    model.train()  # TRL samples from the training model in train mode
    generate(model, 4)
    peft_s = generate(model, length)
    twin, pairs = build_generation_twin(model)
    refresh_s = time.perf_counter()
    refresh_generation_twin(pairs)
    sync()
    refresh_s = time.perf_counter() - refresh_s
    generate(twin, 4)
    twin_s = generate(twin, length)
    tokens = len(prompts) * length
    record("generation", arch, completions=len(prompts), completion_tokens=length,
           peft_tokens_per_s=round(tokens / peft_s), twin_tokens_per_s=round(tokens / twin_s),
           twin_refresh_s=round(refresh_s, 4), speedup=round(peft_s / twin_s, 2))


# ---------------------------------------------------------------- whole GRPO iterations

def saved_random_model(arch: str, folder: Path) -> str:
    from transformers import AutoTokenizer
    model = random_model(arch, torch.float32).to("cpu")
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(tokenizer_dir()).save_pretrained(folder)
    del model
    return str(folder)


def grpo_iterations(arch: str, model_dir: str, variant: str) -> None:
    from benchmarks.plain_trl_grpo import plain_grpo_trainer
    from reasoning.fast_grpo.profiler import attach_phase_profiler, profile_summary
    size = sizes()
    overrides: dict[str, Any] = {
        "bf16": device().type == "cuda", "use_cpu": device().type == "cpu",
        # random weights never stop on their own; force full length anyway so every variant does the same work
        "generation_kwargs": {"min_new_tokens": size["completion"]},
    }
    trainer_cls = None
    if variant == "fast":
        from reasoning.fast_grpo import FastGRPOTrainer
        trainer_cls = FastGRPOTrainer
    elif variant == "vllm":
        # vLLM takes its own sampling settings; its colocated engine shares the GPU with training.
        overrides.update(use_vllm=True, vllm_mode="colocate", vllm_gpu_memory_utilization=0.3,
                         generation_kwargs={"min_tokens": size["completion"]})
    with tempfile.TemporaryDirectory() as out:
        trainer = plain_grpo_trainer(model_dir, out, steps=size["grpo_steps"], group_size=size["group"],
                                     batch_size=size["prompts"] * size["group"],
                                     max_completion_length=size["completion"], trainer_cls=trainer_cls,
                                     config_overrides=overrides)
        attach_phase_profiler(trainer)  # profiling is on request, for every variant alike
        trainer.train()
        summary = profile_summary(trainer.state.log_history, skip_first=1)
    tokens = summary["completion_tokens"]
    record(f"grpo:{variant}", arch, completions=size["prompts"] * size["group"], completion_tokens=size["completion"],
           iteration_s=round(summary["iteration_s"], 3), tokens_per_s=round(tokens / summary["iteration_s"]),
           generation_s=round(summary["generation_s"], 3),
           generation_tokens_per_s=round(tokens / max(summary["generation_s"], 1e-9)),
           profile={k: round(v, 3) for k, v in summary.items()})


# ---------------------------------------------------------------- table

def table() -> str:
    lines = [f"{'measurement':<16} {'model':<14} result"]
    for row in RESULTS:
        if "error" in row:
            text = "ERROR " + row["error"]
        elif row["measurement"] == "sft":
            text = (f"{row['tokens_per_s']:,} tokens/s, MFU {100 * row['mfu']:.1f} % "
                    f"({row['parameters'] / 1e6:.0f}M params, {row['step_s']} s/step)")
        elif row["measurement"] == "generation":
            text = (f"PEFT {row['peft_tokens_per_s']:,} tok/s, merged twin {row['twin_tokens_per_s']:,} tok/s "
                    f"(x{row['speedup']}, {row['completions']} x {row['completion_tokens']} tokens)")
        elif row["measurement"].startswith("grpo"):
            text = (f"{row['tokens_per_s']:,} completion tok/s, {row['iteration_s']} s/iteration, "
                    f"generation {row['generation_s']} s ({row['generation_tokens_per_s']:,} tok/s)")
        else:
            text = json.dumps({k: v for k, v in row.items() if k not in ("measurement", "model")})
        lines.append(f"{row['measurement']:<16} {row['model']:<14} {text}")
    return "\n".join(lines)


def main() -> int:
    sys.path.insert(0, str(ROOT))
    info = {"device": torch.cuda.get_device_name(0) if device().type == "cuda" else "cpu",
            "torch": torch.__version__, "dry": DRY}
    with contextlib.suppress(Exception):
        import transformers
        info["transformers"] = transformers.__version__
    print("gpu_bench:", json.dumps(info), flush=True)
    # Optional selections (comma separated) for a shorter rerun: GPU_BENCH_ONLY=sft,generation,grpo,
    # GPU_BENCH_ARCHS=smollm2-135m, GPU_BENCH_VARIANTS=fast,plain (also sets their order).
    only = set(os.environ.get("GPU_BENCH_ONLY", "sft,generation,grpo").split(","))
    architectures = os.environ.get("GPU_BENCH_ARCHS", ",".join(ARCHITECTURES)).split(",")
    variants = os.environ.get("GPU_BENCH_VARIANTS", "plain,fast,vllm").split(",")
    for arch in architectures if "sft" in only else []:
        with guarded("sft", arch) as go:
            if go:
                measure_sft(arch)
    for arch in architectures if "generation" in only else []:
        with guarded("generation", arch) as go:
            if go:
                measure_generation(arch)
    vllm_missing = importlib.util.find_spec("vllm") is None
    with tempfile.TemporaryDirectory() as models:
        for arch in architectures if "grpo" in only else []:
            model_dir = None
            for variant in variants:
                if variant == "vllm" and (vllm_missing or device().type != "cuda"):
                    reason = ("vllm is not installed here (the GPU machine has no network: carry a vllm wheel "
                              "matching its torch in .whl/ to measure it)" if vllm_missing else "vLLM needs a GPU")
                    print(f"SKIP grpo:vllm {arch}: {reason}", flush=True)
                    record("grpo:vllm", arch, error="skipped: " + reason)
                    continue
                with guarded(f"grpo:{variant}", arch) as go:
                    if go:
                        model_dir = model_dir or saved_random_model(arch, Path(models) / arch)
                        grpo_iterations(arch, model_dir, variant)
    text = table()
    print("\n" + text, flush=True)
    print(f"total {elapsed():.0f} s", flush=True)
    if os.environ.get("OUT"):
        out = Path(os.environ["OUT"]) / "gpu_bench.json"
        out.write_text(json.dumps({"info": info, "results": RESULTS, "total_s": round(elapsed(), 1)}, indent=2))
        print(f"wrote {out}")
    return 0 if RESULTS and not all("error" in r for r in RESULTS) else 1


if __name__ == "__main__":
    raise SystemExit(main())
