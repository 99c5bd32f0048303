"""The fast GRPO path leans on private TRL / transformers / PEFT / torch symbols. This test is the
alarm for an upgrade that removes or reshapes one: it fails naming the symbol, and the fast
trainer refuses to start the same way (``--trainer trl`` is the way round)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from reasoning.fast_grpo import private_api
from reasoning.stages import grpo

ROOT = Path(__file__).resolve().parents[1]


def test_every_private_symbol_the_fast_path_uses_is_there():
    problems = private_api.missing(private_api.ALL_SYMBOLS)
    if problems:
        pytest.fail("an installed library no longer has what reasoning/fast_grpo relies on (see "
                    "reasoning/fast_grpo/private_api.py; --trainer trl runs without it):\n  - "
                    + "\n  - ".join(problems), pytrace=False)


def test_a_removed_method_stops_the_fast_trainer_naming_it(monkeypatch, tmp_path):
    from trl import GRPOTrainer
    monkeypatch.delattr(GRPOTrainer, "_get_per_token_logps_and_entropies")
    config = grpo.GRPOStageConfig(model="builtin:smollm2-135m-instruct", dataset="synthetic:math?n=4",
                                  output=str(tmp_path / "out"))
    with pytest.raises(private_api.FastPathUnavailable,
                       match=r"(?s)trl\.GRPOTrainer\._get_per_token_logps_and_entropies is missing.*--trainer trl"):
        grpo.trainer_class_for(config)
    # TRL's own trainer does not need it from us.
    assert grpo.trainer_class_for(grpo.GRPOStageConfig(**{**vars(config), "trainer": "trl"})) is GRPOTrainer


def test_the_stage_stops_before_loading_a_model_and_says_why(tiny_model_dir, tmp_path, monkeypatch, capsys):
    from trl import GRPOTrainer

    from tests.test_stage_grpo import write_problems
    monkeypatch.delattr(GRPOTrainer, "_generate_single_turn")
    data = write_problems(tmp_path / "p.jsonl", n=2)
    code = grpo.main(["--model", str(tiny_model_dir), "--dataset", str(data), "--output", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 1 and "trl.GRPOTrainer._generate_single_turn is missing" in err and "--trainer trl" in err
    assert "Traceback" not in err and not (tmp_path / "o").exists()


def test_a_changed_signature_is_named(monkeypatch):
    from trl import GRPOTrainer

    def reshaped(self, prompt_ids, images, multimodal_fields, num_generations):  # has_tool_images dropped
        raise AssertionError

    monkeypatch.setattr(GRPOTrainer, "_generate_single_turn", reshaped)
    (problem,) = private_api.missing()
    assert "_generate_single_turn no longer takes has_tool_images" in problem


def test_missing_instance_attributes_are_named():
    class Trainer:
        use_vllm = False

    with pytest.raises(private_api.FastPathUnavailable, match="_is_vlm"):
        private_api.require_instance_attributes(Trainer())


def test_a_missing_torch_op_and_module_field_are_named(monkeypatch):
    assert private_api.problem("torch.ops.mkldnn._no_such_op") == "torch.ops.mkldnn._no_such_op is missing"
    assert private_api.problem("torch.nn.Module._no_such_field") == "torch.nn.Module._no_such_field is missing"


def _overridden_trl_methods(source: Path) -> set[str]:
    from trl import GRPOTrainer
    names = set(re.findall(r"^    def (_\w+)\(self", source.read_text(), flags=re.M))
    return {name for name in names if not name.startswith("__") and hasattr(GRPOTrainer, name)}


@pytest.mark.parametrize(("source", "listed"), [
    ("reasoning/fast_grpo/trainer.py", private_api.FAST_PATH_SYMBOLS),
    ("reasoning/modeling/dynamic_sampling.py", private_api.DYNAMIC_SAMPLING_SYMBOLS),
])
def test_the_list_names_every_trl_method_the_code_overrides(source, listed):
    """An override added without a line in private_api.py would escape the check above."""
    overridden = _overridden_trl_methods(ROOT / source)
    assert overridden
    listed_methods = {spec.split("(")[0].rsplit(".", 1)[1] for spec in listed if spec.startswith("trl.GRPOTrainer.")}
    assert overridden <= listed_methods, f"{source} overrides {sorted(overridden - listed_methods)} unlisted"


def test_the_list_names_every_private_import_of_the_package():
    imported = set()
    for path in (ROOT / "reasoning" / "fast_grpo").glob("*.py"):
        for module, names in re.findall(r"from ((?:trl|transformers|torch|peft)[\w.]*) import ([^\n]+)", path.read_text()):
            imported |= {f"{module}.{name.strip()}" for name in names.split(",") if name.strip().startswith("_")}
    listed = {spec.split("(")[0] for spec in private_api.ALL_SYMBOLS}
    assert imported and imported <= listed, sorted(imported - listed)
