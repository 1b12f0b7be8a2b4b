"""Programmatic outcome metrics: exact match, token F1 and numeric match of a final answer.

The outcome judge grades every finished trajectory with :func:`grade_programmatic` (an LLM
grader may add its verdict on top); evaluation reports the same metrics. QA metrics follow the
SQuAD/HotpotQA evaluation scripts; math answers are compared as numbers.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from fractions import Fraction

from swirl.records import OutcomeJudgement, Task

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = frozenset(string.punctuation)
# The HotpotQA script gives no partial credit between these and anything else.
_SPECIAL_ANSWERS = frozenset({"yes", "no", "noanswer"})


def normalize_answer(s: str) -> str:
    """SQuAD/HotpotQA normalization: lowercase, drop punctuation and articles, collapse whitespace."""
    s = "".join(ch for ch in s.lower() if ch not in _PUNCTUATION)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """1.0 if the normalized prediction equals any normalized gold answer, else 0.0."""
    normalized = normalize_answer(prediction)
    return max((float(normalized == normalize_answer(gold)) for gold in golds), default=0.0)


def token_f1(prediction: str, golds: Sequence[str]) -> float:
    """Best bag-of-tokens F1 over the gold answers, as in the HotpotQA script (yes/no rule included)."""
    return max((_f1(prediction, gold) for gold in golds), default=0.0)


def _f1(prediction: str, gold: str) -> float:
    pred, ref = normalize_answer(prediction), normalize_answer(gold)
    if (pred in _SPECIAL_ANSWERS or ref in _SPECIAL_ANSWERS) and pred != ref:
        return 0.0
    pred_tokens, ref_tokens = pred.split(), ref.split()
    common = sum((Counter(pred_tokens) & Counter(ref_tokens)).values())
    if common == 0:
        return 0.0
    precision = common / len(pred_tokens)
    recall = common / len(ref_tokens)
    return 2 * precision * recall / (precision + recall)


_FRAC = re.compile(r"\\[dt]?frac\s*\{\s*([^{}]*?)\s*\}\s*\{\s*([^{}]*?)\s*\}")
_NUMBER = r"(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?"
# A minus only counts as a sign when it does not follow a word or a closing bracket, so that
# "5-3" reads as 5 and 3, not 5 and -3.
_SIGNED = rf"(?:(?<![\w)\]])-)?(?:{_NUMBER})"
_NUMBER_OR_RATIO = re.compile(rf"(?P<num>{_SIGNED})(?:\s*/\s*(?P<den>{_SIGNED}))?")


def parse_number(text: str) -> Fraction | None:
    """The last number in ``text``, exactly, or None if there is none.

    Handles currency and units around it ("$1,200.50", "12 dollars", "50%" -> 50), thousands
    commas, decimals, signs, exponents, ratios ("3/4"), LaTeX ``\\frac{3}{4}`` and, when present,
    only the content of the last ``\\boxed{...}``. A ratio with a zero denominator is no number.
    """
    boxed = _last_boxed(text)
    if boxed is not None:
        text = boxed
    text = text.replace("\u2212", "-")
    # LaTeX thousands separators and spacing, e.g. "1{,}000" or "1\,000".
    text = text.replace("{,}", ",").replace("\\,", "").replace("\\!", "")
    text = _FRAC.sub(r"\1/\2", text)
    matches = list(_NUMBER_OR_RATIO.finditer(text))
    if not matches:
        return None
    last = matches[-1]
    value = Fraction(last.group("num").replace(",", ""))
    if last.group("den") is None:
        return value
    denominator = Fraction(last.group("den").replace(",", ""))
    if denominator == 0:
        return None
    return value / denominator


def _last_boxed(text: str) -> str | None:
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    # Braces are matched by hand because the content may itself hold \frac{..}{..}.
    depth = 0
    content_start = start + len("\\boxed{")
    for i in range(content_start - 1, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[content_start:i]
    return text[content_start:]


def numeric_match(prediction: str, gold: str, tolerance: float = 1e-6) -> bool:
    """Whether the last numbers of both texts agree within ``tolerance``, relative to the larger magnitude (at least 1)."""
    predicted, expected = parse_number(prediction), parse_number(gold)
    if predicted is None or expected is None:
        return False
    scale = max(abs(predicted), abs(expected), Fraction(1))
    return abs(predicted - expected) <= Fraction(tolerance) * scale


def grade_programmatic(prediction: str | None, task: Task) -> OutcomeJudgement:
    """Grade a final answer against the task's gold answers (answer and aliases).

    Math: correct iff the numbers match. QA: correct iff the exact match is 1.0, and
    ``numeric_match`` is None. Exact match and F1 are reported for both. No prediction
    (the trajectory never answered) scores zero everywhere.
    """
    golds = task.gold_answers
    is_math = task.task_type == "math"
    if prediction is None:
        return OutcomeJudgement(correct=False, exact_match=0.0, f1=0.0, numeric_match=False if is_math else None)
    em = exact_match(prediction, golds)
    f1 = token_f1(prediction, golds)
    if is_math:
        numbers_match = any(numeric_match(prediction, gold) for gold in golds)
        return OutcomeJudgement(correct=numbers_match, exact_match=em, f1=f1, numeric_match=numbers_match)
    return OutcomeJudgement(correct=em == 1.0, exact_match=em, f1=f1, numeric_match=None)
