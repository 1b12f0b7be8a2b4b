"""The calculator: correct arithmetic, model-style input cleaning, and safety against hostile input."""

from __future__ import annotations

import signal
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swirl.tools import CalculatorTool, run_tool
from swirl.tools.calculator import MAX_DEPTH, MAX_DIGITS, CalculatorError, clean_expression, evaluate

TIME_BOUND_S = 3.0
PROPERTY_SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

calculator = CalculatorTool()


def timed_call(text: str) -> str:
    start = time.monotonic()
    result = calculator.call(text)
    elapsed = time.monotonic() - start
    assert elapsed < TIME_BOUND_S, f"{text[:60]!r} took {elapsed:.2f}s"
    return result


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("48/2", "24"),
        ("2+3*4", "14"),
        ("1,200 * 3", "3600"),
        ("1,234,567 + 1", "1234568"),
        ("2^10", "1024"),
        ("2**10", "1024"),
        ("7/2", "3.5"),
        ("1/3", "0.333333"),
        ("2/3", "0.666667"),
        ("-1/3", "-0.333333"),
        ("(3+4)*(2-5)", "-21"),
        ("10%", "0.1"),
        ("50% * 80", "40"),
        ("10 % 3", "1"),
        ("-7 % 3", "2"),
        ("7 // 2", "3"),
        ("-7 // 2", "-4"),
        ("$1,200.50 + $3", "1203.5"),
        ("  12 * 4 =  ", "48"),
        ("3 × 4 ÷ 6", "2"),
        ("0.1 + 0.2", "0.3"),
        ("1.5e3", "1500"),
        ("2**-2", "0.25"),
        ("100 * 1.05**10", "162.889463"),
        ("sqrt(16)", "4"),
        ("sqrt(2)", "1.414214"),
        ("8**(1/3)", "2"),
        ("abs(-4.5)", "4.5"),
        ("round(2.5)", "3"),
        ("round(-2.5)", "-3"),
        ("floor(3.7)", "3"),
        ("ceil(3.2)", "4"),
        ("1/3000000", "3.33333e-7"),
        ("1000000000000000000000/7", "142857142857142857142.857143"),
        ("2**0.5 * 10**40", "1.41421e+40"),
    ],
)
def test_values(expression: str, expected: str) -> None:
    assert timed_call(expression) == expected


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("1/0", "division by zero"),
        ("5 // 0", "division by zero"),
        ("5 % 0", "division by zero"),
        ("0 ** -1", "division by zero"),
        ("(-8) ** 0.5", "not a real number"),
        ("sqrt(-1)", "negative"),
        ("", "empty"),
        ("1 +", "invalid expression"),
        ("1, 2", "unsupported syntax (Tuple)"),
        ("x + 1", "unknown name 'x'"),
        ("12.5% of 80", "invalid expression"),
        ("True + 1", "unsupported literal"),
        ("1j", "unsupported literal"),
        ("round(3.14159, 2)", "exactly one argument"),
        ("max(1, 2)", "unsupported function call"),
        ("1e400", "too large"),
    ],
)
def test_errors_have_reasons(expression: str, reason: str) -> None:
    result = timed_call(expression)
    assert result.startswith("Error: ")
    assert reason in result
    with pytest.raises(CalculatorError):
        evaluate(expression)


def test_cleaning_keeps_modulo_and_rejects_non_thousands_commas() -> None:
    assert clean_expression("$1,200 * 3 =") == "1200 * 3"
    assert clean_expression("10 % 3") == "10 % 3"
    assert clean_expression("10%") == "(10/100)"
    assert clean_expression("2^3") == "2**3"
    assert clean_expression("1,20") == "1,20"
    assert clean_expression("1,2000") == "1,2000"


def test_depth_limit_is_exact() -> None:
    # Each "+" nests the left operand one level deeper, so n terms reach depth n.
    assert timed_call("+".join(["1"] * MAX_DEPTH)) == str(MAX_DEPTH)
    assert "nested too deeply" in timed_call("+".join(["1"] * (MAX_DEPTH + 1)))
    assert "nested too deeply" in timed_call("-" * 200 + "1")
    # Parentheses add no tree depth; Python's parser itself stops at 200 levels.
    assert timed_call("(" * 150 + "7" + ")" * 150) == "7"
    assert timed_call("(" * 240 + "7" + ")" * 240).startswith("Error: ")


def test_digit_limit() -> None:
    biggest = timed_call("(10**999)**10")
    assert biggest == "1" + "0" * 9990  # longer than Python's 4300-digit str(int) cap
    assert "too large" in timed_call("(10**999)**11")
    assert "too large" in timed_call("(10**999)**10 * (10**999)**10")
    assert len(timed_call("(10**999)**10 - 1")) < MAX_DIGITS
    assert timed_call("-1/(10**999)**10") == "-1.00000e-9990"


