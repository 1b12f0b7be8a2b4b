"""The calculator tool (``<math_exp>``): safe, bounded arithmetic on model-written expressions.

The text is parsed with :mod:`ast` and only an allowlist of node types (numbers, ``+ - * /
// % **``, unary signs and a few one-argument functions) is evaluated, building exact SymPy
numbers. Nothing is ever ``eval``-ed or ``sympify``-ed, so no name, attribute, call or string
can reach Python. Every operation is bounded before it runs (input length, tree depth,
exponent size, result digits), so evaluation is fast by construction; a deadline is checked
as well, and on the main thread a ``SIGALRM`` timer backs it up.
"""

from __future__ import annotations

import ast
import math
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from fractions import Fraction
from typing import Union

import sympy

from swirl.tools.base import ERROR_PREFIX, Tool

MAX_INPUT_CHARS = 500
MAX_DEPTH = 50
MAX_EXPONENT = 1000
MAX_DIGITS = 10_000
DEFAULT_TIMEOUT_S = 2.0
DECIMALS = 6
# Inexact (irrational) values carry this many digits, well beyond the 6 decimals shown.
FLOAT_DIGITS = 30
# Above this magnitude a float's decimals are noise, so it is shown in scientific notation.
FLOAT_FIXED_LIMIT = 10**15

_LOG10_2 = math.log10(2)
# Python refuses str(int) beyond 4300 digits; longer results are converted in chunks.
_STR_CHUNK_DIGITS = 4000

Number = Union[sympy.Rational, sympy.Float]


class CalculatorError(ValueError):
    """Why an expression cannot be evaluated; the message is shown to the model."""


class _Timeout(CalculatorError):
    pass


# ---------------------------------------------------------------- cleaning


_THOUSANDS = re.compile(r"(?<![\w.,])\d{1,3}(?:,\d{3})+(?!,?\d)")
_PERCENT = re.compile(r"(?<![\w.])(\d+(?:\.\d*)?|\.\d+)\s*%(?!\s*[\w(.])")
_DOLLAR = re.compile(r"\$(?=\s*[\d.])")
_SYMBOLS = {"^": "**", "×": "*", "÷": "/", "−": "-"}


def clean_expression(text: str) -> str:
    """Normalize what models typically write around arithmetic.

    Strips whitespace, a trailing ``=`` and ``$`` signs before numbers; drops thousands
    separators (``1,200`` -> ``1200``); reads ``^`` as power, ``×``/``÷`` as ``*``/``/``;
    and turns a percentage ``50%`` into ``(50/100)``. A ``%`` followed by an operand
    (``10 % 3``) stays the modulo operator.
    """
    text = text.strip().rstrip("=").strip()
    text = _DOLLAR.sub("", text)
    for symbol, replacement in _SYMBOLS.items():
        text = text.replace(symbol, replacement)
    text = _THOUSANDS.sub(lambda m: m.group(0).replace(",", ""), text)
    return _PERCENT.sub(r"(\1/100)", text)


# ---------------------------------------------------------------- bounds


def _digits_of_int(n: int) -> float:
    return n.bit_length() * _LOG10_2


def _log10_magnitude(value: Number) -> float:
    """log10 of |value| (roughly, from bit lengths); 0 for 0."""
    if value == 0:
        return 0.0
    if isinstance(value, sympy.Float):
        _sign, mantissa, exponent, _bits = value._mpf_
        return (exponent + mantissa.bit_length()) * _LOG10_2
    return _digits_of_int(abs(int(value.p))) - _digits_of_int(int(value.q))


def _check_size(value: object) -> Number:
    """Reject non-real or oversized results; every operation's result passes through here."""
    if isinstance(value, sympy.Rational):
        if max(_digits_of_int(abs(int(value.p))), _digits_of_int(int(value.q))) > MAX_DIGITS:
            raise CalculatorError(f"result too large (more than {MAX_DIGITS} digits)")
        return value
    if isinstance(value, sympy.Float):
        if not value.is_finite:
            raise CalculatorError("result is not a finite number")
        if abs(_log10_magnitude(value)) > MAX_DIGITS:
            raise CalculatorError(f"result out of range (beyond 10**±{MAX_DIGITS})")
        return value
    raise CalculatorError("result is not a real number")


def _to_float(value: Number) -> sympy.Float:
    # evalf, not Float(value): Float() goes through str(int), which Python caps at 4300 digits.
    return value.evalf(FLOAT_DIGITS)


