"""Outcome judges: is a trajectory's final answer right?

Programmatic metrics (numeric equality for math, normalized exact match and token F1
for QA) always run; an LLM grader, when given, decides ``correct`` by answering YES/NO
to whether the prediction is equivalent to the gold answer, accepting equivalent forms
("$10" and "10.00"). A trajectory without an answer is incorrect without asking.
"""

from __future__ import annotations

import re

from swirl.backends.base import Backend, GenerationRequest
from swirl.judges.metrics import grade_programmatic
from swirl.records import ChatMessage, OutcomeJudgement, Task

GRADER_SYSTEM = (
    "You grade answers to questions. Decide whether the PREDICTED answer means the same as the GOLD answer. "
    "Accept equivalent forms: different formatting of the same number ($10 and 10.00), units, "
    "capitalization, aliases and paraphrases of the same entity. Reply with exactly one word: YES or NO."
)

_YES_NO = re.compile(r"\b(YES|NO)\b", re.IGNORECASE)


def grader_messages(task: Task, prediction: str) -> list[ChatMessage]:
    golds = " | ".join(task.gold_answers)
    user = f"QUESTION: {task.question.strip()}\nGOLD: {golds}\nPREDICTED: {prediction.strip()}\nEquivalent? YES or NO."
    return [{"role": "system", "content": GRADER_SYSTEM}, {"role": "user", "content": user}]


def parse_yes_no(text: str) -> str | None:
    found = _YES_NO.findall(text)
    return found[0].upper() if found else None


class OutcomeJudge:
    """Grades final answers; ``grader`` adds the LLM equivalence check."""

    def __init__(self, grader: Backend | None = None, *, max_attempts: int = 3) -> None:
        self.grader = grader
        self.max_attempts = max_attempts
        self.name = f"llm:{grader.info.name}" if grader else "programmatic"

    def judge(self, items: list[tuple[Task, str | None]]) -> list[OutcomeJudgement]:
        judgements = [grade_programmatic(prediction, task) for task, prediction in items]
        if self.grader is None:
            return judgements
        asking = [i for i, (_, prediction) in enumerate(items) if prediction is not None]
        verdicts: dict[int, str] = {}
        for attempt in range(self.max_attempts):
            if not asking:
                break
            replies = self.grader.generate(
                [grader_messages(*items[i]) for i in asking],  # type: ignore[arg-type]
                GenerationRequest(max_tokens=8, temperature=0.0 if attempt == 0 else 0.7, seed=attempt),
            )
            retry = []
            for index, reply in zip(asking, replies):
                verdict = parse_yes_no(reply.text) if reply.finish_reason != "error" else None
                if verdict is None:
                    retry.append(index)
                else:
                    verdicts[index] = verdict
            asking = retry
        for index, judgement in enumerate(judgements):
            judgement.grader = self.name
            if items[index][1] is None:
                continue
            verdict = verdicts.get(index, "UNPARSED")
            judgement.llm_verdict = verdict  # type: ignore[assignment]
            judgement.correct = verdict == "YES"
        return judgements