ATTACKS = [
    "__import__('os').system('ls')",
    "().__class__.__bases__",
    "().__class__.__bases__[0].__subclasses__()",
    "lambda: 1",
    "open('/etc/passwd')",
    "9**9**9",
    "10**100000",
    "2**2**2**2**2**2",
    "(10**999)**(10**999)",
    "(" * 5000 + "1" + ")" * 5000,
    "(" * 300 + "1" + ")" * 300,
    "1" * 100000,
    "1" * 4301,
    "factorial(100000)",
    "eval('1')",
    "a.b",
    "x[0]",
    "'abc'",
    "exec",
    "__builtins__",
    "[1, 2]",
    "{1: 2}",
    "1 if 1 else 2",
    "(x := 1)",
    "f'{1}'",
    "b'1'",
    "...",
    "1 < 2",
    "1 and 2",
    "~1",
    "1 << 100000",
    "sqrt(*[4])",
    "abs(x=1)",
    "abs",
    "import os",
    "1; 2",
    "\x00",
    "1\n+1",
]


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda s: repr(s[:30]))
def test_attacks_give_errors_quickly(attack: str) -> None:
    result = timed_call(attack)
    assert result.startswith("Error: ")


def test_no_code_executes(tmp_path) -> None:
    target = tmp_path / "pwned"
    attempts = [
        f"__import__('pathlib').Path('{target}').touch()",
        f"open('{target}', 'w').write('x')",
        f"[c for c in ().__class__.__base__.__subclasses__()][0]('{target}')",
        f"sqrt(open('{target}', 'w'))",
    ]
    for attempt in attempts:
        assert timed_call(attempt).startswith("Error: ")
    assert not target.exists()


def test_run_tool_reports_calculator_errors_as_not_ok() -> None:
    assert run_tool(calculator, "6*7") == ("42", True)
    observation, ok = run_tool(calculator, "1/0")
    assert observation == "Error: division by zero"
    assert not ok


def test_alarm_state_is_restored() -> None:
    before = signal.getsignal(signal.SIGALRM)
    timed_call("2**1000 // 3**500")
    assert signal.getsignal(signal.SIGALRM) is before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_works_off_the_main_thread() -> None:
    results: list[str] = []
    worker = threading.Thread(target=lambda: results.append(calculator.call("(3+4)*6")))
    worker.start()
    worker.join(TIME_BOUND_S)
    assert results == ["42"]


# ---------------------------------------------------------------- properties

NUMBER = st.one_of(
    st.integers(min_value=0, max_value=10**12).map(str),
    st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False).map(str),
    st.sampled_from(["0", "1", "2", "10", "1e3", "1,000", "50%", "1000000"]),
)
OPERATORS = ["+", "-", "*", "/", "//", "%", "**", "^"]


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    binary = st.tuples(children, st.sampled_from(OPERATORS), children).map(lambda t: f"{t[0]} {t[1]} {t[2]}")
    return st.one_of(
        binary,
        children.map(lambda c: f"({c})"),
        children.map(lambda c: f"-{c}"),
        st.tuples(st.sampled_from(["sqrt", "abs", "round", "floor", "ceil"]), children).map(
            lambda t: f"{t[0]}({t[1]})"
        ),
    )


ARITHMETIC = st.recursive(NUMBER, _combine, max_leaves=25)


@PROPERTY_SETTINGS
@given(st.text(max_size=600))
def test_any_text_gives_a_string_quickly(text: str) -> None:
    assert isinstance(timed_call(text), str)


@PROPERTY_SETTINGS
@given(ARITHMETIC)
def test_any_arithmetic_gives_a_string_quickly(expression: str) -> None:
    result = timed_call(expression)
    assert isinstance(result, str)
    assert result


Tree = int | tuple[str, "Tree", "Tree"]

SMALL_INT_TREES = st.recursive(
    st.integers(min_value=-50, max_value=50),
    lambda children: st.tuples(st.sampled_from(["+", "-", "*"]), children, children),
    max_leaves=20,
)


def render(tree: Tree) -> str:
    if isinstance(tree, int):
        return f"({tree})" if tree < 0 else str(tree)
    op, left, right = tree
    return f"({render(left)} {op} {render(right)})"


def reference_value(tree: Tree) -> int:
    if isinstance(tree, int):
        return tree
    op, left, right = tree
    a, b = reference_value(left), reference_value(right)
    return a + b if op == "+" else a - b if op == "-" else a * b


@PROPERTY_SETTINGS
@given(SMALL_INT_TREES)
def test_integer_arithmetic_matches_python(tree: Tree) -> None:
    assert timed_call(render(tree)) == str(reference_value(tree))
