"""Render the evaluation report as Markdown and as one self-contained HTML file.

The report is first built as a list of blocks (heading, paragraph, table, image,
completion), and both formats render the same blocks, so the Markdown and HTML
reports always show the same numbers. Plots are embedded as base64 PNG data URIs:
the report is a single file that a KFP ``HTML``/``Markdown`` artifact, a browser or a
mail attachment shows without any other file.
"""
from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from reasoning.evaluation.metrics import report_ks

RESPONSE_PREVIEW_CHARS = 1500  # long enough to show the reasoning, short enough to keep the report readable


@dataclass
class Block:
    kind: str                       # "h1" | "h2" | "h3" | "p" | "list" | "table" | "image" | "completion"
    text: str = ""
    items: list[Any] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)


def fmt_percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100.0 * value:.1f}%"


def fmt_number(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}g}" if abs(value) < 1000 else f"{value:.0f}"


def _results(metrics: dict[str, Any]) -> dict[str, Any]:
    return metrics.get("results", {})


def _dataset_names(metrics: dict[str, Any]) -> list[str]:
    names: list[str] = list(metrics.get("datasets", {}))
    for entry in _results(metrics).values():
        names += [d for d in entry["datasets"] if d not in names]
    return names


def build_blocks(metrics: dict[str, Any], samples: Sequence[dict[str, Any]], *, accuracy_png: str | None,
                 curves_png: str | None, curve_sources: dict[str, str], examples_per_dataset: int = 2) -> list[Block]:
    settings = metrics.get("settings", {})
    results = _results(metrics)
    datasets = _dataset_names(metrics)
    n = int(settings.get("samples", 1))
    blocks = [Block("h1", "Reasoning evaluation report"),
              Block("p", f"Created {metrics.get('created_at', '')} by `reasoning eval`. " + settings.get("subset", "")),
              Block("list", items=[f"{key}: {value!r}" for key, value in settings.items() if key != "subset"])]

    if metrics.get("code_sandbox"):
        blocks.append(Block("p", f"Code completions ran in the sandbox with isolation: {metrics['code_sandbox']}."))
    blocks.append(Block("h2", "Models"))
    blocks.append(Block("table", headers=["model", "reference", "stage", "sha256"],
                        rows=[[name, str(info.get("reference")), str(info.get("stage") or "n/a"),
                               str(info.get("sha256") or "n/a")[:12]]
                              for name, info in metrics.get("models", {}).items()]))
    blocks.append(Block("h2", "Datasets"))
    blocks.append(Block("table", headers=["dataset", "spec", "problems", "reasoning types"],
                        rows=[[name, str(info.get("spec")), str(info.get("rows")),
                               ", ".join(f"{t} {c}" for t, c in info.get("reasoning_types", {}).items())]
                              for name, info in metrics.get("datasets", {}).items()]))

    blocks.append(Block("h2", "Accuracy (pass@1) / format compliance"))
    blocks.append(Block("table", headers=["model", *datasets],
                        rows=[[model, *[_acc_fmt(entry["datasets"].get(d, {}).get("overall", {})) for d in datasets]]
                              for model, entry in results.items()]))
    if accuracy_png:
        blocks.append(Block("image", text="Accuracy per dataset and model", items=[accuracy_png]))

    metric_keys = ["accuracy", *[f"pass@{k}" for k in report_ks(n) if k > 1]]
    if n > 1:
        metric_keys.append("majority_accuracy")
    metric_keys += ["format_compliance", "mean_response_tokens", "mean_reward"]
    blocks.append(Block("h2", "All metrics"))
    if n > 1:
        blocks.append(Block("p", f"{n} samples per problem: pass@k is the unbiased estimator of Chen et al. (2021); "
                                 "majority_accuracy is the accuracy of the most frequent final answer "
                                 "(equivalent answers vote together)."))
    rows = []
    for model, entry in results.items():
        for dataset in datasets:
            overall = entry["datasets"].get(dataset, {}).get("overall", {})
            rows.append([model, dataset, str(overall.get("problems", 0)), *[_cell(k, overall.get(k)) for k in metric_keys]])
    blocks.append(Block("table", headers=["model", "dataset", "problems", *metric_keys], rows=rows))

    components = sorted({c for entry in results.values() for d in entry["datasets"].values()
                         for c in d.get("overall", {}).get("reward_components", {})})
    if components:
        blocks.append(Block("h2", "Mean reward components"))
        rows = [[model, dataset, *[fmt_number(entry["datasets"][dataset]["overall"].get("reward_components", {}).get(c))
                                   for c in components]]
                for model, entry in results.items() for dataset in datasets if dataset in entry["datasets"]]
        blocks.append(Block("table", headers=["model", "dataset", *components], rows=rows))

    blocks.append(Block("h2", "By reasoning type (all datasets pooled)"))
    type_keys = ["accuracy", "format_compliance", "mean_response_tokens"] + (["majority_accuracy"] if n > 1 else [])
    rows = [[model, rtype, str(scores.get("problems", 0)), *[_cell(k, scores.get(k)) for k in type_keys]]
            for model, entry in results.items() for rtype, scores in entry.get("by_reasoning_type", {}).items()]
    blocks.append(Block("table", headers=["model", "reasoning type", "problems", *type_keys], rows=rows))

    blocks.append(Block("h2", "Training curves"))
    if curves_png:
        blocks.append(Block("image", text="Training loss and reward", items=[curves_png]))
        blocks.append(Block("list", items=[f"{label}: {source}" for label, source in curve_sources.items()]))
    else:
        blocks.append(Block("p", "No training log was found for the evaluated models (a base model has none)."))

    blocks.append(Block("h2", "Sample completions"))
    blocks.append(Block("p", f"Up to {examples_per_dataset} correct and {examples_per_dataset} wrong completions "
                             "per model and dataset (first sample of the first problems in order)."))
    for dataset in datasets:
        for model in results:
            chosen = _examples(samples, model, dataset, examples_per_dataset)
            if chosen:
                blocks.append(Block("h3", f"{dataset} / {model}"))
                blocks += [Block("completion", items=[s]) for s in chosen]
    return blocks


