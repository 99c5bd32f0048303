"""What kfp.local adds over calling the stages directly, on the tiny CI configuration.

    python -m benchmarks.bench_pipeline [--repeats 3]

Both sides run the same steps on the same tiny random model (2 layers, hidden 64) and the
parameters of recipes/pipeline_tiny_ci.yaml (CoT on, context off): import model and
dataset, CoT, SFT, GRPO, evaluation of base/SFT/GRPO. "direct" calls the functions of
``reasoning.pipeline.steps`` one after another in one fresh Python process; "kfp.local"
runs the whole pipeline through ``python -m pipelines.cli run`` (a process per task, plus
artifact bookkeeping). Prints the median wall time of each and one line with the ratio.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "pipeline_tiny_ci.yaml"


def make_tiny_model(directory: Path) -> Path:
    """The tests' tiny model: a random 2-layer Llama with the real SmolLM2 tokenizer (offline)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from reasoning.modeling.models import builtin_gguf_path
    gguf = builtin_gguf_path("smollm2-135m-instruct")
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                         tie_word_embeddings=True, rope_parameters={"rope_type": "default", "rope_theta": 100000.0},
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    return directory


def run_direct(parameters: dict, workdir: Path) -> None:
    """The pipeline's steps (CoT on, context off) as plain calls, in this process."""
    from reasoning.pipeline import steps
    from reasoning.pipeline.params import grpo_stage_config, make_parameters, sft_stage_config, validate_parameters

    params = make_parameters(validate_parameters(parameters))
    steps.import_model(params.base_model, workdir / "base")
    steps.import_dataset(params.dataset, workdir / "problems", limit=params.train_rows)
    steps.generate_cot(workdir / "problems", workdir / "cot", reasoning_type=params.reasoning_type, seed=params.seed)
    steps.run_training_stage("sft", sft_stage_config(params, model=str(workdir / "base"),
                                                     dataset=str(steps.dataset_rows(workdir / "cot")),
                                                     output=str(workdir / "sft")))
    steps.run_training_stage("grpo", grpo_stage_config(params, model=str(workdir / "sft"),
                                                       dataset=str(steps.dataset_rows(workdir / "problems")),
                                                       output=str(workdir / "grpo")))
    models = {"base": str(workdir / "base"), "sft": str(workdir / "sft"), "grpo": str(workdir / "grpo")}
    steps.evaluate_models(models, params.eval_dataset_list, workdir / "report", limit=params.eval_limit,
                          max_new_tokens=params.eval_max_new_tokens, seed=params.seed)


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each side (median reported)")
    parser.add_argument("--direct-once", metavar="JSON", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args(argv)
    if args.direct_once:
        spec = json.loads(args.direct_once)
        run_direct(spec["parameters"], Path(spec["workdir"]))
        return 0

    from reasoning.pipeline.params import load_pipeline_recipe
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        tmp = Path(tmp)
        parameters = {**load_pipeline_recipe(RECIPE), "base_model": str(make_tiny_model(tmp / "tiny"))}
        overrides = [f"{key}={json.dumps(value) if isinstance(value, dict) else value}"
                     for key, value in parameters.items()]
        direct, pipeline = [], []
        for repeat in range(args.repeats):
            spec = json.dumps({"parameters": parameters, "workdir": str(tmp / f"direct-{repeat}")})
            direct.append(timed([sys.executable, "-m", "benchmarks.bench_pipeline", "--direct-once", spec]))
            pipeline.append(timed([sys.executable, "-m", "pipelines.cli", "run", "--output-dir", str(tmp / "runs"),
                                   "--run-name", f"run-{repeat}", *overrides]))
            print(f"repeat {repeat}: direct {direct[-1]:.1f} s, kfp.local {pipeline[-1]:.1f} s", flush=True)
    d, p = statistics.median(direct), statistics.median(pipeline)
    print(f"tiny pipeline, median of {args.repeats} (cores: {os.cpu_count()}): direct stage calls {d:.1f} s, "
          f"kfp.local {p:.1f} s, overhead {p - d:+.1f} s, ratio kfp.local/direct {p / d:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
