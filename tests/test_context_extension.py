"""Context extension: each RoPE scaling type loads, matches transformers' own RoPE
initialisation, survives save/reload, and runs past the original length.

The tiny model is re-saved with max_position_embeddings=64 so "longer than the
original" means 100-200 tokens and every forward pass takes milliseconds.
"""
from __future__ import annotations

import json
import math
import shutil

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM, LlamaConfig
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

from reasoning.errors import InputError
from reasoning.modeling.context_extension import SCALING_TYPES, ContextExtender, create_context_extender

ORIGINAL = 64
TARGET = 256
THETA = 100000.0
HEAD_DIM = 16  # tiny model: hidden 64 / 4 heads


@pytest.fixture(scope="module")
def short_model_dir(tiny_model_dir, tmp_path_factory):
    """The tiny model with a 64-position original context."""
    out = tmp_path_factory.mktemp("short-context-model")
    shutil.copytree(tiny_model_dir, out, dirs_exist_ok=True)
    config_path = out / "config.json"
    config = json.loads(config_path.read_text())
    config["max_position_embeddings"] = ORIGINAL
    config_path.write_text(json.dumps(config))
    return out


def small_config(**overrides) -> LlamaConfig:
    settings = dict(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=1,
                    num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=ORIGINAL,
                    rope_parameters={"rope_type": "default", "rope_theta": THETA})
    settings.update(overrides)
    return LlamaConfig(**settings)


def expected_rope_parameters(scaling_type: str) -> dict:
    """Written out by hand from transformers' documented keys, independent of the module."""
    factor = TARGET / ORIGINAL
    if scaling_type == "ntk":
        return {"rope_type": "default",
                "rope_theta": THETA * factor ** (HEAD_DIM / (HEAD_DIM - 2))}
    expected = {"rope_type": scaling_type, "factor": factor, "rope_theta": THETA}
    if scaling_type == "yarn":
        expected["original_max_position_embeddings"] = ORIGINAL
    return expected


def unscaled_inv_freq(theta: float = THETA, dim: int = HEAD_DIM) -> torch.Tensor:
    return 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float) / dim))


@pytest.mark.parametrize("scaling_type", SCALING_TYPES)
def test_model_kwargs_load_and_match_transformers_rope(short_model_dir, scaling_type):
    extender = create_context_extender(TARGET, scaling_type=scaling_type, model_config=short_model_dir)
    assert extender.original_length == ORIGINAL  # read from config.json
    assert extender.factor == TARGET / ORIGINAL

    model = AutoModelForCausalLM.from_pretrained(short_model_dir, **extender.get_model_kwargs())
    expected = expected_rope_parameters(scaling_type)
    assert model.config.rope_parameters == pytest.approx(expected)
    # dynamic keeps the original as its reference length (see the module docstring).
    assert model.config.max_position_embeddings == (ORIGINAL if scaling_type == "dynamic" else TARGET)

    rotary = model.model.rotary_emb
    if scaling_type == "ntk":
        # Independent formula: theta' = theta * factor^(d/(d-2)), plain RoPE with that base.
        new_theta = THETA * 4.0 ** (HEAD_DIM / (HEAD_DIM - 2))
        torch.testing.assert_close(rotary.inv_freq, unscaled_inv_freq(new_theta))
        assert rotary.attention_scaling == 1.0
        # The lowest frequency is stretched by exactly the factor.
        assert (unscaled_inv_freq()[-1] / rotary.inv_freq[-1]).item() == pytest.approx(4.0, rel=1e-4)
        return
    # transformers' own initialisation on a config written by hand with the same settings.
    reference = small_config(max_position_embeddings=model.config.max_position_embeddings,
                             rope_parameters=dict(expected))
    inv_freq, attention_scaling = ROPE_INIT_FUNCTIONS[scaling_type](reference, "cpu")
    torch.testing.assert_close(rotary.inv_freq, inv_freq)
    assert rotary.attention_scaling == pytest.approx(attention_scaling)
    if scaling_type == "linear":
        torch.testing.assert_close(rotary.inv_freq, unscaled_inv_freq() / 4.0)
    elif scaling_type == "yarn":
        assert rotary.attention_scaling == pytest.approx(0.1 * math.log(4.0) + 1.0)
        assert not torch.allclose(rotary.inv_freq, unscaled_inv_freq())
        assert rotary.inv_freq[0].item() == pytest.approx(1.0)  # highest frequency kept
    else:  # dynamic: unscaled until a sequence passes the original length
        torch.testing.assert_close(rotary.inv_freq, unscaled_inv_freq())


