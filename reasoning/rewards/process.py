"""Process reward: is each arithmetic step written in the reasoning actually true?

Steps found (in the think block; the whole response when there is none):

* GSM8K calculator annotations ``<<48/2=24>>``;
* equations and chains written in the text: ``23 × 17 = 391``, ``3/4 of 20 = 15``,
  ``25% of 80 = 20``, ``$12 * 3 = $36``, ``a = b = c`` (each ``=`` is one step), with
  ``×·÷−``, ``x`` between numbers, ``^``, ``\\times``, ``\\cdot``, ``\\div`` and simple
  ``\\frac{a}{b}`` understood.

Only purely numeric steps count, and only if at least one side does arithmetic (``5 = 5``
proves nothing). A side cut off by a word (``x - 3 = 5``: the ``x`` is not numeric) is
dropped rather than misread. Expressions are parsed with Python's ``ast`` (no ``eval``)
and evaluated exactly with sympy rationals, refusing huge literals and powers, so hostile
text cannot hang it. A step is correct when both sides are equal, allowing the rounding
implied by a decimal literal (``10/3 = 3.33`` and ``10/3 = 3.3`` are both correct to the
places written; ``10/3 = 3.4`` is not). Score = share of
correct steps; no checkable step gives the configured neutral value.
"""
from __future__ import annotations

import ast
import re

import sympy

MAX_STEPS = 200
MAX_LITERAL_DIGITS = 30
MAX_RESULT_DIGITS = 80
MAX_EXPRESSION_CHARS = 200
MAX_TEXT_CHARS = 100_000
MAX_LINE_CHARS = 2_000

_ANNOTATION = re.compile(r"<<([^<>=]{1,200})=([^<>=]{1,100})>>")
# Linear time: a chain starts only where a run of expression characters starts (the
# lookbehind), and the possessive runs never give characters back (the class has no '=').
# Without both, a 2,000-character line of digits and spaces took 2-4 s.
_CHAIN = re.compile(r"(?<![0-9.\s+\-*/()])[0-9.\s+\-*/()]++(?:=[0-9.\s+\-*/()]++)++")
_OPERATOR_BETWEEN = re.compile(r"[0-9.)]\s*+(?:\*\*|[+\-*/])\s*+[0-9.(]")


class _Unsafe(Exception):
    pass


def _normalise(text: str) -> str:
    text = text.replace("\\times", "*").replace("\\cdot", "*").replace("\\div", "/").replace("\\left", "")
    text = text.replace("\\right", "").replace("\\,", "").replace("\\$", "$").replace("\\%", "%")
    text = re.sub(r"\\[dt]?frac\{([^{}]{1,50})\}\{([^{}]{1,50})\}", r"((\1)/(\2))", text)
    text = text.translate(str.maketrans({"×": "*", "·": "*", "∙": "*", "÷": "/", "−": "-", "–": "-", "^": "^"}))
    text = re.sub(r"(?<=\d)\s*+[xX]\s*+(?=\d)", " * ", text)
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # thousands separators
    text = re.sub(r"(?<=[\d)])\s*+%", "/100", text)
    text = re.sub(r"(?<=[\d)])\s++of\s++(?=[\d($])", " * ", text)
    text = text.replace("$", "").replace("^", "**").replace("{", "(").replace("}", ")")
    return text


class _Value(ast.AST):
    """A literal already turned into an exact rational (read from the text, not from a float)."""
    _fields = ()

    def __init__(self, value: sympy.Rational):
        super().__init__()
        self.value = value


