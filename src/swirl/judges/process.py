"""The generative process judge (the paper's reward model): is this step reasonable?

For a tool call: is it likely to help answer the question, and not a repeat? For an
answer: does it follow from the evidence gathered so far? The judge never sees the
gold answer and is not asked whether the answer is correct.

Two modes, on any backend:
  * ``generate``: the judge writes its reasoning, then ``Verdict: GOOD|BAD``; the
    verdict is parsed robustly and the call retried (new seed) when it cannot be.
    Score 1.0 for GOOD, 0.0 for BAD.
  * ``score``: one forward pass; score = P(GOOD) / (P(GOOD) + P(BAD)) from the first
    token's log-probabilities, verdict GOOD when the score is at least 0.5.

A verdict that stays unparsable is recorded as ``UNPARSED`` with score 0.0, never
silently as GOOD or BAD.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from swirl.actions import ANSWER_TAG, tagged
from swirl.backends.base import Backend, GenerationRequest
from swirl.judges.base import StepToJudge, history_after_question
from swirl.records import ChatMessage, StepJudgement

JUDGE_PROMPT_VERSION = "swirl-judge-v2"
MODES = ("generate", "score")

SYSTEM_INTRO = "You judge one step of an assistant that answers a question in several steps, using tools."
_SYSTEM = SYSTEM_INTRO + """
At each step the assistant thinks briefly, then either calls one tool ({calls}) or gives its final answer in {answer}.

Decide whether the STEP TO JUDGE is reasonable:
- A tool call is GOOD if it is likely to help answer the question given what is already known, and it does not repeat an earlier call.
- A final answer is GOOD if it follows from the evidence gathered so far in the conversation. Do not judge whether it is actually correct.
- A step is BAD if it is unhelpful, repeats an earlier call, calls a tool and answers at once, has no tool call or answer, or answers without support from the evidence."""

GENERATE_INSTRUCTION = "Explain your reasoning in a few sentences, then finish with a last line of exactly 'Verdict: GOOD' or 'Verdict: BAD'."
SCORE_INSTRUCTION = "Reply with exactly one word: GOOD or BAD."

_VERDICT_LINE = re.compile(r"verdict\s*[:=\-]?\s*\**\s*(GOOD|BAD)\b", re.IGNORECASE)
_BARE_WORD = re.compile(r"\b(GOOD|BAD)\b")


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


def judge_messages(step: StepToJudge, mode: str) -> list[ChatMessage]:
    instruction = SCORE_INSTRUCTION if mode == "score" else GENERATE_INSTRUCTION
    user = (
        f"QUESTION:\n{step.task.question.strip()}\n\n"
        f"CONVERSATION SO FAR:\n{render_history(history_after_question(step.state))}\n\n"
        f"STEP TO JUDGE:\n{step.action_text.strip() or '(empty)'}\n\n{instruction}"
    )
    return [{"role": "system", "content": system_prompt(step.action_tags())}, {"role": "user", "content": user}]


def parse_verdict(text: str) -> str | None:
    """GOOD/BAD from a judge's reply: the last 'Verdict: X', else a lone word, else None."""
    labelled = _VERDICT_LINE.findall(text)
    if labelled:
        return labelled[-1].upper()
    words = {w.upper() for w in _BARE_WORD.findall(text.upper())}
    if len(words) == 1:
        return words.pop()
    return None


def good_probability(logprobs: dict[str, float]) -> float | None:
    good, bad = logprobs.get("GOOD", -math.inf), logprobs.get("BAD", -math.inf)
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
        mode: str = "score",
        name: str | None = None,
        max_tokens: int = 256,
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

    def judge(self, steps: list[StepToJudge]) -> list[StepJudgement]:
        if not steps:
            return []
        conversations = [judge_messages(step, self.mode) for step in steps]
        if self.mode == "score":
            return self._score(conversations)
        return self._generate(conversations)

    def _score(self, conversations: list[list[ChatMessage]]) -> list[StepJudgement]:
        judgements = []
        for logprobs in self.backend.next_token_logprobs(conversations, ["GOOD", "BAD"]):
            p_good = good_probability(logprobs)
            if p_good is None:
                judgements.append(self._unparsed("neither GOOD nor BAD among the likely first tokens"))
                continue
            judgements.append(
                StepJudgement(
                    verdict="GOOD" if p_good >= 0.5 else "BAD",
                    score=round(p_good, 6),
                    rationale=f"P(GOOD)={p_good:.3f} (log-probabilities GOOD {logprobs['GOOD']:.2f}, BAD {logprobs['BAD']:.2f})",
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
