"""Synthetic math problems with short, checkable chains of thought.

    from reasoning.cot.synthetic import synthetic_rows, verify_steps
    rows = synthetic_rows(200, seed=0, split="test", families=["arithmetic"], difficulty=1)

Every line inside ``<think>`` is one equation that sympy can check (``verify_steps``),
so the data never teaches an arithmetic slip. Why short chains: the small default model
has to learn them in minutes on a CPU, and a few place-value steps are enough to lift
2-digit arithmetic well above what the base model does (see docs MEASURED.md).

Families (``difficulty`` 1-3 scales the numbers and the number of steps):
- ``arithmetic``: difficulty 1 is exactly ``a + b`` and ``a - b`` with 2-digit a, b (a >= b)
  and ``a * b`` with 2-digit a and b in 2..9, split into tens and units; 2 uses 3-digit
  sums/differences and 2-digit products; 3 uses 4-digit sums/differences and 3-by-2-digit products.
- ``word_problem``: multi-step stories (buy, share, remove) whose steps are equations.
- ``linear_equation``: ``a*x + b = c`` (1), ``a*x + b = c*x + d`` (2, 3) with integer roots.
- ``fraction_percent``: percent of a number, percent change, sums of fractions.
- ``arithmetic_carry`` (only when named; not among the default families): the ``arithmetic``
  problems whose column method needs a carry or a borrow (``47 + 38``, ``52 - 17``, ``28 * 8``:
  ``160 + 64``), which is where a small model that has learnt the format still slips. Same
  canonical form, so the same train/test split as ``arithmetic``.

Train/test split: a problem's split is a pure function of its canonical form (operands and
operation, commutative operands sorted), hashed; about 10 % of the problem space is held out
as ``test``. So a test problem can never appear in any train file, whatever the seed.
"""
from __future__ import annotations

import functools
import hashlib
import math
import random
import re
from collections.abc import Callable, Sequence
from fractions import Fraction

from reasoning.errors import InputError
from reasoning.schema import THINK_CLOSE, THINK_OPEN, ReasoningType, Row

FAMILIES = ("arithmetic", "word_problem", "linear_equation", "fraction_percent")  # drawn when none is named
EXTRA_FAMILIES = ("arithmetic_carry",)  # only when named: adding one to FAMILIES would change every default data set
KNOWN_FAMILIES = FAMILIES + EXTRA_FAMILIES
SPLITS = ("train", "test")
DIFFICULTIES = (1, 2, 3)
TEST_SHARE_PERCENT = 10
ARITHMETIC_PROMPT = "What is {a} {op} {b}? Show your reasoning, then give the final answer as a number."
# Draws per row before a duplicate is accepted: small spaces (difficulty-1 test split,
# about 1,300 problems) can be exhausted by a large request, and the call must still end.
MAX_DRAWS_PER_ROW = 200


def split_of(canonical: str) -> str:
    """``test`` for about 10 % of canonical problems, ``train`` for the rest; seed independent."""
    bucket = int.from_bytes(hashlib.sha256(canonical.encode()).digest()[:4], "big") % 100
    return "test" if bucket < TEST_SHARE_PERCENT else "train"


def final_answer_text(answer: str) -> str:
    """The text after ``</think>``: plain for numbers, ``\\boxed{}`` for anything else (round-trips)."""
    if re.fullmatch(r"-?\d+(\.\d+)?", answer):
        return f"The answer is {answer}."
    return f"The answer is $\\boxed{{{answer}}}$."


def think_response(steps: Sequence[str], answer: str) -> str:
    return f"{THINK_OPEN}\n" + "\n".join(steps) + f"\n{THINK_CLOSE}\n\n" + final_answer_text(answer)


# ------------------------------------------------------------------ families
# Each maker returns (canonical key, prompt, steps, answer) for a problem drawn from rng.

Problem = tuple[str, str, list[str], str]


def _digits_range(digits: int) -> tuple[int, int]:
    return 10 ** (digits - 1), 10 ** digits - 1