# ---------------------------------------------------------------- operations


def _nonzero_divisor(value: Number) -> Number:
    if value == 0:
        raise CalculatorError("division by zero")
    return value


def _power(base: Number, exponent: Number) -> Number:
    if abs(exponent) > MAX_EXPONENT:
        raise CalculatorError(f"exponent too large (limit {MAX_EXPONENT})")
    if base == 0:
        if exponent < 0:
            raise CalculatorError("division by zero")
        return sympy.Integer(1) if exponent == 0 else sympy.Integer(0)
    # Estimated before computing: the result needs about |exponent| times the base's digits.
    if isinstance(base, sympy.Rational) and isinstance(exponent, sympy.Integer):
        base_digits = max(_digits_of_int(abs(int(base.p))), _digits_of_int(int(base.q)))
    else:
        base_digits = abs(_log10_magnitude(base))
    if abs(float(exponent)) * base_digits > MAX_DIGITS:
        raise CalculatorError(f"result too large (more than {MAX_DIGITS} digits)")
    if isinstance(exponent, sympy.Integer):
        return base ** exponent
    if base < 0:
        raise CalculatorError("a negative number to a fractional power is not a real number")
    # Numeric, not symbolic: exact root extraction of huge radicals could be slow.
    return _to_float(base) ** _to_float(exponent)


def _floor_div(left: Number, right: Number) -> Number:
    return sympy.floor(left / _nonzero_divisor(right))


def _mod(left: Number, right: Number) -> Number:
    return sympy.Mod(left, _nonzero_divisor(right))


_BINARY_OPS: dict[type[ast.operator], Callable[[Number, Number], object]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / _nonzero_divisor(b),
    ast.FloorDiv: _floor_div,
    ast.Mod: _mod,
    ast.Pow: _power,
}


def _sqrt(value: Number) -> Number:
    if value < 0:
        raise CalculatorError("square root of a negative number")
    if isinstance(value, sympy.Rational):
        p, q = int(value.p), int(value.q)
        root_p, root_q = math.isqrt(p), math.isqrt(q)
        if root_p * root_p == p and root_q * root_q == q:
            return sympy.Rational(root_p, root_q)
    return sympy.sqrt(_to_float(value))


def _round(value: Number) -> Number:
    # Half away from zero, as people round, not Python's round-half-to-even.
    half = sympy.Rational(1, 2)
    return sympy.floor(value + half) if value >= 0 else -sympy.floor(-value + half)


_FUNCTIONS: dict[str, Callable[[Number], object]] = {
    "sqrt": _sqrt,
    "abs": abs,
    "round": _round,
    "floor": sympy.floor,
    "ceil": sympy.ceiling,
}


# ---------------------------------------------------------------- evaluation


def _check_depth(tree: ast.AST) -> None:
    # Iterative, so a pathological tree cannot exhaust the stack while being measured.
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise CalculatorError(f"expression nested too deeply (limit {MAX_DEPTH})")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _literal(value: object) -> Number:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CalculatorError(f"unsupported literal {value!r}; only numbers are allowed")
    if isinstance(value, int):
        return sympy.Integer(value)
    if not math.isfinite(value):
        raise CalculatorError("number too large")
    # repr gives the shortest decimal that round-trips, i.e. what was written: 0.1 -> 1/10.
    return sympy.Rational(repr(value))


class _Evaluator:
    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def value(self, node: ast.AST) -> Number:
        if time.monotonic() > self.deadline:
            raise _Timeout("calculation timed out")
        if isinstance(node, ast.Constant):
            return _check_size(_literal(node.value))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
            operand = self.value(node.operand)
            return operand if isinstance(node.op, ast.UAdd) else _check_size(-operand)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY_OPS:
            left, right = self.value(node.left), self.value(node.right)
            return _check_size(_BINARY_OPS[type(node.op)](left, right))
        if isinstance(node, ast.Call):
            return _check_size(self._call(node))
        if isinstance(node, ast.Name):
            raise CalculatorError(f"unknown name {node.id!r}; only numbers and operators are allowed")
        if isinstance(node, (ast.BinOp, ast.UnaryOp)):
            raise CalculatorError(f"unsupported operator {type(node.op).__name__}")
        raise CalculatorError(f"unsupported syntax ({type(node).__name__})")

    def _call(self, node: ast.Call) -> object:
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
            allowed = ", ".join(_FUNCTIONS)
            raise CalculatorError(f"unsupported function call; allowed functions: {allowed}")
        if len(node.args) != 1 or node.keywords:
            raise CalculatorError(f"{node.func.id} takes exactly one argument")
        return _FUNCTIONS[node.func.id](self.value(node.args[0]))


@contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    """Interrupt the block after ``seconds`` with SIGALRM, where that is safe to do.

    Signals only reach the main thread, and another timer (e.g. pytest-timeout's) must not
    be clobbered; elsewhere the a-priori bounds and the evaluator's deadline checks suffice.
    """
    usable = (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getitimer(signal.ITIMER_REAL)[0] == 0
    )
    if not usable:
        yield
        return

    def on_alarm(signum: int, frame: object) -> None:
        raise _Timeout("calculation timed out")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# ---------------------------------------------------------------- formatting


def _int_str(n: int) -> str:
    if abs(n).bit_length() < _STR_CHUNK_DIGITS * 3:
        return str(n)
    high, low = divmod(abs(n), 10**_STR_CHUNK_DIGITS)
    return ("-" if n < 0 else "") + _int_str(high) + str(low).zfill(_STR_CHUNK_DIGITS)


def _exact(value: Number) -> Fraction:
    if isinstance(value, sympy.Rational):
        return Fraction(int(value.p), int(value.q))
    sign, mantissa, exponent, _bits = value._mpf_
    magnitude = Fraction(int(mantissa) << exponent) if exponent >= 0 else Fraction(int(mantissa), 1 << -exponent)
    return -magnitude if sign else magnitude


def format_number(value: Number) -> str:
    """``42`` for integers; otherwise a decimal rounded to 6 places, without trailing zeros.

    A non-zero value that rounds to 0 is shown with 6 significant digits (``3.33333e-7``),
    as is an inexact value of magnitude 10**15 or more, whose decimals would be noise.
    """
    exact = _exact(value)
    if isinstance(value, sympy.Float) and abs(exact) >= FLOAT_FIXED_LIMIT:
        return str(value.evalf(6))
    if exact.denominator == 1:
        return _int_str(exact.numerator)
    scale = 10**DECIMALS
    scaled = abs(exact) * scale
    rounded = math.floor(scaled + Fraction(1, 2))
    if rounded == 0:
        return str(sympy.Rational(exact.numerator, exact.denominator).evalf(6))
    whole, fraction = divmod(rounded, scale)
    text = _int_str(whole)
    if fraction:
        text += "." + str(fraction).zfill(DECIMALS).rstrip("0")
    return ("-" if exact < 0 else "") + text


def evaluate(expression: str, timeout: float = DEFAULT_TIMEOUT_S) -> str:
    """Evaluate an arithmetic expression and format the result; raise :class:`CalculatorError` on any failure."""
    if not isinstance(expression, str):
        raise CalculatorError("the expression must be text")
    if len(expression) > MAX_INPUT_CHARS:
        raise CalculatorError(f"expression too long (limit {MAX_INPUT_CHARS} characters)")
    text = clean_expression(expression)
    if not text:
        raise CalculatorError("empty expression")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise CalculatorError(f"invalid expression ({exc.msg})") from None
    except (ValueError, RecursionError, MemoryError):
        raise CalculatorError("invalid expression") from None
    _check_depth(tree)
    try:
        with _alarm(timeout):
            value = _Evaluator(time.monotonic() + timeout).value(tree.body)
            return format_number(value)
    except CalculatorError:
        raise
    except (RecursionError, MemoryError):
        raise CalculatorError("expression too complex") from None
    except Exception as exc:  # SymPy internals: the tool promises an error message, never a crash
        raise CalculatorError(f"cannot evaluate ({type(exc).__name__})") from None


class CalculatorTool(Tool):
    """Arithmetic over numbers with ``+ - * / // % **``, parentheses and a few functions."""

    name = "calculator"
    tag = "math_exp"
    description = (
        "Evaluates an arithmetic expression with numbers, + - * / ** and parentheses "
        "(also sqrt, abs, round, floor, ceil), e.g. 48/2 or (3+4)*2."
    )

    def __init__(self, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.timeout = timeout

    def call(self, text: str) -> str:
        try:
            return evaluate(text, self.timeout)
        except CalculatorError as exc:
            return f"{ERROR_PREFIX}{exc}"