def test_dynamic_frequencies_grow_with_the_sequence(short_model_dir):
    extender = create_context_extender(TARGET, scaling_type="dynamic", model_config=short_model_dir)
    model = AutoModelForCausalLM.from_pretrained(short_model_dir, **extender.get_model_kwargs()).eval()
    before = model.model.rotary_emb.inv_freq.clone()
    with torch.no_grad():
        model(torch.randint(0, 100, (1, 100)))
    after = model.model.rotary_emb.inv_freq
    assert not torch.allclose(before, after)
    expected, _ = ROPE_INIT_FUNCTIONS["dynamic"](model.config, "cpu", seq_len=100)
    torch.testing.assert_close(after, expected)
    assert (after <= before + 1e-9).all() and after[-1] < before[-1]  # lower frequencies: longer reach


@pytest.mark.parametrize("scaling_type", SCALING_TYPES)
def test_forward_pass_beyond_the_original_length(short_model_dir, scaling_type):
    extender = create_context_extender(TARGET, scaling_type=scaling_type, model_config=short_model_dir)
    model = AutoModelForCausalLM.from_pretrained(short_model_dir, **extender.get_model_kwargs()).eval()
    length = 200
    with torch.no_grad():
        output = model(torch.randint(0, 100, (2, length)))
    assert output.logits.shape[:2] == (2, length)
    assert torch.isfinite(output.logits).all()


@pytest.mark.parametrize("scaling_type", SCALING_TYPES)
def test_apply_to_config_round_trips_through_save(tmp_path, scaling_type):
    config = small_config()
    extender = create_context_extender(TARGET, scaling_type=scaling_type, model_config=config)
    returned = extender.apply_to_config(config)
    assert returned is config
    config.save_pretrained(tmp_path)
    reloaded = AutoConfig.from_pretrained(tmp_path)
    assert reloaded.rope_parameters == pytest.approx(expected_rope_parameters(scaling_type))
    assert reloaded.max_position_embeddings == extender.max_position_embeddings
    # The reloaded config builds the same rotary frequencies as the load-time kwargs.
    model = AutoModelForCausalLM.from_config(reloaded)
    direct = AutoModelForCausalLM.from_config(small_config(**extender.get_model_kwargs()))
    torch.testing.assert_close(model.model.rotary_emb.inv_freq, direct.model.rotary_emb.inv_freq)
    assert model.model.rotary_emb.attention_scaling == direct.model.rotary_emb.attention_scaling


def test_saved_model_loads_with_scaling_and_no_flags(short_model_dir, tmp_path):
    extender = create_context_extender(TARGET, scaling_type="yarn", model_config=short_model_dir)
    model = AutoModelForCausalLM.from_pretrained(short_model_dir)
    extender.apply_to_config(model.config)
    model.save_pretrained(tmp_path)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert reloaded.config.rope_parameters["rope_type"] == "yarn"
    assert reloaded.config.max_position_embeddings == TARGET
    assert reloaded.model.rotary_emb.attention_scaling == pytest.approx(0.1 * math.log(4.0) + 1.0)


