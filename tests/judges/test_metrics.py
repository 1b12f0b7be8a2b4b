"""Programmatic outcome metrics: normalization, EM, F1, number parsing and grading."""

from __future__ import annotations

from fractions import Fraction

import pytest

from swirl.judges.metrics import (
    exact_match,
    grade_programmatic,
    normalize_answer,
    numeric_match,
    parse_number,
    token_f1,
)
from swirl.records import Task


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("The Eiffel Tower!", "eiffel tower"),
        ("  An   apple, a day ", "apple day"),
        ("Theatre of the Absurd", "theatre of absurd"),
        ("U.S.A.", "usa"),
        ("Yes.", "yes"),
        ("", ""),
        ("the", ""),
    ],
)
def test_normalize_answer(raw: str, normalized: str) -> None:
    assert normalize_answer(raw) == normalized


@pytest.mark.parametrize(
    ("prediction", "golds", "expected"),
    [
        ("the Eiffel Tower", ["Eiffel Tower"], 1.0),
        ("EIFFEL TOWER.", ["Eiffel Tower"], 1.0),
        ("Eiffel", ["Eiffel Tower"], 0.0),
        ("NYC", ["New York City", "NYC"], 1.0),
        ("Big Apple", ["New York City", "NYC"], 0.0),
        ("a dog", ["the dog"], 1.0),
        ("anything", [], 0.0),
    ],
)
def test_exact_match(prediction: str, golds: list[str], expected: float) -> None:
    assert exact_match(prediction, golds) == expected


@pytest.mark.parametrize(
    ("prediction", "golds", "expected"),
    [
        # Tokens big/red/dog vs red/dog: precision 2/3, recall 1 -> 2*(2/3)/(5/3) = 0.8.
        ("the big red dog", ["red dog"], 0.8),
        # red/dog vs big/red/dog: precision 1, recall 2/3 -> 0.8.
        ("red dog", ["a big red dog"], 0.8),
        ("Barack Obama", ["president of united states"], 0.0),
        # 1 common token of 2 and 4: p 1/2, r 1/4 -> 2*(1/8)/(3/4) = 1/3.
        ("president Obama", ["the president of united states"], 1 / 3),
        ("Paris", ["Paris, France", "Paris"], 1.0),
        # Repeated tokens count once per occurrence in both: common 1, p 1/2, r 1 -> 2/3.
        ("dog dog", ["dog"], 2 / 3),
        ("cat", ["dog"], 0.0),
        ("", ["dog"], 0.0),
        ("the", ["a"], 0.0),
        ("anything", [], 0.0),
    ],
)
def test_token_f1(prediction: str, golds: list[str], expected: float) -> None:
    assert token_f1(prediction, golds) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("prediction", "gold", "expected"),
    [
        ("yes", "yes", 1.0),
        ("Yes.", "yes", 1.0),
        ("yes", "no", 0.0),
        # Plain token overlap would give partial credit here; the HotpotQA rule gives none.
        ("yes it is", "yes", 0.0),
        ("no", "no way", 0.0),
        ("noanswer", "no answer", 0.0),
    ],
)
def test_token_f1_yes_no_rule(prediction: str, gold: str, expected: float) -> None:
    assert token_f1(prediction, [gold]) == expected


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("42", Fraction(42)),
        ("$1,200.50", Fraction(240100, 200)),
        ("1200", Fraction(1200)),
        ("-3", Fraction(-3)),
        ("3.0", Fraction(3)),
        ("3/4", Fraction(3, 4)),
        ("3 / 4", Fraction(3, 4)),
        ("50%", Fraction(50)),
        ("12 dollars", Fraction(12)),
        ("The answer is 42.", Fraction(42)),
        ("First 3 apples, then 5, so 8 in total", Fraction(8)),
        ("1,000,000", Fraction(1000000)),
        ("0.5", Fraction(1, 2)),
        (".5", Fraction(1, 2)),
        ("2e3", Fraction(2000)),
        ("x = −7", Fraction(-7)),
        ("5-3", Fraction(3)),
        ("5 - 3", Fraction(3)),
        ("It costs $-4.", Fraction(-4)),
        (r"\frac{3}{4}", Fraction(3, 4)),
        (r"\dfrac{1}{8}", Fraction(1, 8)),
        (r"So \boxed{42}. Check: 6 * 7", Fraction(42)),
        (r"\boxed{\frac{1}{2}}", Fraction(1, 2)),
        (r"1{,}000", Fraction(1000)),
        (r"1\,000", Fraction(1000)),
        ("", None),
        ("no numbers here", None),
        ("1/0", None),
    ],
)
def test_parse_number(text: str, value: Fraction | None) -> None:
    assert parse_number(text) == value


