"""The generative process judge (the paper's reward model): is this step reasonable?

For a tool call: is it likely to help answer the question, and not a repeat? For an
answer: does it follow from the evidence gathered so far? The judge never sees the
gold answer and is not asked whether the answer is correct.

Two modes, on any backend:
  * ``generate``: the judge writes its reasoning, then ``Verdict: GOOD|BAD``; the
    verdict is parsed robustly and the call retried (new seed) when it cannot be.
    Score 1.0 for GOOD, 0.0 for BAD.
  * ``score``: one forward pass; score = P(GOOD) / (P(GOOD) + P(BAD)), the labels'
    probabilities as the first token of the reply, verdict GOOD when the score is at
    least 0.5. The labels are spelled so that each is one token of the judge's tokenizer
    (checked when the judge starts), so the score does not depend on how a tokenizer
    splits words, and every backend computes the same number.

A verdict that stays unparsable is recorded as ``UNPARSED`` with score 0.0, never
silently as GOOD or BAD.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from swirl.actions import ANSWER_TAG, tagged
from swirl.backends.base import Backend, GenerationRequest
from swirl.errors import SwirlError
from swirl.judges.base import StepToJudge, history_after_question
from swirl.records import ChatMessage, StepJudgement

JUDGE_PROMPT_VERSION = "swirl-judge-v2"
MODES = ("generate", "score")
DEFAULT_MODE = "score"
"""P(GOOD) from one forward pass: cheaper than generating a verdict, and a graded reward."""
GENERATE_MAX_TOKENS = 128
"""Token budget of one reasoning + verdict reply: room for a few sentences and the verdict line."""

SYSTEM_INTRO = "You judge one step of an assistant that answers a question in several steps, using tools."
_SYSTEM = SYSTEM_INTRO + """
At each step the assistant thinks briefly, then either calls one tool ({calls}) or gives its final answer in {answer}.

Decide whether the STEP TO JUDGE is reasonable:
- A tool call is GOOD if it is likely to help answer the question given what is already known, and it does not repeat an earlier call.
- A final answer is GOOD if it follows from the evidence gathered so far in the conversation. Do not judge whether it is actually correct.
- A step is BAD if it is unhelpful, repeats an earlier call, calls a tool and answers at once, has no tool call or answer, or answers without support from the evidence."""

GENERATE_INSTRUCTION = "Explain your reasoning in a few sentences, then finish with a last line of exactly 'Verdict: GOOD' or 'Verdict: BAD'."
SCORE_INSTRUCTION = "Reply with exactly one word: {good} or {bad}."
SCORE_LABELS = (("GOOD", "BAD"), ("Good", "Bad"), ("good", "bad"))
"""Spellings of the two verdicts in score mode, in order of preference: the judge uses the
first pair whose words are each a single token of its model (see :func:`score_labels`)."""

# A labelled verdict: "Verdict: GOOD", "**Verdict:** bad", "the verdict is GOOD", "Verdict: not GOOD".
_LABELLED = re.compile(r"verdict\W{0,4}(?:is\W{1,3})?(not\s+)?(GOOD|BAD)\b", re.IGNORECASE)
# What may follow the last labelled verdict: markdown, then the end of the line or of the sentence.
_LABEL_END = re.compile(r"[*_`'\"]*\s*(?:[.!]|$)", re.MULTILINE)
# A negation in the same sentence before the label ("I would not give it Verdict: GOOD").
_NEGATION = re.compile(r"\b(?:not|no|never|neither|nor|cannot)\b|n't\b", re.IGNORECASE)
# A verdict word negated anywhere in the reply ("the step is not good", "not a bad call").
_NEGATED_WORD = re.compile(
    r"(?:\b(?:not|never|hardly|barely)|n't)\s+(?:(?:a|an|very|really|so|that|too|particularly|entirely|quite)\s+)*(GOOD|BAD)\b",
    re.IGNORECASE,
)
_BARE_LINE = re.compile(r"^[\s*_`'\"#>-]*(GOOD|BAD)[\s*_`'\".!]*$", re.IGNORECASE)


def render_history(history: list[ChatMessage]) -> str:
    if not history:
        return "(no earlier steps)"
    lines = []
    step = 0
    for message in history:
        if message["role"] == "assistant":
            step += 1
            lines.append(f"[Step {step}] Assistant:\n{message['content'].strip()}")
        else:
            lines.append(f"[Step {step}] Tool result:\n{message['content'].strip()}")
    return "\n\n".join(lines)


def system_prompt(tool_tags: Mapping[str, str]) -> str:
    """The judge's instructions, naming the tag of every tool the policy could call."""
    calls = "; ".join(f"{name}: {tagged(tag, '...')}" for tag, name in tool_tags.items()) or "none are available"
    return _SYSTEM.format(calls=calls, answer=tagged(ANSWER_TAG, "..."))


def judge_messages(step: StepToJudge, mode: str, labels: tuple[str, str] = SCORE_LABELS[0]) -> list[ChatMessage]:
    """The judge's conversation; ``labels`` are the words score mode asks for (GOOD, BAD)."""
    instruction = SCORE_INSTRUCTION.format(good=labels[0], bad=labels[1]) if mode == "score" else GENERATE_INSTRUCTION
    user = (
        f"QUESTION:\n{step.task.question.strip()}\n\n"
        f"CONVERSATION SO FAR:\n{render_history(history_after_question(step.state))}\n\n"
        f"STEP TO JUDGE:\n{step.action_text.strip() or '(empty)'}\n\n{instruction}"
    )
    return [{"role": "system", "content": system_prompt(step.action_tags())}, {"role": "user", "content": user}]


