"""Script-based language consistency, as in DeepSeek-R1's language-consistency reward.

R1 rewards the share of the chain of thought written in the target language. Here the
"language" is the writing system: the dominant script of the prompt's words (Latin,
Cyrillic, Greek, Arabic, Hebrew, Devanagari, Thai, Hangul, or CJK for Chinese/Japanese
characters and kana). The score is the share of the reasoning's words in that script.
A word is a run of letters of one script; each CJK character counts as one word (no
spaces between them). LaTeX commands and one-letter Latin words (variables such as x)
are ignored, so formulas in a Chinese reasoning do not count as English.
"""
from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import lru_cache

_LATEX_COMMAND = re.compile(r"\\[A-Za-z]+")
_CJK_FAMILY = {"CJK", "HIRAGANA", "KATAKANA"}
MAX_CHARS = 20_000  # enough text to judge a script; bounds the work on huge inputs


@lru_cache(maxsize=4096)
def script_of(char: str) -> str | None:
    if not char.isalpha():
        return None
    try:
        first = unicodedata.name(char).split()[0]
    except ValueError:
        return None
    return "CJK" if first in _CJK_FAMILY else first


def script_words(text: str) -> Counter:
    """Count words per script in ``text`` (see the module docstring)."""
    text = _LATEX_COMMAND.sub(" ", text[:MAX_CHARS])
    counts: Counter = Counter()
    current, length = None, 0
    for char in text + " ":
        script = script_of(char)
        if script == "CJK":
            counts["CJK"] += 1
            script = None
        if script != current or script is None:
            if current is not None and not (current == "LATIN" and length < 2):
                counts[current] += 1
            current, length = script, 0
        if script is not None:
            length += 1
    return counts


def dominant_script(text: str) -> str | None:
    counts = script_words(text)
    return counts.most_common(1)[0][0] if counts else None


def language_consistency(reasoning: str, prompt: str) -> float:
    """Share of the reasoning's words in the prompt's dominant script (1.0 when either has none)."""
    target = dominant_script(prompt or "")
    counts = script_words(reasoning or "")
    total = sum(counts.values())
    if target is None or total == 0:
        return 1.0
    return counts[target] / total