def _place_parts(n: int) -> list[int]:
    """47 -> [40, 7]; 305 -> [300, 0, 5] (zeros kept so columns line up)."""
    text = str(n)
    return [int(d) * 10 ** (len(text) - 1 - i) for i, d in enumerate(text)]


def _sum_text(values: Sequence[int]) -> str:
    text = str(values[0])
    for v in values[1:]:
        text += f" - {-v}" if v < 0 else f" + {v}"
    return text


def _add_or_subtract_steps(a: int, b: int, op: str) -> list[str]:
    pa, pb = _place_parts(a), _place_parts(b)
    width = max(len(pa), len(pb))
    pa, pb = [0] * (width - len(pa)) + pa, [0] * (width - len(pb)) + pb
    sign = 1 if op == "+" else -1
    if op == "+":
        first = f"{a} + {b} = " + " + ".join(str(p) for p in _place_parts(a) + _place_parts(b))
    else:
        first = f"{a} - {b} = " + " + ".join(str(p) for p in _place_parts(a)) + "".join(
            f" - {p}" for p in _place_parts(b))
    steps = [first]
    column_results = []
    for x, y in zip(pa, pb, strict=True):
        value = x + sign * y
        steps.append(f"{x} {op} {y} = {value}")
        column_results.append(value)
    steps.append(f"{_sum_text(column_results)} = {a + sign * b}")
    return steps


def _multiply_steps(a: int, b: int) -> list[str]:
    if b < 10:  # 47 * 6 = 40 * 6 + 7 * 6: split the multi-digit factor
        parts = [p for p in _place_parts(a) if p]
        steps = [f"{a} * {b} = " + " + ".join(f"{p} * {b}" for p in parts)]
        steps += [f"{p} * {b} = {p * b}" for p in parts]
    else:  # 47 * 36 = 47 * 30 + 47 * 6: split the second factor
        parts = [p for p in _place_parts(b) if p]
        steps = [f"{a} * {b} = " + " + ".join(f"{a} * {p}" for p in parts)]
        steps += [f"{a} * {p} = {a * p}" for p in parts]
    products = [int(s.rsplit("= ", 1)[1]) for s in steps[1:]]
    if len(products) > 1:
        steps.append(" + ".join(map(str, products)) + f" = {a * b}")
    return steps


def _draw_arithmetic(rng: random.Random, difficulty: int) -> tuple[int, str, int]:
    op = rng.choice(["+", "-", "*"])
    if op in "+-":
        low, high = _digits_range(difficulty + 1)
        a, b = rng.randint(low, high), rng.randint(low, high)
        if op == "-" and b > a:
            a, b = b, a  # non-negative differences: the answers stay simple numbers
    else:
        a_digits, b_digits = {1: (2, 1), 2: (2, 2), 3: (3, 2)}[difficulty]
        a = rng.randint(*_digits_range(a_digits))
        b = rng.randint(2, 9) if b_digits == 1 else rng.randint(*_digits_range(b_digits))
    return a, op, b


