"""Long-context evaluation: does a (context-extended) model use what lies far back?

Three probes, generated on the fly from the shipped evaluation sets (no download), each at a
list of context lengths in tokens:

- **passkey** (needle in a haystack, Mohtashami & Jaggi 2023; RULER's NIAH): a 5-digit key
  is stated once at a chosen *depth* of filler text; the prompt ends with the question.
- **variables** (RULER's variable tracking): ``VAR A = 12345.`` then ``VAR B = VAR A.``
  ... spread evenly through the filler, with a distractor chain holding another value; the
  question asks for the last variable, so the answer needs every hop.
- **perplexity by position** on a long document (shipped GSM8K/MATH-500/FOLIO text
  concatenated): mean loss per position bin; a model that cannot place far positions
  collapses past its window (loss jumps), one that can keeps it flat or falling.

Prompts are plain text, not the chat template (a retrieval test should not depend on how a
135M model follows instructions), and are built from token ids: each segment is tokenized
alone and the ids are concatenated, so lengths are exact and the needle sits at exactly the
requested token position.

Scoring is one teacher-forced forward pass over prompt + answer: a probe counts as
retrieved when the argmax at every answer position is the answer token, which is exactly
when greedy decoding would write the answer. Memory stays bounded on a CPU: the sequence
goes through the model in chunks of ``prefill_chunk`` tokens with a KV cache (attention
scores are chunk x length, never length x length), batch size 1, and logits are computed
only for the positions scored, ``logits_chunk`` rows at a time (no length x vocabulary
tensor). Note for ``dynamic`` RoPE: with a cache, transformers grows the base as the
prefill passes the original window, exactly as it does while generating.
"""
from __future__ import annotations

import gzip
import json
import math
import random
import re
import resource
import string
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources as importlib_resources
from typing import Any

from reasoning.errors import InputError

TASKS = ("passkey", "variables", "perplexity")
DEFAULT_LENGTHS = (2048, 4096, 8192, 16384, 32768)
DEFAULT_DEPTHS = (0.0, 0.25, 0.5, 0.75, 1.0)
GATE_METRICS = ("passkey", "variables", "ppl_retention")
GATE_METRIC_TASK = {"passkey": "passkey", "variables": "variables", "ppl_retention": "perplexity"}
# Shipped evaluation sets used as filler: (file, text fields in order).
_FILLER_SOURCES = (("gsm8k/test.jsonl.gz", ("question", "answer")),
                   ("math500/test.jsonl.gz", ("problem", "solution")),
                   ("folio/validation.jsonl.gz", ("premises", "conclusion")))
_CALCULATOR = re.compile(r"<<[^>]*>>")  # GSM8K's calculator annotations are not prose

PASSKEY_INTRO = "There is a pass key hidden inside a lot of irrelevant text. Find it and memorize it.\n\n"
PASSKEY_QUESTION = "\n\nWhat is the pass key? The pass key is"
VARIABLES_INTRO = "Memorize the variable assignments hidden in the following text.\n\n"


# ---------------------------------------------------------------- filler text

