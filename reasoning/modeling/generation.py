"""Batched chat generation shared by teacher sampling, evaluation and benchmarks.

Why left padding: decoder-only models continue from the last position, so prompts of
different lengths in one batch must be aligned on the right. Prompts are sorted by
length before batching so a batch pads as little as possible, and results are put
back in the caller's order.
"""
from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reasoning.schema import THINK_CLOSE, THINK_OPEN

Messages = list[dict[str, str]]


@dataclass
class SamplingSettings:
    max_new_tokens: int = 256
    temperature: float = 0.0          # 0 means greedy
    top_p: float = 1.0
    num_samples: int = 1              # completions per prompt
    batch_size: int = 16              # prompts per forward batch
    seed: int = 0
    stop_at_answer: bool = False      # end a completion once its final-answer line is complete


# A final-answer statement ("The answer is 42." / "Answer: 7" / "\\boxed{x}") that has ended: a sentence
# end followed by whitespace, or a newline. The period alone is not enough: "3." may become "3.5".
_ANSWER_DONE = re.compile(r"(?:answer\s*(?:is|:|=)[^\n]*?\S|\\boxed\{[^{}]*\}[^\n]*?)(?:\.\s|\n)", re.IGNORECASE)


def answer_complete(text: str) -> bool:
    r"""Has ``text`` stated its final answer? Only after ``</think>`` when a think block was opened
    (an "answer is" inside the reasoning is not final).

    >>> answer_complete("<think>so the answer is 5.\n"), answer_complete("<think>1+1=2</think>\nThe answer is 2. ")
    (False, True)
    >>> answer_complete("The answer is 3."), answer_complete("The answer is 3.5.\n")
    (False, True)
    """
    if THINK_OPEN in text:
        if THINK_CLOSE not in text:
            return False
        text = text.rsplit(THINK_CLOSE, 1)[1]
    return _ANSWER_DONE.search(text) is not None


def answer_stopping_criteria(tokenizer: Any, prompt_length: int):
    """A transformers StoppingCriteria that ends each row (independently) once ``answer_complete``."""
    import torch
    from transformers import StoppingCriteria

    class AnswerLineStop(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            texts = tokenizer.batch_decode(input_ids[:, prompt_length:], skip_special_tokens=True)
            return torch.tensor([answer_complete(t) for t in texts], device=input_ids.device)

    return AnswerLineStop()


def render_prompts(tokenizer: Any, prompts: Sequence[Messages | str]) -> list[str]:
    """Apply the chat template (with the generation prompt) to chat prompts."""
    rendered = []
    for prompt in prompts:
        if isinstance(prompt, str):
            rendered.append(prompt)
        else:
            rendered.append(tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True))
    return rendered


def generate(model: Any, tokenizer: Any, prompts: Sequence[Messages | str], settings: SamplingSettings,
             progress: bool = False, description: str = "generating") -> list[list[str]]:
    """Return ``settings.num_samples`` completions (decoded, special tokens removed) per prompt."""
    import torch
    from tqdm.auto import tqdm

    texts = render_prompts(tokenizer, prompts)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    results: list[list[str]] = [[] for _ in texts]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    torch.manual_seed(settings.seed)
    greedy = settings.temperature <= 0
    batches = [order[i:i + settings.batch_size] for i in range(0, len(order), settings.batch_size)]
    bar = tqdm(total=len(texts), desc=description, disable=not progress or bool(os.environ.get("REASONING_NO_PROGRESS")))
    try:
        for batch in batches:
            encoded = tokenizer([texts[i] for i in batch], return_tensors="pt", padding=True,
                                add_special_tokens=False).to(device)
            kwargs: dict[str, Any] = {"max_new_tokens": settings.max_new_tokens, "do_sample": not greedy,
                                      "pad_token_id": tokenizer.pad_token_id,
                                      "num_return_sequences": 1 if greedy else settings.num_samples}
            if not greedy:
                kwargs.update(temperature=settings.temperature, top_p=settings.top_p)
            if settings.stop_at_answer:
                from transformers import StoppingCriteriaList
                kwargs["stopping_criteria"] = StoppingCriteriaList(
                    [answer_stopping_criteria(tokenizer, encoded["input_ids"].shape[1])])
            with torch.inference_mode():
                output = model.generate(**encoded, **kwargs)
            new_tokens = output[:, encoded["input_ids"].shape[1]:]
            decoded = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
            per_prompt = 1 if greedy else settings.num_samples
            for position, index in enumerate(batch):
                chunk = decoded[position * per_prompt:(position + 1) * per_prompt]
                # Greedy decoding is deterministic: k samples of it are k copies.
                results[index] = chunk * settings.num_samples if greedy else chunk
            bar.update(len(batch))
    finally:
        bar.close()
        model.train(was_training)
    return results


def count_tokens(tokenizer: Any, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])