@pytest.mark.parametrize(
    ("prediction", "gold", "expected"),
    [
        ("$10", "10.00", True),
        ("1,000", "1000", True),
        ("3.0", "3", True),
        ("3/4", "0.75", True),
        ("18 dollars", "18", True),
        ("The answer is 18.", "18", True),
        ("-5", "-5", True),
        ("17", "18", False),
        ("-18", "18", False),
        ("0.333", "1/3", False),
        ("1000000.0000001", "1000000", True),
        ("1.0000001", "1", True),
        ("1.00001", "1", False),
        ("eighteen", "18", False),
        ("18", "", False),
    ],
)
def test_numeric_match(prediction: str, gold: str, expected: bool) -> None:
    assert numeric_match(prediction, gold) is expected


def test_numeric_match_tolerance() -> None:
    assert numeric_match("0.333", "1/3", tolerance=1e-2)
    assert not numeric_match("0.3", "1/3", tolerance=1e-2)


def _math(answer: str = "18") -> Task:
    return Task(id="m", question="q", answer=answer, task_type="math", source="gsm8k")


def _qa(answer: str = "New York City", aliases: list[str] | None = None) -> Task:
    return Task(id="q", question="q", answer=answer, aliases=aliases or [], task_type="qa", source="hotpotqa")


def test_grade_math_correct() -> None:
    outcome = grade_programmatic("18 dollars", _math())
    assert outcome.correct and outcome.numeric_match is True
    assert outcome.exact_match == 0.0
    assert outcome.f1 == pytest.approx(2 / 3)
    assert outcome.grader == "programmatic"


def test_grade_math_exact() -> None:
    outcome = grade_programmatic("1,000", _math("1000"))
    assert outcome.correct and outcome.numeric_match is True
    assert outcome.exact_match == 1.0 and outcome.f1 == 1.0


def test_grade_math_wrong() -> None:
    outcome = grade_programmatic("17", _math())
    assert not outcome.correct and outcome.numeric_match is False
    assert outcome.exact_match == 0.0 and outcome.f1 == 0.0


def test_grade_qa() -> None:
    outcome = grade_programmatic("the NYC", _qa(aliases=["NYC"]))
    assert outcome.correct and outcome.exact_match == 1.0 and outcome.f1 == 1.0
    assert outcome.numeric_match is None


def test_grade_qa_partial_is_not_correct() -> None:
    outcome = grade_programmatic("New York", _qa())
    assert not outcome.correct and outcome.exact_match == 0.0
    assert outcome.f1 == pytest.approx(0.8)
    assert outcome.numeric_match is None


def test_grade_qa_numbers_are_strings() -> None:
    # QA is graded by exact match only, even when the answer is a number.
    outcome = grade_programmatic("1000.0", _qa("1000"))
    assert not outcome.correct and outcome.numeric_match is None


@pytest.mark.parametrize(("task", "numeric"), [(_math(), False), (_qa(), None)])
def test_grade_no_prediction(task: Task, numeric: bool | None) -> None:
    outcome = grade_programmatic(None, task)
    assert not outcome.correct
    assert outcome.exact_match == 0.0 and outcome.f1 == 0.0
    assert outcome.numeric_match is numeric