def score_labels(backend: Backend) -> tuple[str, str]:
    """The first pair of :data:`SCORE_LABELS` whose words are each one token of the judge model.

    Score mode reads P(label) from the first token of the reply, which is the label's
    probability only when the label is one token. A backend that cannot tokenize (a hosted
    API without a tokenize endpoint) gets the first pair unchecked.
    """
    for pair in SCORE_LABELS:
        counts = [backend.count_tokens(label) for label in pair]
        if None in counts:
            return SCORE_LABELS[0]
        if counts == [1, 1]:
            return pair
    spelled = ", ".join("/".join(pair) for pair in SCORE_LABELS)
    raise SwirlError(
        f"judge {backend.info.name} splits every verdict spelling ({spelled}) into several tokens, "
        "so score mode cannot read their probabilities; use the generate judge mode"
    )


def parse_verdict(text: str) -> str | None:
    """GOOD/BAD from a judge's reply, or None when the reply does not state one unambiguously.

    A verdict is either labelled ("Verdict: GOOD", ending its line or sentence) or a line
    holding only the word. The reply gives no verdict when its verdicts disagree, when the
    label is negated ("Verdict: not GOOD", "I would not say verdict: GOOD"), or when it
    negates the very word it concludes with ("Verdict: GOOD. The step is not good."). Free
    text that merely contains a label word ("the step is not good") is never a verdict.
    """
    labelled = list(_LABELLED.finditer(text))
    if labelled:
        last = labelled[-1]
        if any(m.group(1) for m in labelled) or not _LABEL_END.match(text, last.end()):
            return None
        sentence_start = max(text.rfind(c, 0, last.start()) for c in ".!?\n") + 1
        if _NEGATION.search(text[sentence_start : last.start()]):
            return None
        candidates = {m.group(2).upper() for m in labelled}
    else:
        candidates = {m.group(1).upper() for line in text.splitlines() if (m := _BARE_LINE.match(line))}
    if len(candidates) != 1:
        return None
    verdict = candidates.pop()
    if any(m.group(1).upper() == verdict for m in _NEGATED_WORD.finditer(text)):
        return None
    return verdict


def good_probability(logprobs: dict[str, float], labels: tuple[str, str] = SCORE_LABELS[0]) -> float | None:
    """P(good) / (P(good) + P(bad)) from the labels' log-probabilities; None when neither is possible."""
    good, bad = logprobs.get(labels[0], -math.inf), logprobs.get(labels[1], -math.inf)
    if good == -math.inf and bad == -math.inf:
        return None
    top = max(good, bad)
    p_good, p_bad = math.exp(good - top), math.exp(bad - top)
    return p_good / (p_good + p_bad)


class LLMProcessJudge:
    """Process judge backed by any :class:`Backend` (independent of the policy model)."""

    def __init__(
        self,
        backend: Backend,
        *,
        mode: str = DEFAULT_MODE,
        name: str | None = None,
        max_tokens: int = GENERATE_MAX_TOKENS,
        max_attempts: int = 3,
        seed: int = 0,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"judge mode must be one of {MODES}, not {mode!r}")
        self.backend = backend
        self.mode = mode
        self.name = name or backend.info.name
        self.max_tokens = max_tokens
        self.max_attempts = max_attempts
        self.seed = seed
        self.labels = score_labels(backend) if mode == "score" else SCORE_LABELS[0]

    def judge(self, steps: list[StepToJudge]) -> list[StepJudgement]:
        if not steps:
            return []
        conversations = [judge_messages(step, self.mode, self.labels) for step in steps]
        if self.mode == "score":
            return self._score(conversations)
        return self._generate(conversations)

    def _score(self, conversations: list[list[ChatMessage]]) -> list[StepJudgement]:
        good, bad = self.labels
        judgements = []
        for logprobs in self.backend.next_token_logprobs(conversations, list(self.labels)):
            p_good = good_probability(logprobs, self.labels)
            if p_good is None:
                judgements.append(self._unparsed(f"neither {good} nor {bad} among the likely first tokens"))
                continue
            judgements.append(
                StepJudgement(
                    verdict="GOOD" if p_good >= 0.5 else "BAD",
                    score=round(p_good, 6),
                    rationale=f"P(GOOD)={p_good:.3f} (log-probabilities {good} {logprobs[good]:.2f}, {bad} {logprobs[bad]:.2f})",
                    judge=self.name,
                    mode="score",
                )
            )
        return judgements

    def _generate(self, conversations: list[list[ChatMessage]]) -> list[StepJudgement]:
        results: list[StepJudgement | None] = [None] * len(conversations)
        last_reply = [""] * len(conversations)
        waiting = list(range(len(conversations)))
        for attempt in range(self.max_attempts):
            if not waiting:
                break
            request = GenerationRequest(
                max_tokens=self.max_tokens, temperature=0.0 if attempt == 0 else 0.7, seed=self.seed + attempt
            )
            replies = self.backend.generate([conversations[i] for i in waiting], request)
            still_waiting = []
            for index, reply in zip(waiting, replies):
                last_reply[index] = reply.error or reply.text
                verdict = parse_verdict(reply.text) if reply.finish_reason != "error" else None
                if verdict is None:
                    still_waiting.append(index)
                    continue
                results[index] = StepJudgement(
                    verdict=verdict,
                    score=1.0 if verdict == "GOOD" else 0.0,
                    rationale=reply.text.strip(),
                    judge=self.name,
                    mode="generate",
                )
            waiting = still_waiting
        for index in waiting:
            results[index] = self._unparsed(f"no verdict after {self.max_attempts} attempts; last reply: {last_reply[index][:500]}")
        return [r for r in results if r is not None]

    def _unparsed(self, why: str) -> StepJudgement:
        return StepJudgement(verdict="UNPARSED", score=0.0, rationale=why, judge=self.name, mode=self.mode)