def _filler_rows() -> list[str]:
    texts = []
    root = importlib_resources.files("reasoning.data") / "evalsets"
    for name, keys in _FILLER_SOURCES:
        with gzip.open(root.joinpath(name).open("rb"), "rt", encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                parts = [" ".join(v) if isinstance(v, list) else str(v) for k in keys if (v := row.get(k))]
                texts.append(_CALCULATOR.sub("", "\n".join(parts)).strip())
    return [t for t in texts if t]


_ROWS: list[str] | None = None


def filler_ids(tokenizer, n_tokens: int, seed: int) -> list[int]:
    """Exactly ``n_tokens`` ids of shipped text: rows shuffled by ``seed``, each tokenized alone."""
    global _ROWS
    if n_tokens <= 0:
        return []
    if _ROWS is None:
        _ROWS = _filler_rows()
    order = list(range(len(_ROWS)))
    random.Random(seed).shuffle(order)
    ids: list[int] = []
    index = 0
    while len(ids) < n_tokens:  # cycles through the rows again for very long contexts
        ids += _encode(tokenizer, _ROWS[order[index % len(order)]] + "\n\n")
        index += 1
    return ids[:n_tokens]


def _encode(tokenizer, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


# ---------------------------------------------------------------- probes

@dataclass
class Probe:
    """One prompt of exactly ``length`` tokens; ``answer_ids`` follow it when scoring."""

    task: str
    length: int
    depth: float | None
    input_ids: list[int]
    answer: str
    answer_ids: list[int]
    needle_spans: list[tuple[int, int]] = field(default_factory=list)  # [start, end) token spans of the facts

    def describe(self) -> dict[str, Any]:
        return {"task": self.task, "length": self.length, "depth": self.depth, "answer": self.answer,
                "needle_spans": self.needle_spans}


def passkey_probe(tokenizer, length: int, depth: float, seed: int) -> Probe:
    """A 5-digit key stated at ``depth`` (0 = right after the intro, 1 = right before the question)."""
    if not 0.0 <= depth <= 1.0:
        raise InputError(f"depth must be in [0, 1], got {depth}", field="--long-context-depths")
    rng = random.Random(f"passkey-{seed}-{length}-{depth}")
    key = str(rng.randint(10000, 99999))
    intro, question = _encode(tokenizer, PASSKEY_INTRO), _encode(tokenizer, PASSKEY_QUESTION)
    needle = _encode(tokenizer, f"\nThe pass key is {key}. Remember it. {key} is the pass key.\n")
    free = length - len(intro) - len(needle) - len(question)
    if free < 0:
        raise InputError(f"length {length} is too short for a passkey probe ({length - free} tokens)",
                         field="--long-context-lengths")
    filler = filler_ids(tokenizer, free, seed)
    cut = round(depth * free)
    start = len(intro) + cut
    ids = intro + filler[:cut] + needle + filler[cut:] + question
    return Probe("passkey", length, depth, ids, key, _encode(tokenizer, f" {key}"),
                 [(start, start + len(needle))])


def _names(rng: random.Random, count: int) -> list[str]:
    names: set[str] = set()
    while len(names) < count:
        names.add("".join(rng.choice(string.ascii_uppercase) for _ in range(5)))
    return sorted(names, key=lambda _: rng.random())


def variable_tracking_probe(tokenizer, length: int, hops: int, seed: int) -> Probe:
    """A chain of ``hops`` assignments (the value, then hops-1 copies) and a distractor chain,
    spread evenly through filler; the question asks for the chain's last variable."""
    if hops < 2:
        raise InputError(f"variable tracking needs at least 2 hops, got {hops}", field="--long-context-hops")
    rng = random.Random(f"variables-{seed}-{length}-{hops}")
    value, other = rng.sample(range(10000, 100000), 2)
    names = _names(rng, 2 * hops)
    chain, decoy = names[:hops], names[hops:]

    def statements(chain_names: list[str], number: int) -> list[str]:
        first = [f"\nVAR {chain_names[0]} = {number}.\n"]
        return first + [f"\nVAR {b} = VAR {a}.\n" for a, b in zip(chain_names, chain_names[1:], strict=False)]

    facts = [_encode(tokenizer, s) for s in statements(chain, value)]
    decoys = [_encode(tokenizer, s) for s in statements(decoy, other)]
    intro = _encode(tokenizer, VARIABLES_INTRO)
    question = _encode(tokenizer, f"\n\nQuestion: what is the value of VAR {chain[-1]}? Answer: VAR {chain[-1]} =")
    inserted = facts + decoys
    free = length - len(intro) - sum(map(len, inserted)) - len(question)
    if free < 0:
        raise InputError(f"length {length} is too short for {hops}-hop variable tracking",
                         field="--long-context-lengths")
    filler = filler_ids(tokenizer, free, seed)
    # Chain hop i at depth (i + 0.25) / hops, its decoy twin at (i + 0.75) / hops: the hops
    # cover the whole context and the two chains interleave, so no span holds a whole chain.
    cuts = sorted([(round((i + 0.25) / hops * free), i) for i in range(hops)]
                  + [(round((i + 0.75) / hops * free), hops + i) for i in range(hops)])
    ids, spans, previous = list(intro), [], 0
    for cut, which in cuts:
        ids += filler[previous:cut]
        if which < hops:
            spans.append((len(ids), len(ids) + len(inserted[which])))
        ids += inserted[which]
        previous = cut
    ids += filler[previous:] + question
    return Probe("variables", length, None, ids, str(value), _encode(tokenizer, f" {value}"), spans)


def perplexity_document(tokenizer, length: int, seed: int) -> list[int]:
    """``length`` ids of shipped text (a different shuffle from the probes' filler)."""
    return filler_ids(tokenizer, length, seed + 7919)


# ---------------------------------------------------------------- scoring

def score_positions(model, ids: Sequence[int], positions: Sequence[int] | None = None, *,
                    prefill_chunk: int = 2048, logits_chunk: int = 512) -> tuple[list[float], list[bool]]:
    """Loss and argmax hit of the token at each position ``p`` (``p >= 1``) given ``ids[:p]``.

    ``positions`` default to all of 1..len-1. Returns ``(nll, hit)`` in the order given.
    """
    import torch
    from transformers import DynamicCache

    n = len(ids)
    positions = list(range(1, n)) if positions is None else list(positions)
    if any(p < 1 or p >= n for p in positions):
        raise ValueError(f"positions must lie in [1, {n - 1}]")
    wanted = sorted({p - 1 for p in positions})  # hidden state at p-1 predicts token p
    device = next(model.parameters()).device
    decoder, head = model.get_decoder(), model.get_output_embeddings()
    tokens = torch.tensor([list(ids)], device=device)
    cache = DynamicCache(config=model.config)
    nll: dict[int, float] = {}
    hit: dict[int, bool] = {}
    with torch.inference_mode():
        for start in range(0, n, prefill_chunk):
            end = min(n, start + prefill_chunk)
            local = [w for w in wanted if start <= w < end]
            out = decoder(input_ids=tokens[:, start:end], past_key_values=cache, use_cache=True,
                          cache_position=torch.arange(start, end, device=device))
            if not local:
                continue
            hidden = out.last_hidden_state[0]
            for offset in range(0, len(local), logits_chunk):
                rows = local[offset: offset + logits_chunk]
                logits = head(hidden[torch.tensor(rows, device=device) - start]).float()
                targets = tokens[0, torch.tensor(rows, device=device) + 1]
                losses = torch.nn.functional.cross_entropy(logits, targets, reduction="none")
                hits = logits.argmax(-1) == targets
                for row, loss, ok in zip(rows, losses.tolist(), hits.tolist(), strict=True):
                    nll[row + 1], hit[row + 1] = loss, bool(ok)
    return [nll[p] for p in positions], [hit[p] for p in positions]


def score_probe(model, probe: Probe, **chunks: int) -> dict[str, Any]:
    """Teacher-forced answer: retrieved = greedy decoding would write every answer token."""
    ids = probe.input_ids + probe.answer_ids
    positions = list(range(len(probe.input_ids), len(ids)))
    nll, hits = score_positions(model, ids, positions, **chunks)
    return {"retrieved": all(hits), "answer_nll": sum(nll) / len(nll)}


def position_bins(nll: Sequence[float], bin_size: int) -> list[dict[str, float]]:
    """Mean loss and perplexity per bin of ``bin_size`` predicted positions (position 1 first)."""
    bins = []
    for start in range(0, len(nll), bin_size):
        chunk = nll[start: start + bin_size]
        mean = sum(chunk) / len(chunk)
        bins.append({"start": start + 1, "end": start + len(chunk), "nll": mean, "ppl": math.exp(mean)})
    return bins


def ppl_retention(nll: Sequence[float]) -> float:
    """min(1, ppl of the first quarter of positions / ppl of the last quarter), in (0, 1].

    1 when far positions are predicted at least as well as near ones (more context helps);
    a model that collapses past its window scores near 0. Scale-free, so comparable
    across models and lengths."""
    quarter = max(1, len(nll) // 4)
    head, tail = nll[:quarter], nll[-quarter:]
    return min(1.0, math.exp(sum(head) / len(head) - sum(tail) / len(tail)))


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far (CPU) or peak CUDA allocation since the last reset."""
    import torch
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def estimate_memory_bytes(model_config: Any, length: int, *, prefill_chunk: int = 2048, logits_chunk: int = 512,
                          dtype_bytes: int = 4) -> int:
    """Upper estimate of the memory one scoring pass at ``length`` needs (weights included).

    weights + KV cache (layers x 2 x kv_heads x head_dim x length) + one chunk's attention
    scores in the worst (math) SDPA path (heads x chunk x length) and its mask + the hidden
    states of all positions + a logits chunk with its softmax copies."""
    def get(key: str, default: int = 0) -> int:
        value = model_config.get(key) if isinstance(model_config, dict) else getattr(model_config, key, None)
        return int(value or default)

    hidden, layers = get("hidden_size"), get("num_hidden_layers")
    heads = get("num_attention_heads", 1)
    kv_heads, head_dim = get("num_key_value_heads", heads), get("head_dim", hidden // max(1, heads))
    vocab, inter = get("vocab_size"), get("intermediate_size", 4 * hidden)
    params = layers * (4 * hidden * hidden + 3 * hidden * inter) + vocab * hidden
    chunk = min(prefill_chunk, length)
    total = params + layers * 2 * kv_heads * head_dim * length + heads * chunk * length * 2
    total += length * hidden * 2 + chunk * (inter * 3 + hidden * 8) + 3 * logits_chunk * vocab
    return int(total * dtype_bytes)


# ---------------------------------------------------------------- the suite

@dataclass
class LongContextSettings:
    lengths: list[int] = field(default_factory=lambda: list(DEFAULT_LENGTHS))
    depths: list[float] = field(default_factory=lambda: list(DEFAULT_DEPTHS))
    tasks: list[str] = field(default_factory=lambda: list(TASKS))
    trials: int = 1          # probes per (length, depth) cell, each with its own key and filler
    hops: int = 4            # variable-tracking chain length
    bin_size: int = 1024     # perplexity-by-position bin width in tokens
    prefill_chunk: int = 2048
    logits_chunk: int = 512
    seed: int = 0

    def validate(self) -> LongContextSettings:
        """Cheap checks naming the flag; lengths sorted ascending (peak memory grows with length)."""
        if not self.lengths:
            raise InputError("at least one length is required", field="--long-context-lengths")
        if any(int(n) < 256 for n in self.lengths):
            raise InputError(f"lengths must be >= 256 tokens, got {self.lengths}", field="--long-context-lengths")
        self.lengths = sorted({int(n) for n in self.lengths})
        if not self.depths or any(not 0 <= d <= 1 for d in self.depths):
            raise InputError(f"depths must be fractions in [0, 1], got {self.depths}", field="--long-context-depths")
        unknown = [t for t in self.tasks if t not in TASKS]
        if unknown or not self.tasks:
            raise InputError(f"unknown tasks {unknown}; known: {', '.join(TASKS)}", field="--long-context-tasks")
        for name in ("trials", "bin_size", "prefill_chunk", "logits_chunk"):
            if getattr(self, name) < 1:
                raise InputError(f"must be >= 1, got {getattr(self, name)}", field=f"--long-context-{name}")
        if self.hops < 2:
            raise InputError(f"must be >= 2, got {self.hops}", field="--long-context-hops")
        return self


def check_memory(model_config: Any, settings: LongContextSettings, limit_bytes: int | None = None) -> None:
    """Refuse lengths whose estimated need exceeds ``limit_bytes`` (default: 90% of available memory)."""
    if limit_bytes is None:
        import psutil
        limit_bytes = int(0.9 * psutil.virtual_memory().available)
    for length in settings.lengths:
        need = estimate_memory_bytes(model_config, length, prefill_chunk=settings.prefill_chunk,
                                     logits_chunk=settings.logits_chunk)
        if need > limit_bytes:
            raise InputError(f"length {length} needs about {need / 2**30:.1f} GiB, more than the "
                             f"{limit_bytes / 2**30:.1f} GiB available; lower it or --long-context-prefill-chunk",
                             field="--long-context-lengths")


def evaluate_long_context(model, tokenizer, settings: LongContextSettings, log=None) -> dict[str, Any]:
    """Run the suite at every length; returns ``{"settings", "lengths": {str(length): results}}``."""
    import torch
    settings.validate()
    chunks = {"prefill_chunk": settings.prefill_chunk, "logits_chunk": settings.logits_chunk}
    results: dict[str, Any] = {}
    for length in settings.lengths:
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        started = time.monotonic()
        entry: dict[str, Any] = {}
        if "passkey" in settings.tasks:
            by_depth = {}
            for depth in settings.depths:
                scores = [score_probe(model, passkey_probe(tokenizer, length, depth, settings.seed + t), **chunks)
                          for t in range(settings.trials)]
                by_depth[f"{depth:g}"] = sum(s["retrieved"] for s in scores) / len(scores)
            entry["passkey_by_depth"] = by_depth
            entry["passkey"] = sum(by_depth.values()) / len(by_depth)
        if "variables" in settings.tasks:
            scores = [score_probe(model, variable_tracking_probe(tokenizer, length, settings.hops,
                                                                 settings.seed + t), **chunks)
                      for t in range(settings.trials)]
            entry["variables"] = sum(s["retrieved"] for s in scores) / len(scores)
        if "perplexity" in settings.tasks:
            nll, _ = score_positions(model, perplexity_document(tokenizer, length, settings.seed), **chunks)
            entry["ppl"] = math.exp(sum(nll) / len(nll))
            entry["ppl_retention"] = ppl_retention(nll)
            entry["ppl_tail"] = math.exp(sum(nll[-max(1, len(nll) // 4):]) / max(1, len(nll) // 4))
            entry["ppl_by_position"] = position_bins(nll, settings.bin_size)
        entry["seconds"] = round(time.monotonic() - started, 2)
        entry["peak_memory_mb"] = round(peak_memory_mb(), 1)
        results[str(length)] = entry
        if log:
            log.info("long context %d: %s", length, {k: v for k, v in entry.items()
                                                     if k not in ("ppl_by_position", "passkey_by_depth")})
    return {"settings": asdict(settings), "lengths": results}


# ---------------------------------------------------------------- gate and choice

class GateFailed(RuntimeError):
    """The long-context score at the gate length is below the threshold."""

    def __init__(self, decision: dict[str, Any]):
        self.decision = decision
        super().__init__(decision["reason"])


def gate_score(results: dict[str, Any], length: int, metric: str) -> float | None:
    entry = results["lengths"].get(str(length), {})
    value = entry.get(metric)
    return None if value is None else float(value)


def gate_decision(results: dict[str, Any], *, length: int, metric: str, threshold: float,
                  max_window_ratio: float = 0.0) -> dict[str, Any]:
    """``{"passed", "score", "threshold", "metric", "length", "reason"}`` for one model's results.

    With ``max_window_ratio`` the model must also keep its perplexity inside the original window
    within that multiple of the unscaled model's (``window_ppl_ratio``, see ``add_window_ratios``)."""
    if metric not in GATE_METRICS:
        raise InputError(f"unknown gate metric {metric!r}; known: {', '.join(GATE_METRICS)}", field="--gate-metric")
    score = gate_score(results, length, metric)
    if score is None:
        passed, reason = False, f"{metric} was not measured at {length} tokens"
    else:
        passed = score >= threshold
        verb = "meets" if passed else "is below"
        reason = f"{metric} at {length} tokens is {score:.3f}, which {verb} the threshold {threshold:g}"
    decision = {"passed": passed, "score": score, "threshold": threshold, "metric": metric, "length": length}
    if max_window_ratio:
        ratio = gate_score(results, length, "window_ppl_ratio")
        decision.update({"window_ppl_ratio": ratio, "max_window_ppl_ratio": max_window_ratio})
        if ratio is None:
            decision["passed"], reason = False, f"{reason}; its perplexity inside the original window was not measured"
        elif ratio > max_window_ratio:
            decision["passed"] = False
            reason = (f"{reason}; but its perplexity inside the original window is {ratio:.3f}x the unscaled "
                      f"model's, above the limit {max_window_ratio:g} (the scaling costs what the model does at "
                      f"short lengths: fine-tune it on long rows, or choose another type)")
        else:
            reason = (f"{reason}; its perplexity inside the original window is {ratio:.3f}x the unscaled "
                      f"model's, within the limit {max_window_ratio:g}")
    decision["reason"] = reason
    return decision


def window_ppl(results: dict[str, Any], length: int, window: int) -> float | None:
    """Perplexity over the ``length``-token document's positions inside the original ``window``
    (the position bins that end within it), or None without a perplexity curve there."""
    bins = results["lengths"].get(str(length), {}).get("ppl_by_position") or []
    inside = [(b["end"] - b["start"] + 1, b["nll"]) for b in bins if b["end"] <= window]
    if not inside:
        return None
    return math.exp(sum(count * nll for count, nll in inside) / sum(count for count, _ in inside))


def add_window_ratios(results_by_model: dict[str, dict[str, Any]], *, baseline: str, length: int,
                      window: int) -> None:
    """Give every model's entry at ``length`` its ``window_ppl`` and ``window_ppl_ratio``: perplexity
    inside the original window over the unscaled ``baseline``'s on the same document.

    Why: a scaling type can hold perplexity past the window and still cost what the model does
    inside it (measured: NTK and YaRN by 4 on the SFT model, 1.08x and 1.14x in-window perplexity,
    lost 25 and 31 points on the held-out arithmetic; README "Context extension")."""
    reference = window_ppl(results_by_model[baseline], length, window)
    for results in results_by_model.values():
        own = window_ppl(results, length, window)
        entry = results["lengths"].get(str(length))
        if own is not None and reference and entry is not None:
            entry["window_ppl"] = own
            entry["window_ppl_ratio"] = own / reference


CHOICE_RULE = ("passkey or variables: the highest accuracy at the gate length, ties broken by the lower "
               "ppl_tail (perplexity over the last quarter of the gate-length document), then the order given; "
               "ppl_retention: the lowest ppl_tail, then the order given (retention alone would favour a model "
               "that is equally bad at every position, as linear scaling without fine-tuning is); with a window limit "
               "(--gate-max-window-ppl-ratio), the types within it first")


def choose_best(results_by_type: dict[str, dict[str, Any]], *, length: int, metric: str,
                max_window_ratio: float = 0.0) -> str:
    """The scaling type to keep, by ``CHOICE_RULE``."""
    order = list(results_by_type)

    def key(name: str) -> tuple:
        results = results_by_type[name]
        tail = gate_score(results, length, "ppl_tail")
        tail = math.inf if tail is None else tail
        ratio = gate_score(results, length, "window_ppl_ratio")
        outside_limit = bool(max_window_ratio) and (ratio is None or ratio > max_window_ratio)
        if metric == "ppl_retention":
            return (outside_limit, tail, order.index(name))
        score = gate_score(results, length, metric)
        return (outside_limit, -(score if score is not None else -1.0), tail, order.index(name))

    return min(order, key=key)
