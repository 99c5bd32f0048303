"""Report blocks and plots for long-context results (``reasoning.evaluation.long_context``).

``results_by_model`` is ``{label: evaluate_long_context(...) result}``; the blocks render
with ``reasoning.evaluation.report.render_markdown`` / ``render_html`` like the main report.
"""
from __future__ import annotations

from typing import Any

from reasoning.evaluation.plots import _to_base64, plt
from reasoning.evaluation.report import Block, fmt_number, fmt_percent


def passkey_heatmap(results_by_model: dict[str, dict[str, Any]]) -> str | None:
    """One panel per model: passkey accuracy by length (rows) and needle depth (columns)."""
    panels = [(name, r) for name, r in results_by_model.items()
              if any("passkey_by_depth" in e for e in r["lengths"].values())]
    if not panels:
        return None
    figure, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels) + 1, 3.2), squeeze=False)
    for axis, (name, results) in zip(axes[0], panels, strict=True):
        lengths = [n for n, e in results["lengths"].items() if "passkey_by_depth" in e]
        depths = list(results["lengths"][lengths[0]]["passkey_by_depth"])
        grid = [[100.0 * results["lengths"][n]["passkey_by_depth"][d] for d in depths] for n in lengths]
        image = axis.imshow(grid, vmin=0, vmax=100, cmap="RdYlGn", aspect="auto")
        axis.set_xticks(range(len(depths)), depths)
        axis.set_yticks(range(len(lengths)), lengths)
        axis.set_xlabel("needle depth")
        axis.set_ylabel("context length (tokens)")
        axis.set_title(name, fontsize=9)
        for row, values in enumerate(grid):
            for col, value in enumerate(values):
                axis.text(col, row, f"{value:.0f}", ha="center", va="center", fontsize=7)
    figure.colorbar(image, ax=axes[0].tolist(), label="passkey retrieved (%)")
    return _to_base64(figure)


def long_context_curves(results_by_model: dict[str, dict[str, Any]], original_length: int | None = None) -> str:
    """Left: perplexity by position on the longest document; right: scores by context length."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4))
    for name, results in results_by_model.items():
        lengths = [int(n) for n in results["lengths"]]
        longest = results["lengths"][str(max(lengths))]
        bins = longest.get("ppl_by_position") or []
        if bins:
            left.plot([(b["start"] + b["end"]) / 2 for b in bins], [b["ppl"] for b in bins], marker=".", label=name)
        for metric, style in (("passkey", "-o"), ("variables", "--s")):
            points = [(int(n), e[metric]) for n, e in results["lengths"].items() if metric in e]
            if points:
                right.plot(*zip(*points, strict=True), style, label=f"{name} {metric}")
    if original_length:
        for axis in (left, right):
            axis.axvline(original_length, color="grey", linestyle=":", label="original window")
    left.set_yscale("log")
    left.set_xlabel("position (tokens)")
    left.set_ylabel("perplexity (log scale)")
    left.set_title("perplexity by position (longest document)", fontsize=9)
    right.set_xscale("log", base=2)
    right.set_ylim(-0.05, 1.05)
    right.set_xlabel("context length (tokens)")
    right.set_ylabel("accuracy")
    right.set_title("retrieval by context length", fontsize=9)
    for axis in (left, right):
        axis.legend(fontsize=6)
    return _to_base64(figure)


def long_context_blocks(results_by_model: dict[str, dict[str, Any]], *, original_length: int | None = None,
                        choice: dict[str, Any] | None = None, gate: dict[str, Any] | None = None) -> list[Block]:
    """Section "Long context": the gate and the choice first (why a model was or was not passed on)."""
    blocks = [Block("h2", "Long context")]
    if gate is not None:
        verdict = "PASSED" if gate["passed"] else "REFUSED"
        blocks.append(Block("p", f"**Gate {verdict}**: {gate['reason']}."
                                 + ("" if gate["passed"] else " The model is not handed to GRPO or export.")))
    if choice is not None:
        blocks.append(Block("p", f"Chosen scaling type: **{choice['chosen']}** (rule: {choice['rule']})."))
    if results_by_model:
        settings = next(iter(results_by_model.values()))["settings"]
        blocks.append(Block("p", "Passkey: a 5-digit key at each depth of shipped filler text; variables: a "
                                 f"{settings['hops']}-hop assignment chain plus a decoy chain; both count as "
                                 "retrieved when greedy decoding writes the answer. Perplexity on shipped text; "
                                 "retention = min(1, ppl of the first quarter / ppl of the last quarter); in-window ppl / "
                                 "unscaled = perplexity over the positions inside the original window, relative "
                                 "to the unscaled model's on the same document (what the scaling costs at short "
                                 "lengths). "
                                 f"{settings['trials']} probe(s) per cell, seed {settings['seed']}. Peak MB: on a CPU the process's "
                                 "peak resident memory so far (a high-water mark: lengths run in ascending order, "
                                 "models one after another), on a GPU the peak CUDA allocation at that length."
                                 + (f" The original window is {original_length} tokens." if original_length else "")))
    rows = []
    for name, results in results_by_model.items():
        for length, entry in results["lengths"].items():
            rows.append([name, length, _pct(entry, "passkey"), _pct(entry, "variables"),
                         fmt_number(entry.get("ppl")), fmt_number(entry.get("ppl_tail")),
                         fmt_number(entry.get("ppl_retention")),
                         fmt_number(entry.get("window_ppl_ratio")) if "window_ppl_ratio" in entry else "n/a",
                         f"{entry.get('peak_memory_mb', 0):.0f}", f"{entry.get('seconds', 0):.0f}"])
    blocks.append(Block("table", headers=["model", "length", "passkey", "variables", "perplexity", "last-quarter ppl", "retention",
                                          "in-window ppl / unscaled", "peak MB", "seconds"], rows=rows))
    heatmap = passkey_heatmap(results_by_model)
    if heatmap:
        blocks.append(Block("image", text="Passkey retrieval by length and depth", items=[heatmap]))
    if results_by_model:
        blocks.append(Block("image", text="Perplexity by position and retrieval by length",
                            items=[long_context_curves(results_by_model, original_length)]))
    return blocks


def _pct(entry: dict[str, Any], key: str) -> str:
    return fmt_percent(entry.get(key)) if key in entry else "n/a"