def _digits_low_first(n: int, width: int) -> list[int]:
    return [(n // 10 ** i) % 10 for i in range(width)]


def needs_regrouping(a: int, op: str, b: int) -> bool:
    """Does the column method need a carry (``+``), a borrow (``-``), or a carry when adding the
    partial products (``*``: 28 * 8 = 160 + 64)?

    >>> needs_regrouping(47, "+", 38), needs_regrouping(41, "+", 38), needs_regrouping(52, "-", 17)
    (True, False, True)
    >>> needs_regrouping(58, "-", 17), needs_regrouping(28, "*", 8), needs_regrouping(21, "*", 4)
    (False, True, False)
    """
    if op == "*":  # the partial products _multiply_steps adds up
        products = [p * b for p in _place_parts(a) if p] if b < 10 else [a * p for p in _place_parts(b) if p]
        total = 0
        for product in products:
            if needs_regrouping(total, "+", product):
                return True
            total += product
        return False
    width = max(len(str(a)), len(str(b)))
    pairs = zip(_digits_low_first(a, width), _digits_low_first(b, width), strict=True)
    if op == "+":
        return any(x + y >= 10 for x, y in pairs)
    return any(x < y for x, y in pairs)


def make_arithmetic(rng: random.Random, difficulty: int, draw=None) -> Problem:
    a, op, b = (draw or _draw_arithmetic)(rng, difficulty)
    if op in "+-":
        steps = _add_or_subtract_steps(a, b, op)
        answer = a + b if op == "+" else a - b
    else:
        steps = _multiply_steps(a, b)
        answer = a * b
    operands = sorted((a, b)) if op in "+*" else [a, b]
    canonical = f"arithmetic:{operands[0]}{op}{operands[1]}"
    return canonical, ARITHMETIC_PROMPT.format(a=a, op=op, b=b), steps, str(answer)


def _draw_with_regrouping(rng: random.Random, difficulty: int) -> tuple[int, str, int]:
    while True:  # about half of difficulty-1 draws regroup (all of 2-3's products): a few draws at most
        a, op, b = _draw_arithmetic(rng, difficulty)
        if needs_regrouping(a, op, b):
            return a, op, b


def make_arithmetic_carry(rng: random.Random, difficulty: int) -> Problem:
    return make_arithmetic(rng, difficulty, draw=_draw_with_regrouping)


_NAMES = ["Ava", "Ben", "Chen", "Dana", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jade", "Kofi", "Lena"]
_ITEMS = ["apples", "marbles", "stickers", "books", "pencils", "cookies", "shells", "coins"]


def make_word_problem(rng: random.Random, difficulty: int) -> Problem:
    name, item = rng.choice(_NAMES), rng.choice(_ITEMS)
    scale = 10 ** (difficulty - 1)
    start = rng.randint(2, 30) * scale
    boxes, per_box = rng.randint(2, 9), rng.randint(2, 12) * scale
    bought = boxes * per_box
    total = start + bought
    steps = [f"{boxes} * {per_box} = {bought}", f"{start} + {bought} = {total}"]
    story = (f"{name} has {start} {item}. {name} buys {boxes} boxes with {per_box} {item} in each box.")
    key = f"word:{start}:{boxes}:{per_box}"
    friends = rng.randint(2, 9)
    if difficulty >= 2:
        given = rng.randint(1, total - friends)
        if difficulty >= 3:  # leave a multiple of the number of friends so the share is whole
            given += (total - given) % friends
        story += f" Then {name} gives away {given} {item}."
        steps.append(f"{total} - {given} = {total - given}")
        total -= given
        key += f":{given}"
    if difficulty >= 3:
        story += f" {name} shares them equally among {friends} friends."
        steps.append(f"{total} / {friends} = {total // friends}")
        total //= friends
        key += f":{friends}"
        question = f"How many {item} does each friend get?"
    else:
        question = f"How many {item} does {name} have now?"
    prompt = f"{story} {question} Show your reasoning, then give the final answer as a number."
    return key, prompt, steps, str(total)


def make_linear_equation(rng: random.Random, difficulty: int) -> Problem:
    x = rng.randint(-9, 12) if difficulty > 1 else rng.randint(1, 12)
    a = rng.randint(2, 9 * difficulty)
    b = rng.randint(-20 * difficulty, 20 * difficulty)
    if difficulty == 1:
        c = a * x + b
        equation = f"{a}*x {'+' if b >= 0 else '-'} {abs(b)} = {c}"
        steps = [f"{c} - {_paren(b)} = {c - b}", f"{c - b} / {a} = {x}", f"{a} * {_paren(x)} + {_paren(b)} = {c}"]
        key = f"linear:{a}:{b}:{c}"
    else:
        c = rng.choice([v for v in range(-9, 10) if v != a and v != 0])
        d = (a - c) * x + b
        left = f"{a}*x {'+' if b >= 0 else '-'} {abs(b)}"
        right = f"{c}*x {'+' if d >= 0 else '-'} {abs(d)}"
        equation = f"{left} = {right}"
        steps = [f"{a} - {_paren(c)} = {a - c}", f"{d} - {_paren(b)} = {d - b}",
                 f"{d - b} / {_paren(a - c)} = {x}",
                 f"{a} * {_paren(x)} + {_paren(b)} = {c} * {_paren(x)} + {_paren(d)}"]
        key = f"linear:{a}:{b}:{c}:{d}"
    prompt = f"Solve for x: {equation}. Show your reasoning, then give the value of x as a number."
    return key, prompt, steps, str(x)


def _paren(n: int) -> str:
    return f"({n})" if n < 0 else str(n)


def make_fraction_percent(rng: random.Random, difficulty: int) -> Problem:
    kind = rng.choice(["percent_of", "percent_change", "fraction_sum"])
    if kind == "percent_of":
        pct = rng.choice([5, 10, 15, 20, 25, 30, 40, 50, 60, 75] if difficulty < 3 else range(1, 100))
        base = rng.randint(1, 20 * difficulty) * (100 // math.gcd(pct, 100))
        value = base * pct // 100
        steps = [f"{base} * {pct} = {base * pct}", f"{base * pct} / 100 = {value}"]
        return (f"percent_of:{pct}:{base}", f"What is {pct}% of {base}? Show your reasoning, then give the "
                f"final answer as a number.", steps, str(value))
    if kind == "percent_change":
        pct = rng.choice([10, 20, 25, 50] if difficulty == 1 else [5, 10, 15, 20, 25, 30, 40, 50, 75])
        base = rng.randint(1, 10 * difficulty) * (100 // math.gcd(pct, 100))
        change = base * pct // 100
        up = difficulty == 1 or rng.random() < 0.5
        new = base + change if up else base - change
        steps = [f"{base} * {pct} / 100 = {change}", f"{base} {'+' if up else '-'} {change} = {new}"]
        verb = "increases" if up else "decreases"
        return (f"percent_change:{pct}:{base}:{verb}", f"A price of {base} dollars {verb} by {pct}%. What is the "
                f"new price in dollars? Show your reasoning, then give the final answer as a number.", steps, str(new))
    max_den = {1: 6, 2: 10, 3: 12}[difficulty]
    b, d = rng.randint(2, max_den), rng.randint(2, max_den)
    a, c = rng.randint(1, b - 1), rng.randint(1, d - 1)
    lcm = b * d // math.gcd(b, d)
    total = Fraction(a, b) + Fraction(c, d)
    steps = [f"{a}/{b} = {a * lcm // b}/{lcm}", f"{c}/{d} = {c * lcm // d}/{lcm}",
             f"{a * lcm // b}/{lcm} + {c * lcm // d}/{lcm} = {a * lcm // b + c * lcm // d}/{lcm}"]
    if total.denominator != lcm:
        steps.append(f"{a * lcm // b + c * lcm // d}/{lcm} = {total.numerator}/{total.denominator}")
    answer = str(total.numerator) if total.denominator == 1 else f"{total.numerator}/{total.denominator}"
    ordered = sorted([(a, b), (c, d)])
    return (f"fraction_sum:{ordered}", f"What is {a}/{b} + {c}/{d}? Show your reasoning, then give the final "
            f"answer as a fraction in lowest terms.", steps, answer)


MAKERS: dict[str, Callable[[random.Random, int], Problem]] = {
    "arithmetic": make_arithmetic, "word_problem": make_word_problem,
    "linear_equation": make_linear_equation, "fraction_percent": make_fraction_percent,
    "arithmetic_carry": make_arithmetic_carry}


# ------------------------------------------------------------------ public API

def check_synthetic_options(n: int, split: str, families: Sequence[str] | None,
                            difficulty: int | None) -> tuple[list[str], int | None]:
    if not isinstance(n, int) or n < 0:
        raise InputError(f"must be a non-negative integer, got {n!r}", field="num_samples")
    if split not in SPLITS:
        raise InputError(f"must be one of {', '.join(SPLITS)}, got {split!r}", field="split")
    chosen = list(families) if families else list(FAMILIES)
    for family in chosen:
        if family not in KNOWN_FAMILIES:
            raise InputError(f"unknown family {family!r}; known: {', '.join(KNOWN_FAMILIES)}", field="families")
    if difficulty is not None:
        if isinstance(difficulty, str) and difficulty.strip().isdigit():
            difficulty = int(difficulty)
        if difficulty not in DIFFICULTIES:
            raise InputError(f"must be 1, 2 or 3, got {difficulty!r}", field="difficulty")
    return chosen, difficulty


def synthetic_rows(n: int, seed: int = 0, split: str = "train", families: Sequence[str] | None = None,
                   difficulty: int | None = None) -> list[Row]:
    """``n`` reproducible synthetic math rows of one split (same arguments -> same rows).

    Families are drawn uniformly (all four when ``families`` is None) and difficulty uniformly
    from 1-3 when it is None. Problems repeat only when the requested split's space is exhausted.
    """
    chosen, difficulty = check_synthetic_options(n, split, families, difficulty)
    rng = random.Random(f"synthetic-math:{seed}:{split}")
    seen: set[str] = set()
    rows = []
    for index in range(n):
        for _draw in range(MAX_DRAWS_PER_ROW):
            family = rng.choice(chosen)
            level = difficulty or rng.choice(DIFFICULTIES)
            canonical, prompt, steps, answer = MAKERS[family](rng, level)
            if split_of(canonical) == split and canonical not in seen:
                break
        else:  # the split's space is (nearly) exhausted: accept a repeat from the right split
            while split_of(canonical) != split:
                family = rng.choice(chosen)
                level = difficulty or rng.choice(DIFFICULTIES)
                canonical, prompt, steps, answer = MAKERS[family](rng, level)
        seen.add(canonical)
        rows.append(Row(
            id=f"synthetic-{split}-{seed}-{index}", source="synthetic-math",
            reasoning_type=ReasoningType.MATH.value, answer=answer,
            messages=[{"role": "user", "content": prompt},
                      {"role": "assistant", "content": think_response(steps, answer)}],
            metadata={"family": family, "difficulty": level, "split": split, "canonical": canonical,
                      "seed": seed}))
    return rows


# ------------------------------------------------------------------ step verification

_THINK_BLOCK = re.compile(re.escape(THINK_OPEN) + r"(.*?)" + re.escape(THINK_CLOSE), re.S)


@functools.lru_cache(maxsize=200_000)
def _sympy_value(expression: str):
    """The exact sympy value of one side of an equation (cached: sides repeat a lot)."""
    from sympy.parsing.sympy_parser import parse_expr
    text = expression.replace("×", "*").replace("÷", "/").replace("^", "**").replace("−", "-")
    return parse_expr(text, evaluate=True)


@functools.lru_cache(maxsize=200_000)
def _equation_holds(line: str) -> bool:
    sides = [s.strip() for s in line.split("=")]
    if len(sides) < 2 or not all(sides):
        return False
    try:
        values = [_sympy_value(side) for side in sides]
        import sympy
        return all(sympy.simplify(values[0] - v) == 0 for v in values[1:])
    except Exception:  # unparsable text is simply not a verified equation
        return False


def verify_steps(text: str) -> list[tuple[str, bool]]:
    """Check each line of the ``<think>`` block (or of ``text`` without one) with sympy.

    Returns ``(line, holds)`` for every non-empty line; a line that is not an equation, or
    whose sides sympy cannot parse, counts as not holding. Chains ``a = b = c`` must all agree.
    """
    match = _THINK_BLOCK.search(text)
    body = match.group(1) if match else text
    return [(line.strip(), _equation_holds(line.strip())) for line in body.splitlines() if line.strip()]
