"""run_reasoning_pipeline.sh: every flag sets the pipeline parameter or setting it names.

``--print-params`` prints what the flags resolve to and runs nothing; each flag of the script's
case table must appear in FLAGS below (a new flag without a test fails here), and every
parameter the script emits must be a field of PipelineParameters.
"""
from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path

import pytest

from reasoning.pipeline.params import PipelineParameters

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "run_reasoning_pipeline.sh"

# flag -> (arguments after it, the lines it must add: "param name=value" or "setting name=value")
FLAGS = {
    "--base-model": (["/models/m"], ["param base_model=/models/m"]),
    "--dataset": (["gsm8k"], ["param dataset=gsm8k"]),
    "--enable-cot": ([], ["param enable_cot=true"]),
    "--no-cot": ([], ["param enable_cot=false"]),
    "--enable-context": ([], ["param enable_context=true"]),
    "--target-context": (["131072"], ["param target_context=131072"]),
    "--scaling-type": (["ntk"], ["param scaling_type=ntk"]),
    "--long-context-lengths": (["8192,32768"], ["param long_context_lengths=8192,32768"]),
    "--context-gate-min-score": (["0.5"], ["param context_gate_min_score=0.5"]),
    # epochs only count when max_steps is 0, so the flag sets both
    "--sft-epochs": (["3"], ["param sft_epochs=3", "param sft_max_steps=0"]),
    "--lora-r": (["64"], ["param lora_r=64"]),
    "--grpo-iterations": (["77"], ["param grpo_iterations=77"]),
    "--group-size": (["6"], ["param group_size=6"]),
    "--eval-datasets": (["gsm8k,math500"], ["param eval_datasets=gsm8k,math500"]),
    "--eval-limit": (["33"], ["param eval_limit=33"]),
    "--gpu-type": (["nvidia.com/gpu"], ["param gpu_type=nvidia.com/gpu"]),
    "--gpu-count": (["4"], ["param gpu_count=4"]),
    "--num-nodes": (["2"], ["param num_nodes=2"]),
    "--register-model": (["http://registry:8080"], ["param register_model=true",
                                                    "param model_registry_address=http://registry:8080"]),
    "--param": (["beta_like=with spaces"], ["param beta_like=with spaces"]),
    "--recipe": (["recipes/x.yaml"], ["setting recipe=recipes/x.yaml"]),
    "--storage": (["s3://b/p"], ["setting storage=s3://b/p"]),
    "--output-dir": (["/tmp/o"], ["setting output_dir=/tmp/o"]),
    "--host": (["http://kfp:8080"], ["setting host=http://kfp:8080", "setting mode=submit"]),
    "--experiment": (["exp1"], ["setting experiment=exp1"]),
    "--run-name": (["try1"], ["setting run_name=try1"]),
    "--image-registry": (["reg.example/me"], ["setting image_registry=reg.example/me"]),
    "--image-tag": (["9.9"], ["setting image_tag=9.9"]),
    "--dry-run": ([], ["setting mode=compile"]),
}
DEFAULTS = {"mode": "run", "recipe": "recipes/pipeline_default_cpu.yaml", "storage": "", "output_dir": "runs",
            "host": "", "experiment": "reasoning", "run_name": "", "image_registry": "ghcr.io/example",
            "image_tag": "0.1.0"}


def resolve(*args: str) -> tuple[dict[str, str], list[str]]:
    env = {"PATH": "/usr/bin:/bin"}  # REGISTRY/TAG from the caller's environment would change the defaults
    result = subprocess.run([str(SCRIPT), "--print-params", *args], capture_output=True, text=True, timeout=30,
                            env=env, check=True)
    settings, params = {}, []
    for line in result.stdout.splitlines():
        kind, _, value = line.partition(" ")
        if kind == "setting":
            name, _, setting = value.partition("=")
            settings[name] = setting
        else:
            assert kind == "param", line
            params.append(line)
    return settings, params


def script_flags() -> set[str]:
    table = SCRIPT.read_text().split('case "$1" in', 1)[1].split("esac", 1)[0]
    flags = set()
    for pattern in re.findall(r"^\s+([-\w|]+)\)", table, re.M):
        flags.update(pattern.split("|"))
    return flags - {"-h", "--help", "--print-params"}


def test_every_flag_of_the_script_is_tested_here():
    assert script_flags() == set(FLAGS)


def test_no_flags_resolve_to_the_defaults():
    assert resolve() == (DEFAULTS, [])


@pytest.mark.parametrize("flag", sorted(FLAGS))
def test_flag_sets_exactly_its_parameter(flag):
    arguments, expected = FLAGS[flag]
    settings, params = resolve(flag, *arguments)
    expected_params = [line for line in expected if line.startswith("param ")]
    expected_settings = dict(DEFAULTS)
    for line in expected:
        if line.startswith("setting "):
            name, _, value = line.removeprefix("setting ").partition("=")
            expected_settings[name] = value
    assert params == expected_params
    assert settings == expected_settings


def test_every_emitted_parameter_is_a_pipeline_parameter():
    fields = {f.name for f in dataclasses.fields(PipelineParameters)}
    for flag, (_arguments, expected) in FLAGS.items():
        if flag == "--param":  # passes any name through; the pipeline CLI validates it
            continue
        for line in expected:
            if line.startswith("param "):
                assert line.removeprefix("param ").split("=", 1)[0] in fields, (flag, line)


def test_a_flag_named_like_a_parameter_sets_that_parameter():
    """--lora-r sets lora_r: the script's flags are the dataclass fields' names, never other spellings."""
    fields = {f.name for f in dataclasses.fields(PipelineParameters)}
    named = [flag for flag in FLAGS if flag[2:].replace("-", "_") in fields]
    assert len(named) >= 15
    for flag in named:
        first = FLAGS[flag][1][0]
        assert first.startswith(f"param {flag[2:].replace('-', '_')}="), (flag, first)


def test_flags_combine_in_order():
    _, params = resolve("--enable-context", "--target-context", "65536", "--gpu-count", "1", "--no-cot")
    assert params == ["param enable_context=true", "param target_context=65536", "param gpu_count=1",
                      "param enable_cot=false"]


@pytest.mark.parametrize("flag", sorted(f for f, (arguments, _) in FLAGS.items() if arguments))
def test_a_flag_without_its_value_is_refused(flag):
    result = subprocess.run([str(SCRIPT), "--print-params", flag], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and f"{flag} needs a value" in result.stderr


def test_help_prints_the_whole_header_and_every_example_flag_exists():
    """--help is the header comment; a fixed line range once cut its last examples off."""
    header = [line[2:] for line in SCRIPT.read_text().splitlines()[1:] if line.startswith("#")]
    header = header[:next(i for i, line in enumerate(header) if line.startswith("Any other")) + 1]
    shown = subprocess.run(["bash", str(SCRIPT), "--help"], capture_output=True, text=True, check=True).stdout
    assert shown.splitlines() == [line.rstrip() for line in header]
    for flag in set(re.findall(r"\s(--[a-z-]+)", shown)) - {"--param"}:
        assert flag in FLAGS or flag in {"--print-params", "--dry-run"}, flag