def test_original_length_is_read_from_each_kind_of_config(short_model_dir):
    # transformers config object, config.json dict (SmolLM2's RoPE), model directory, a model.
    assert create_context_extender(4096, model_config=small_config(max_position_embeddings=1024)).original_length == 1024
    smollm2 = {"max_position_embeddings": 8192, "hidden_size": 576, "num_attention_heads": 9,
               "rope_parameters": {"rope_theta": 100000.0, "rope_type": "default"}}
    extender = create_context_extender(32768, scaling_type="ntk", model_config=smollm2)
    assert (extender.original_length, extender.factor) == (8192, 4.0)
    assert extender.rope_parameters()["rope_theta"] == pytest.approx(100000.0 * 4.0 ** (64 / 62))
    assert create_context_extender(1024, model_config=str(short_model_dir)).original_length == ORIGINAL
    # An already YaRN-extended model: the pretraining length is the recorded original.
    scaled = small_config(max_position_embeddings=256, rope_parameters={
        "rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 64, "rope_theta": THETA})
    again = create_context_extender(1024, scaling_type="linear", model_config=scaled)
    assert again.original_length == 64 and again.factor == 16.0
    assert again.rope_parameters() == {"rope_type": "linear", "factor": 16.0, "rope_theta": THETA}
    # An explicit original overrides the config.
    assert create_context_extender(1024, original_length=128, model_config=scaled).factor == 8.0


def test_legacy_config_dict_is_rewritten_without_stale_keys():
    legacy = {"max_position_embeddings": 64, "hidden_size": 64, "num_attention_heads": 4, "rope_theta": 5e5,
              "rope_scaling": None}
    extender = create_context_extender(256, scaling_type="linear", model_config=legacy)
    updated = extender.apply_to_config(dict(legacy))
    assert "rope_scaling" not in updated and "rope_theta" not in updated
    assert updated["rope_parameters"] == {"rope_type": "linear", "factor": 4.0, "rope_theta": 5e5}
    assert updated["max_position_embeddings"] == 256


def test_describe_is_json_ready():
    extender = create_context_extender(256, scaling_type="yarn", model_config=small_config())
    summary = json.loads(json.dumps(extender.describe()))
    assert summary["scaling_type"] == "yarn" and summary["factor"] == 4.0
    assert summary["original_length"] == 64 and summary["target_length"] == 256
    assert summary["rope_parameters"]["original_max_position_embeddings"] == 64
    assert summary["original_rope_theta"] == THETA


def test_lazy_import_from_package():
    from reasoning import create_context_extender as exported
    assert exported is create_context_extender


@pytest.mark.parametrize("kwargs, flag, text", [
    ({"target_length": 64, "original_length": 64}, "--target-context", "above"),
    ({"target_length": 32, "model_config": {"max_position_embeddings": 64}}, "--target-context", "above"),
    ({"target_length": 256, "original_length": 64, "scaling_type": "rope-magic"}, "--scaling-type",
     "linear, dynamic, yarn, ntk"),
    ({"target_length": 0, "original_length": 64}, "--target-context", "positive"),
    ({"target_length": -5}, "--target-context", "positive"),
    ({"target_length": 256, "original_length": 0}, "--original-context", "positive"),
    ({"target_length": 256, "original_length": 64.5}, "--original-context", "whole number"),
    ({"target_length": 256}, "--original-context", "unknown"),
])
def test_bad_input_names_the_flag(kwargs, flag, text):
    with pytest.raises(InputError) as caught:
        create_context_extender(**kwargs)
    assert caught.value.field == flag
    assert text in str(caught.value)


def test_missing_model_path_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        create_context_extender(1024, model_config=tmp_path / "no-such-model")


def test_without_model_config_the_extender_still_applies_to_a_config():
    extender = create_context_extender(256, original_length=64, scaling_type="linear")
    assert isinstance(extender, ContextExtender)
    with pytest.raises(InputError, match="model_config"):
        extender.rope_parameters()
    config = extender.apply_to_config(small_config())
    assert config.rope_parameters == {"rope_type": "linear", "factor": 4.0, "rope_theta": THETA}


@pytest.mark.parametrize("scaling_type", SCALING_TYPES)
def test_seed_snippet_scales_on_the_checkpoints_own_base(short_model_dir, tmp_path, scaling_type):
    """The guide's lines, verbatim but for the lengths: no model config before from_pretrained."""
    kwargs = create_context_extender(target_length=TARGET, original_length=ORIGINAL,
                                     scaling_type=scaling_type).get_model_kwargs()
    model = AutoModelForCausalLM.from_pretrained(short_model_dir, **kwargs)
    # THETA (100000) is the checkpoint's, not transformers' default 10000.
    assert model.config.rope_parameters == pytest.approx(expected_rope_parameters(scaling_type))
    assert model.config.max_position_embeddings == (ORIGINAL if scaling_type == "dynamic" else TARGET)
    eager = create_context_extender(TARGET, scaling_type=scaling_type, model_config=short_model_dir)
    reference = AutoModelForCausalLM.from_pretrained(short_model_dir, **eager.get_model_kwargs())
    torch.testing.assert_close(model.model.rotary_emb.inv_freq, reference.model.rotary_emb.inv_freq)
    assert model.model.rotary_emb.attention_scaling == pytest.approx(reference.model.rotary_emb.attention_scaling)

    # The same kwargs on another checkpoint use that checkpoint's base, not the first one's.
    other = tmp_path / "other-base"
    shutil.copytree(short_model_dir, other)
    config = json.loads((other / "config.json").read_text())
    config["rope_parameters"]["rope_theta"] = 500000.0
    (other / "config.json").write_text(json.dumps(config))
    other_theta = AutoConfig.from_pretrained(other, **kwargs).rope_parameters["rope_theta"]
    factor = TARGET / ORIGINAL
    assert other_theta == pytest.approx(500000.0 * (factor ** (HEAD_DIM / (HEAD_DIM - 2))
                                                    if scaling_type == "ntk" else 1.0))


def test_checkpoint_rope_that_missed_the_checkpoint_fails_loudly():
    kwargs = create_context_extender(target_length=TARGET, original_length=ORIGINAL,
                                     scaling_type="yarn").get_model_kwargs()
    with pytest.raises(KeyError, match="never applied on top of a checkpoint"):
        kwargs["rope_parameters"]["rope_theta"]


@pytest.mark.slow
def test_seed_snippet_on_the_default_model():
    """SmolLM2-135M (rope_theta 100000), the seed's exact lengths, each scaling type."""
    from reasoning.modeling.models import resolve_model

    path = resolve_model("builtin:smollm2-135m-instruct")
    theta = AutoConfig.from_pretrained(path).rope_parameters["rope_theta"]
    assert theta == 100000.0
    for scaling_type in SCALING_TYPES:
        kwargs = create_context_extender(target_length=131072, original_length=32768,
                                         scaling_type=scaling_type).get_model_kwargs()
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
        rope = model.config.rope_parameters
        if scaling_type == "ntk":
            head_dim = model.config.head_dim
            assert rope == pytest.approx({"rope_type": "default",
                                          "rope_theta": theta * 4.0 ** (head_dim / (head_dim - 2))})
        else:
            assert rope["rope_theta"] == theta and rope["rope_type"] == scaling_type and rope["factor"] == 4.0


@pytest.mark.parametrize("scaling_type", SCALING_TYPES)
def test_applying_twice_is_idempotent(scaling_type):
    # The context stage states the scaling again on the trained model's (already scaled) config.
    for extender in (create_context_extender(TARGET, scaling_type=scaling_type, model_config=small_config()),
                     create_context_extender(TARGET, original_length=ORIGINAL, scaling_type=scaling_type)):
        config = extender.apply_to_config(small_config())
        once = dict(config.rope_parameters)
        extender.apply_to_config(config)
        assert config.rope_parameters == once == pytest.approx(expected_rope_parameters(scaling_type))