def _acc_fmt(overall: dict[str, Any]) -> str:
    if not overall.get("problems"):
        return "n/a"
    return f"{fmt_percent(overall.get('accuracy'))} / {fmt_percent(overall.get('format_compliance'))}"


def _cell(key: str, value: Any) -> str:
    if key in ("mean_response_tokens", "mean_reward"):
        return fmt_number(value)
    return fmt_percent(value)


def _examples(samples: Sequence[dict[str, Any]], model: str, dataset: str, per_kind: int) -> list[dict[str, Any]]:
    first = [s for s in samples if s["model"] == model and s["dataset"] == dataset and s.get("sample", 0) == 0]
    right = [s for s in first if s["correct"]][:per_kind]
    wrong = [s for s in first if not s["correct"]][:per_kind]
    return right + wrong


def _problem(sample: dict[str, Any]) -> str:
    """The last user message of the sample's prompt (what the model was asked)."""
    prompt = sample.get("prompt") or []
    if isinstance(prompt, str):
        return prompt
    users = [m.get("content", "") for m in prompt if m.get("role") == "user"]
    return users[-1] if users else ""


def _preview(text: str) -> str:
    text = text or ""
    return text if len(text) <= RESPONSE_PREVIEW_CHARS else text[:RESPONSE_PREVIEW_CHARS] + " [...]"


# ------------------------------------------------------------------ Markdown

def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_fence(text: str) -> str:
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    return "`" * max(3, longest + 1)


def render_markdown(blocks: Sequence[Block]) -> str:
    out: list[str] = []
    for block in blocks:
        if block.kind in ("h1", "h2", "h3"):
            out += ["#" * int(block.kind[1]) + " " + block.text, ""]
        elif block.kind == "p":
            out += [block.text, ""]
        elif block.kind == "list":
            out += [f"- {item}" for item in block.items] + [""]
        elif block.kind == "table":
            out.append("| " + " | ".join(_md_cell(h) for h in block.headers) + " |")
            out.append("|" + "---|" * len(block.headers))
            out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
            out.append("")
        elif block.kind == "image":
            out += [f"![{block.text}](data:image/png;base64,{block.items[0]})", ""]
        elif block.kind == "completion":
            sample = block.items[0]
            verdict = "correct" if sample["correct"] else "wrong"
            out.append(f"**{sample['id']}** ({verdict}; reference `{_md_cell(sample.get('reference'))}`, "
                       f"extracted `{_md_cell(sample.get('extracted_answer'))}`, format ok: {sample['format_ok']})")
            out.append("")
            for label, text in (("prompt", _problem(sample)), ("response", sample.get("response", ""))):
                body = _preview(text)
                fence = _md_fence(body)
                out += [f"{label}:", "", fence, body, fence, ""]
    return "\n".join(out).rstrip() + "\n"


# ------------------------------------------------------------------ HTML

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f2f2f2; }
pre { background: #f7f7f7; padding: 0.6em; white-space: pre-wrap; word-break: break-word; font-size: 0.85em; }
.correct { border-left: 4px solid #2a9d3a; padding-left: 0.8em; margin-bottom: 1em; }
.wrong { border-left: 4px solid #c0392b; padding-left: 0.8em; margin-bottom: 1em; }
img { max-width: 100%; }
"""


def render_html(blocks: Sequence[Block], title: str = "Reasoning evaluation report") -> str:
    esc = html.escape
    out = ["<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
           f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>"]
    for block in blocks:
        if block.kind in ("h1", "h2", "h3"):
            out.append(f"<{block.kind}>{esc(block.text)}</{block.kind}>")
        elif block.kind == "p":
            out.append(f"<p>{esc(block.text)}</p>")
        elif block.kind == "list":
            out.append("<ul>" + "".join(f"<li>{esc(str(item))}</li>" for item in block.items) + "</ul>")
        elif block.kind == "table":
            head = "".join(f"<th>{esc(h)}</th>" for h in block.headers)
            body = "".join("<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in row) + "</tr>" for row in block.rows)
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif block.kind == "image":
            out.append(f"<p><img alt=\"{esc(block.text)}\" src=\"data:image/png;base64,{block.items[0]}\"></p>")
        elif block.kind == "completion":
            sample = block.items[0]
            verdict = "correct" if sample["correct"] else "wrong"
            out.append(f"<div class=\"{verdict}\"><p><b>{esc(str(sample['id']))}</b> ({verdict}; reference "
                       f"<code>{esc(str(sample.get('reference')))}</code>, extracted "
                       f"<code>{esc(str(sample.get('extracted_answer')))}</code>, format ok: {sample['format_ok']})</p>"
                       f"<p>prompt:</p><pre>{esc(_preview(_problem(sample)))}</pre>"
                       f"<p>response:</p><pre>{esc(_preview(sample.get('response', '')))}</pre></div>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
