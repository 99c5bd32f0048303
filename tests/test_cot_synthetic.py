"""Synthetic math: exact difficulty-1 format, reproducibility, disjoint splits, sympy-checked steps."""
from __future__ import annotations

import re
import time

import pytest

from reasoning.cot.synthetic import FAMILIES, split_of, synthetic_rows, verify_steps
from reasoning.errors import InputError
from reasoning.schema import validate_row

D1_PROMPT = re.compile(r"^What is (\d{2}) ([-+*]) (\d+)\? Show your reasoning, then give the final answer as a number\.$")


def test_arithmetic_difficulty_1_is_exactly_the_end_to_end_problem_kinds():
    rows = synthetic_rows(600, seed=3, families=["arithmetic"], difficulty=1)
    ops = set()
    for row in rows:
        match = D1_PROMPT.match(row.problem)
        assert match, row.problem
        a, op, b = int(match.group(1)), match.group(2), int(match.group(3))
        ops.add(op)
        if op == "*":
            assert 2 <= b <= 9
        else:
            assert 10 <= b <= 99
        expected = {"+": a + b, "-": a - b, "*": a * b}[op]
        assert row.answer == str(expected)
        assert row.completion.endswith(f"</think>\n\nThe answer is {expected}.")
        assert row.metadata["family"] == "arithmetic" and row.metadata["difficulty"] == 1
        # Short CoTs: the small model must learn them in minutes.
        assert len(verify_steps(row.completion)) <= 4
    assert ops == {"+", "-", "*"}


def test_addition_cot_splits_tens_and_units():
    row = next(r for r in synthetic_rows(300, seed=0, families=["arithmetic"], difficulty=1)
               if " + " in r.problem)
    a, b = map(int, re.findall(r"\d+", row.problem)[:2])
    lines = [line for line, _ in verify_steps(row.completion)]
    assert lines[0] == f"{a} + {b} = {a // 10 * 10} + {a % 10} + {b // 10 * 10} + {b % 10}"
    assert lines[-1].endswith(f"= {a + b}")


def test_same_seed_same_rows_other_seed_other_rows():
    first = [r.to_dict() for r in synthetic_rows(200, seed=7)]
    assert first == [r.to_dict() for r in synthetic_rows(200, seed=7)]
    assert first != [r.to_dict() for r in synthetic_rows(200, seed=8)]


def test_test_split_never_overlaps_train_split_whatever_the_seed():
    test = {r.metadata["canonical"] for r in synthetic_rows(200, seed=0, split="test")}
    train = {r.metadata["canonical"] for seed in (0, 1, 2) for r in synthetic_rows(3000, seed=seed)}
    assert test and not (test & train)
    assert all(split_of(key) == "test" for key in test)
    # a + b and b + a are one problem: the split key is commutation invariant.
    assert split_of("arithmetic:12+34") in ("train", "test")
    d1_test = synthetic_rows(200, seed=0, split="test", families=["arithmetic"], difficulty=1)
    assert all(r.metadata["split"] == "test" for r in d1_test)
    assert len({r.metadata["canonical"] for r in d1_test}) == 200


def test_every_step_of_10000_samples_verifies_with_sympy():
    start = time.perf_counter()
    rows = synthetic_rows(10000, seed=0)
    assert len(rows) == 10000
    assert {r.metadata["family"] for r in rows} == set(FAMILIES)
    assert {r.metadata["difficulty"] for r in rows} == {1, 2, 3}
    failures = []
    for row in rows[:100]:
        validate_row(row.to_dict())
    for row in rows:
        steps = verify_steps(row.completion)
        assert steps, row.id
        failures += [(row.id, line) for line, ok in steps if not ok]
    assert failures == []
    assert time.perf_counter() - start < 60


def test_verify_steps_rejects_wrong_and_non_equations():
    text = "<think>\n47 + 38 = 40 + 7 + 30 + 8\n70 + 15 = 86\nso we add\n3/4 = 9/12 = 0.75\n</think>\n\nThe answer is 85."
    assert verify_steps(text) == [("47 + 38 = 40 + 7 + 30 + 8", True), ("70 + 15 = 86", False),
                                  ("so we add", False), ("3/4 = 9/12 = 0.75", True)]


@pytest.mark.parametrize("kwargs, field", [({"split": "validation"}, "split"), ({"families": ["geometry"]}, "families"),
                                           ({"difficulty": 4}, "difficulty")])
def test_bad_synthetic_options_name_the_option(kwargs, field):
    with pytest.raises(InputError) as info:
        synthetic_rows(5, **kwargs)
    assert info.value.field == field


def _carry_by_hand(a: int, op: str, b: int) -> bool:
    """Column arithmetic on the digit strings, written independently of the generator."""
    if op == "*":  # 47 * 6 -> 240 + 42; 28 * 8 -> 160 + 64 (a carry when adding them)
        tens, units = divmod(a, 10)
        return _carry_by_hand(tens * 10 * b, "+", units * b) if units and tens else False
    da, db = str(a).zfill(4)[::-1], str(b).zfill(4)[::-1]
    if op == "+":
        return any(int(x) + int(y) >= 10 for x, y in zip(da, db, strict=False))
    return any(int(x) < int(y) for x, y in zip(da, db, strict=False))


def test_the_carry_family_is_the_arithmetic_problems_that_carry_or_borrow():
    from reasoning.cot.synthetic import needs_regrouping

    for a, op, b, expected in [(47, "+", 38, True), (41, "+", 38, False), (91, "+", 18, True), (52, "-", 17, True),
                               (58, "-", 17, False), (90, "-", 36, True), (28, "*", 8, True), (21, "*", 4, False),
                               (80, "*", 9, False), (96, "*", 9, False), (68, "*", 9, True)]:
        assert needs_regrouping(a, op, b) is expected, (a, op, b)
    train = synthetic_rows(400, seed=1, split="train", families=["arithmetic_carry"], difficulty=1)
    test = synthetic_rows(200, seed=0, split="test", families=["arithmetic_carry"], difficulty=1)
    ops = set()
    for row in train + test:
        a, op, b = D1_PROMPT.match(row.problem).groups()
        ops.add(op)
        assert _carry_by_hand(int(a), op, int(b)), row.problem
        assert row.answer == str({"+": int(a) + int(b), "-": int(a) - int(b), "*": int(a) * int(b)}[op])
        assert all(holds for _line, holds in verify_steps(row.completion))
    assert ops == {"+", "-", "*"}
    # The same canonical problems as `arithmetic`, so the same split: a held-out carry problem is never trained on.
    assert all(split_of(r.metadata["canonical"]) == "train" for r in train)
    assert not {r.metadata["canonical"] for r in train} & {r.metadata["canonical"] for r in test}
    assert len({r.metadata["canonical"] for r in test}) == 200


def test_the_carry_family_is_opt_in_so_default_data_sets_do_not_change():
    assert "arithmetic_carry" not in FAMILIES
    rows = synthetic_rows(400, seed=0)
    assert "arithmetic_carry" not in {r.metadata["family"] for r in rows}
    with pytest.raises(InputError, match="arithmetic_carry"):  # the error lists it among the known families
        synthetic_rows(1, families=["arithmetic_cary"])
