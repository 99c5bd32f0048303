"""Long-context probes (exact structure), the chunked scorer (against a plain forward), the
metrics on hand-computed cases, the memory refusal, and the gate / choice rule."""
from __future__ import annotations

import math
import re

import pytest

from reasoning.errors import InputError
from reasoning.evaluation import long_context as lc


@pytest.fixture(scope="module")
def tokenizer(smollm2_tokenizer_dir):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(smollm2_tokenizer_dir)


@pytest.fixture(scope="module")
def tiny_model(tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM
    return AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()


@pytest.mark.parametrize("length", [512, 1000, 3000])
@pytest.mark.parametrize("depth", [0.0, 0.3, 0.5, 1.0])
def test_passkey_probe_has_the_requested_length_and_depth(tokenizer, length, depth):
    probe = lc.passkey_probe(tokenizer, length, depth, seed=1)
    assert len(probe.input_ids) == length
    (start, end), = probe.needle_spans
    needle = tokenizer.decode(probe.input_ids[start:end])
    assert needle.strip() == f"The pass key is {probe.answer}. Remember it. {probe.answer} is the pass key."
    intro = len(tokenizer(lc.PASSKEY_INTRO, add_special_tokens=False)["input_ids"])
    question = len(tokenizer(lc.PASSKEY_QUESTION, add_special_tokens=False)["input_ids"])
    free = length - intro - (end - start) - question
    # the needle's start as a fraction of the filler it sits in: exact to one token
    assert abs((start - intro) - depth * free) <= 0.5
    text = tokenizer.decode(probe.input_ids)
    assert text.count(probe.answer) == 2  # stated only in the needle: nothing else gives it away
    assert tokenizer.decode(probe.answer_ids).strip() == probe.answer


def test_passkey_probes_at_two_depths_share_the_filler(tokenizer):
    shallow, deep = (lc.passkey_probe(tokenizer, 800, d, seed=3) for d in (0.1, 0.9))
    (s0, e0), (s1, e1) = shallow.needle_spans[0], deep.needle_spans[0]
    without = lambda p, s, e: p.input_ids[:s] + p.input_ids[e:]  # noqa: E731
    assert shallow.answer != deep.answer or s0 != s1
    assert len(without(shallow, s0, e0)) == len(without(deep, s1, e1))
    assert s1 > s0


@pytest.mark.parametrize("hops", [2, 4, 6])
def test_variable_tracking_answer_needs_every_hop(tokenizer, hops):
    length = 2048
    probe = lc.variable_tracking_probe(tokenizer, length, hops, seed=2)
    assert len(probe.input_ids) == length
    assert len(probe.needle_spans) == hops
    text = tokenizer.decode(probe.input_ids)
    facts = [tokenizer.decode(probe.input_ids[a:b]).strip() for a, b in probe.needle_spans]
    chain = [re.match(r"VAR (\w+) =", fact).group(1) for fact in facts]
    assert facts[0] == f"VAR {chain[0]} = {probe.answer}."
    for previous, current, fact in zip(chain, chain[1:], facts[1:], strict=False):
        assert fact == f"VAR {current} = VAR {previous}."  # each hop names only its predecessor
    # The asked variable is never next to the value: only following every hop links them.
    question = text[text.rindex("Question:"):]
    assert f"VAR {chain[-1]}" in question and probe.answer not in question
    assert text.count(probe.answer) == 1
    assert all(text.count(f"VAR {name} =") == 1 for name in chain[:-1])
    # A decoy chain with another value is interleaved, so "the only number" is no shortcut.
    decoy_values = re.findall(r"VAR [A-Z]{5} = (\d{5})\.", text)
    assert len(decoy_values) == 2 and probe.answer in decoy_values
    # hops are spread over the whole context, in chain order
    starts = [a for a, _ in probe.needle_spans]
    assert starts == sorted(starts) and starts[0] < length / hops and starts[-1] > length * (hops - 1) / hops - 64


def test_lengths_too_short_or_bad_depth_name_the_flag(tokenizer):
    with pytest.raises(InputError, match="--long-context-lengths"):
        lc.passkey_probe(tokenizer, 20, 0.5, seed=0)
    with pytest.raises(InputError, match="--long-context-depths"):
        lc.passkey_probe(tokenizer, 512, 1.5, seed=0)
    with pytest.raises(InputError, match="--long-context-hops"):
        lc.variable_tracking_probe(tokenizer, 512, 1, seed=0)
    assert len(lc.perplexity_document(tokenizer, 777, seed=0)) == 777


@pytest.mark.parametrize("prefill_chunk,logits_chunk", [(64, 7), (1000, 512)])
def test_chunked_scoring_equals_one_full_forward(tiny_model, tokenizer, prefill_chunk, logits_chunk):
    import torch
    ids = lc.perplexity_document(tokenizer, 300, seed=0)
    nll, hits = lc.score_positions(tiny_model, ids, prefill_chunk=prefill_chunk, logits_chunk=logits_chunk)
    with torch.no_grad():
        logits = tiny_model(torch.tensor([ids])).logits[0, :-1]
    target = torch.tensor(ids[1:])
    expected = torch.nn.functional.cross_entropy(logits, target, reduction="none")
    assert torch.allclose(torch.tensor(nll), expected, atol=1e-4)
    assert hits == (logits.argmax(-1) == target).tolist()
    some, _ = lc.score_positions(tiny_model, ids, [5, 299, 100], prefill_chunk=prefill_chunk)
    assert some == pytest.approx([nll[4], nll[298], nll[99]], abs=1e-5)


def test_retrieved_means_greedy_decoding_writes_the_answer(tiny_model, tokenizer):
    import torch
    probe = lc.passkey_probe(tokenizer, 300, 0.5, seed=0)
    # Make the probe's answer the model's own greedy continuation: then it must count as retrieved,
    # and any other answer must not.
    with torch.no_grad():
        greedy = tiny_model.generate(torch.tensor([probe.input_ids]), max_new_tokens=3, do_sample=False)
    own = greedy[0, len(probe.input_ids):].tolist()
    probe.answer_ids = own
    assert lc.score_probe(tiny_model, probe, prefill_chunk=128)["retrieved"]
    probe.answer_ids = own[:2] + [(own[2] + 1) % tiny_model.config.vocab_size]
    assert not lc.score_probe(tiny_model, probe, prefill_chunk=128)["retrieved"]


def test_position_bins_and_retention_on_hand_computed_losses():
    nll = [1.0, 1.0, 3.0, 3.0, 2.0]
    bins = lc.position_bins(nll, 2)
    assert [(b["start"], b["end"]) for b in bins] == [(1, 2), (3, 4), (5, 5)]
    assert [b["nll"] for b in bins] == [1.0, 3.0, 2.0]
    assert bins[1]["ppl"] == pytest.approx(math.exp(3.0))
    # quarter = 2 positions: head mean 1.0, tail mean 2.5 -> exp(-1.5)
    assert lc.ppl_retention([1.0, 1.0, 0.0, 0.0, 3.0, 3.0, 2.0, 3.0]) == pytest.approx(math.exp(-1.5))
    assert lc.ppl_retention([3.0, 3.0, 1.0, 1.0]) == 1.0  # far positions easier: capped at 1


def _results(**by_length):
    return {"lengths": {str(length): entry for length, entry in by_length.items()}}


def test_gate_passes_and_refuses_with_the_reason():
    results = {"lengths": {"8192": {"passkey": 1.0, "ppl_retention": 0.9},
                           "32768": {"passkey": 0.2, "ppl_retention": 0.05}}}
    ok = lc.gate_decision(results, length=8192, metric="passkey", threshold=0.6)
    assert ok["passed"] and ok["score"] == 1.0
    bad = lc.gate_decision(results, length=32768, metric="ppl_retention", threshold=0.5)
    assert not bad["passed"] and "ppl_retention at 32768 tokens is 0.050" in bad["reason"]
    missing = lc.gate_decision(results, length=32768, metric="variables", threshold=0.0)
    assert not missing["passed"] and "not measured" in missing["reason"]
    with pytest.raises(InputError, match="--gate-metric"):
        lc.gate_decision(results, length=8192, metric="accuracy", threshold=0.5)


def test_choose_best_follows_the_stated_rule():
    def r(passkey, tail, retention=0.9):
        return {"lengths": {"4096": {"passkey": passkey, "ppl_tail": tail, "ppl_retention": retention}}}
    assert lc.choose_best({"a": r(0.0, 5.0), "b": r(1.0, 9.0)}, length=4096, metric="passkey") == "b"
    assert lc.choose_best({"a": r(1.0, 9.0), "b": r(1.0, 5.0)}, length=4096, metric="passkey") == "b"  # tail breaks ties
    assert lc.choose_best({"a": r(1.0, 5.0), "b": r(1.0, 5.0)}, length=4096, metric="passkey") == "a"  # then order
    # Measured case: linear scaling is uniformly bad (retention 1.0, ppl 36) and must lose to a
    # type that keeps perplexity low (retention 0.9, ppl 4.8).
    linear, yarn = r(0.0, 36.0, retention=1.0), r(0.0, 4.8, retention=0.9)
    assert lc.choose_best({"linear": linear, "yarn": yarn}, length=4096, metric="ppl_retention") == "yarn"


def _curve(*bins):
    """A perplexity curve from (start, end, nll) bins."""
    return [{"start": a, "end": b, "nll": nll, "ppl": math.exp(nll)} for a, b, nll in bins]


def test_window_perplexity_weights_the_bins_inside_the_window_by_their_tokens():
    results = {"lengths": {"12": {"ppl_by_position": _curve((1, 4, 1.0), (5, 6, 4.0), (7, 12, 9.0))}}}
    # window 8: the bins ending by position 8 only, by token count: (4 * 1 + 2 * 4) / 6 = 2
    assert lc.window_ppl(results, 12, 8) == pytest.approx(math.exp(2.0))
    assert lc.window_ppl(results, 12, 3) is None  # no bin lies wholly inside
    assert lc.window_ppl(results, 99, 8) is None  # length not measured


def test_window_ratios_compare_each_model_with_the_unscaled_one_on_its_own_window():
    by_model = {"unscaled": {"lengths": {"12": {"ppl_by_position": _curve((1, 4, 1.0), (5, 8, 1.0), (9, 12, 5.0))}}},
                "yarn": {"lengths": {"12": {"ppl_by_position": _curve((1, 4, 1.5), (5, 8, 1.5), (9, 12, 1.0))}}},
                "curve-less": {"lengths": {"12": {"passkey": 0.0}}}}
    lc.add_window_ratios(by_model, baseline="unscaled", length=12, window=8)
    assert by_model["unscaled"]["lengths"]["12"]["window_ppl_ratio"] == pytest.approx(1.0)
    assert by_model["yarn"]["lengths"]["12"]["window_ppl_ratio"] == pytest.approx(math.exp(0.5))
    assert "window_ppl_ratio" not in by_model["curve-less"]["lengths"]["12"]


def test_gate_with_a_window_limit_refuses_a_model_that_lost_its_short_context():
    # Measured shape: NTK holds the far positions (retention 1.0) at 1.075x in-window perplexity.
    ntk = {"lengths": {"12288": {"ppl_retention": 1.0, "window_ppl_ratio": 1.075}}}
    plain = lc.gate_decision(ntk, length=12288, metric="ppl_retention", threshold=0.5)
    assert plain["passed"] and "window" not in plain["reason"]
    refused = lc.gate_decision(ntk, length=12288, metric="ppl_retention", threshold=0.5, max_window_ratio=1.05)
    assert not refused["passed"] and refused["window_ppl_ratio"] == 1.075
    assert "inside the original window is 1.075x the unscaled model's, above the limit 1.05" in refused["reason"]
    kept = lc.gate_decision(ntk, length=12288, metric="ppl_retention", threshold=0.5, max_window_ratio=1.1)
    assert kept["passed"] and "within the limit 1.1" in kept["reason"]
    # the score still rules: within the window limit but below the threshold is refused
    low = lc.gate_decision(ntk, length=12288, metric="ppl_retention", threshold=1.5, max_window_ratio=1.1)
    assert not low["passed"]
    unmeasured = lc.gate_decision({"lengths": {"12288": {"ppl_retention": 1.0}}}, length=12288,
                                  metric="ppl_retention", threshold=0.5, max_window_ratio=1.05)
    assert not unmeasured["passed"] and "not measured" in unmeasured["reason"]


def test_choose_best_puts_types_within_the_window_limit_first():
    def r(tail, ratio):
        return {"lengths": {"4096": {"ppl_tail": tail, "ppl_retention": 1.0, "window_ppl_ratio": ratio, "passkey": 0.0}}}
    types = {"ntk": r(5.4, 1.075), "yarn": r(5.6, 1.14), "dynamic": r(900.0, 1.0)}
    assert lc.choose_best(types, length=4096, metric="ppl_retention") == "ntk"  # no limit: lowest tail
    assert lc.choose_best(types, length=4096, metric="ppl_retention", max_window_ratio=1.1) == "ntk"
    assert lc.choose_best(types, length=4096, metric="ppl_retention", max_window_ratio=1.05) == "dynamic"
    assert lc.choose_best(types, length=4096, metric="passkey", max_window_ratio=1.05) == "dynamic"
    # none within: the rule as without a limit (the gate then refuses)
    assert lc.choose_best({"ntk": types["ntk"], "yarn": types["yarn"]}, length=4096, metric="ppl_retention",
                          max_window_ratio=1.01) == "ntk"


def test_memory_estimate_refuses_lengths_beyond_the_limit(tiny_model):
    settings = lc.LongContextSettings(lengths=[1024, 4096]).validate()
    small = lc.estimate_memory_bytes(tiny_model.config, 1024)
    large = lc.estimate_memory_bytes(tiny_model.config, 4096)
    assert large > small
    # The KV cache grows with the whole length, not the chunk: 16K more tokens need at least their K and V.
    smollm2 = {"hidden_size": 576, "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3,
               "head_dim": 64, "intermediate_size": 1536, "vocab_size": 49152}
    kv_per_token = 30 * 2 * 3 * 64 * 4  # layers x (K, V) x kv heads x head_dim x fp32 bytes
    grow = lc.estimate_memory_bytes(smollm2, 32768) - lc.estimate_memory_bytes(smollm2, 16384)
    assert grow >= 16384 * kv_per_token
    lc.check_memory(tiny_model.config, settings, limit_bytes=large + 1)
    with pytest.raises(InputError, match="--long-context-lengths.*4096"):
        lc.check_memory(tiny_model.config, settings, limit_bytes=(small + large) // 2)


def test_settings_validation_names_the_flag():
    with pytest.raises(InputError, match="--long-context-lengths"):
        lc.LongContextSettings(lengths=[]).validate()
    with pytest.raises(InputError, match="--long-context-depths"):
        lc.LongContextSettings(depths=[0.5, 2.0]).validate()
    with pytest.raises(InputError, match="--long-context-tasks"):
        lc.LongContextSettings(tasks=["summaries"]).validate()
    assert lc.LongContextSettings(lengths=[4096, 1024, 4096]).validate().lengths == [1024, 4096]


def test_suite_on_the_tiny_model_reports_every_length(tiny_model, tokenizer):
    settings = lc.LongContextSettings(lengths=[512, 256], depths=[0.0, 1.0], hops=2, bin_size=128,
                                      prefill_chunk=200)
    results = lc.evaluate_long_context(tiny_model, tokenizer, settings)
    assert list(results["lengths"]) == ["256", "512"]
    entry = results["lengths"]["512"]
    assert set(entry["passkey_by_depth"]) == {"0", "1"}
    assert 0 <= entry["passkey"] <= 1 and 0 <= entry["variables"] <= 1
    assert [b["end"] for b in entry["ppl_by_position"]] == [128, 256, 384, 511]
    assert entry["peak_memory_mb"] > 0 and 0 < entry["ppl_retention"] <= 1


def test_eval_stage_adds_the_long_context_section(tiny_model_dir, tmp_path):
    import json

    from reasoning.stages.eval import main
    out = tmp_path / "eval"
    code = main(["--model", f"tiny={tiny_model_dir}", "--datasets", "synthetic-test", "--limit", "1",
                 "--max-new-tokens", "4", "--output", str(out), "--long-context-lengths", "300",
                 "--long-context-depths", "0,1"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["long_context"]["tiny"]["lengths"]["300"]["passkey_by_depth"]) == {"0", "1"}
    report = (out / "report.md").read_text()
    assert "## Long context" in report and "Passkey retrieval by length and depth" in report


def test_eval_stage_refuses_long_context_lengths_before_loading(tiny_model_dir, tmp_path, capsys):
    from reasoning.stages.eval import main
    assert main(["--model", str(tiny_model_dir), "--output", str(tmp_path / "e"),
                 "--long-context-lengths", "100"]) == 2
    assert "--long-context-lengths" in capsys.readouterr().err