def _evaluate(node: ast.AST) -> sympy.Rational:
    """Exact, guarded arithmetic over + - * / ** and unary signs; anything else is refused."""
    if isinstance(node, _Value):
        return node.value
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
        value = _evaluate(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if not isinstance(node, ast.BinOp):
        raise _Unsafe
    left, right = _evaluate(node.left), _evaluate(node.right)
    if isinstance(node.op, ast.Add):
        result = left + right
    elif isinstance(node.op, ast.Sub):
        result = left - right
    elif isinstance(node.op, ast.Mult):
        result = left * right
    elif isinstance(node.op, ast.Div):
        if right == 0:
            raise ZeroDivisionError
        result = left / right
    elif isinstance(node.op, ast.Pow):
        # Guard before computing: 9**9**9 must never reach the big-integer arithmetic.
        if not right.is_integer or abs(right) > 64 or abs(left) > 10**6:
            raise _Unsafe
        if left == 0 and right < 0:
            raise ZeroDivisionError
        result = left ** int(right)
    else:
        raise _Unsafe
    if result.p.bit_length() > 4 * MAX_RESULT_DIGITS or result.q.bit_length() > 4 * MAX_RESULT_DIGITS:
        raise _Unsafe
    return result


def _parse_side(text: str) -> tuple[sympy.Rational, int | None] | None:
    """(exact value, decimals if the side is a plain decimal literal) or None when unreadable."""
    text = text.strip()
    if not text or len(text) > MAX_EXPRESSION_CHARS:
        return None
    literals = re.findall(r"\d*\.?\d+\.?", text)
    if any(len(re.sub(r"\D", "", lit)) > MAX_LITERAL_DIGITS for lit in literals):
        return None
    # Replace every literal by an exact rational before parsing: 0.1 stays 1/10.
    placeholders: list[sympy.Rational] = []

    def to_name(match: re.Match) -> str:
        placeholders.append(sympy.Rational(match.group(0).rstrip(".") or "0"))
        return f"n{len(placeholders) - 1}"

    expression = re.sub(r"\d*\.?\d+|\d+\.", to_name, text)
    try:
        tree = ast.parse(expression, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None

    class _Names(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name):  # noqa: N802 - ast API
            return _Value(placeholders[int(node.id[1:])])

    try:
        value = _evaluate(_Names().visit(tree))
    except (_Unsafe, ZeroDivisionError, RecursionError, IndexError, ValueError, OverflowError):
        return None
    plain = re.fullmatch(r"[-+]?\s*(\d+)(?:\.(\d+))?\.?", text)
    decimals = len(plain.group(2) or "") if plain else None
    return value, decimals


def _equal(left: tuple[sympy.Rational, int | None], right: tuple[sympy.Rational, int | None]) -> bool:
    difference = abs(left[0] - right[0])
    if difference == 0:
        return True
    tolerance = sympy.Rational(1, 10**9) * max(1, abs(right[0]))
    for side in (left, right):
        if side[1] is not None:  # a written decimal may be rounded to its number of places
            tolerance = max(tolerance, sympy.Rational(1, 2 * 10 ** side[1]) + sympy.Rational(1, 10**12))
    return bool(difference <= tolerance)


def _chain_sides(line: str) -> list[list[str]]:
    chains = []
    for match in _CHAIN.finditer(line):
        parts = match.group(0).split("=")
        before = line[:match.start()].rstrip()
        after = line[match.end():]
        if parts[0].strip()[:1] in "+-*/" and parts[0].strip() and before and (before[-1].isalnum() or before[-1] in ")]"):
            parts = parts[1:]  # "x - 3 = 5": the first side began with a word
        # "apples. 3 + 4 = 7": the run starts at a full stop; that is the sentence's end, not a glued number.
        sentence_end = match.group(0)[:1] == "." and match.group(0)[1:2].isspace()
        if sentence_end and parts:
            parts[0] = parts[0][1:]
        glued_before = (not sentence_end and match.start() > 0 and line[match.start() - 1].isalpha()
                        and not match.group(0)[0].isspace())
        if glued_before and parts:
            parts = parts[1:]  # "x2 + 1 = 5"
        if after[:1].isalpha() and not match.group(0)[-1].isspace() and parts:
            parts = parts[:-1]  # "= 5x"
        if parts and parts[-1].strip()[-1:] in ("+", "-", "*", "/", "("):
            parts = parts[:-1]  # "= 5 * y": cut off by a word
        parts = [p for p in parts if p.strip()]
        if len(parts) >= 2:
            chains.append(parts)
    return chains


def find_steps(text: str) -> list[tuple[str, str]]:
    """The (left, right) sides of every checkable arithmetic step, deduplicated, in order."""
    text = (text or "")[:MAX_TEXT_CHARS]
    steps: list[tuple[str, str]] = []
    for left, right in _ANNOTATION.findall(text):
        steps.append((_normalise(left), _normalise(right)))
    text = _ANNOTATION.sub(" ", text)
    for line in _normalise(text).splitlines():
        if "=" not in line or len(line) > MAX_LINE_CHARS:
            continue  # the chain regex backtracks quadratically on long runs: skip such lines
        for parts in _chain_sides(line):
            for left, right in zip(parts, parts[1:], strict=False):
                if _OPERATOR_BETWEEN.search(left) or _OPERATOR_BETWEEN.search(right):
                    steps.append((left.strip(), right.strip()))
        if len(steps) >= MAX_STEPS:
            break
    seen, unique = set(), []
    for step in steps:
        key = (step[0].replace(" ", ""), step[1].replace(" ", ""))
        if key not in seen:
            seen.add(key)
            unique.append(step)
    return unique[:MAX_STEPS]


def check_steps(text: str) -> tuple[int, int]:
    """(correct steps, checkable steps) in ``text``."""
    correct = total = 0
    for left, right in find_steps(text):
        left_value, right_value = _parse_side(left), _parse_side(right)
        if left_value is None or right_value is None:
            continue
        total += 1
        correct += _equal(left_value, right_value)
    return correct, total


def process_score(text: str, neutral: float = 0.5) -> tuple[float, str]:
    correct, total = check_steps(text)
    if total == 0:
        return neutral, "no checkable arithmetic step in the reasoning"
    return correct / total, f"{correct} of {total} arithmetic steps correct"
