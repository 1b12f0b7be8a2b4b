"""Reference-guided process judge: cheap, deterministic labels from the gold data.

An extension of the paper, not its judge (the paper's judge sees no gold data). It is
for CPU runs and for calibrating LLM judges:

  * math: a calculator call is GOOD if its value equals an intermediate result of the
    gold solution's ``<<expr=value>>`` annotations or the final answer that no earlier
    call in the state computed (each gold result is GOOD once); an answer is GOOD if it
    is numerically right.
  * multi-hop QA: a search is GOOD if it retrieves a supporting paragraph that no
    earlier search in the state retrieved, searching the corpus with the top-k that the
    policy's search used (recorded in the trajectory); an answer is GOOD if it matches the gold
    answer (normalized exact match over answer and aliases).
  * a call of any other tool (``--tools module:attr``) has no gold reference: BAD.

Actions are parsed with the tags of the tools the policy had (:meth:`StepToJudge.action_tags`).

The tool is re-run on the action, so the same call labels logged steps and scores
fresh actions during training (where no tool runs otherwise).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from swirl.actions import parse_action
from swirl.judges.base import StepToJudge, history_after_question
from swirl.judges.metrics import exact_match, numeric_match
from swirl.records import StepJudgement, Task
from swirl.tools import CalculatorTool, SearchTool, build_tool
from swirl.tools.calculator import CalculatorError, evaluate


class ReferenceJudge:
    name = "reference"

    def __init__(self, search: SearchTool | None = None) -> None:
        self.search = search
        """The search of steps that do not record theirs."""
        self._searches = {search.settings: search} if search else {}

    @classmethod
    def for_tasks(cls, tasks: Sequence[Task]) -> "ReferenceJudge":
        """A judge whose default search index is the tasks' own passages, for steps that record no search."""
        has_passages = any(t.passages for t in tasks)
        return cls(build_tool("search", tasks=tasks) if has_passages else None)  # type: ignore[arg-type]

    def search_for(self, step: StepToJudge) -> SearchTool | None:
        """The search the policy had in this step: the recorded corpus and top-k, else the default."""
        if step.search is None:
            return self.search
        if step.search not in self._searches:
            self._searches[step.search] = SearchTool.from_settings(step.search)
        return self._searches[step.search]

    def judge(self, steps: list[StepToJudge]) -> list[StepJudgement]:
        return [self._judge_one(step) for step in steps]

    def _label(self, good: bool, why: str) -> StepJudgement:
        return StepJudgement(
            verdict="GOOD" if good else "BAD", score=1.0 if good else 0.0, rationale=why, judge=self.name, mode="reference"
        )

    def _judge_one(self, step: StepToJudge) -> StepJudgement:
        action = parse_action(step.action_text, step.action_tags())
        task = step.task
        if action.kind == "invalid":
            return self._label(False, f"invalid action: {action.problem}")
        if action.kind == "answer":
            answer = action.answer or ""
            if task.task_type == "math":
                right = numeric_match(answer, task.answer)
            else:
                right = exact_match(answer, task.gold_answers) == 1.0
            return self._label(right, f"answer {'matches' if right else 'does not match'} the gold answer")
        if action.tool == CalculatorTool.name:
            return self._judge_calculation(action.query or "", step)
        if action.tool == SearchTool.name:
            return self._judge_search(action.query or "", step)
        return self._label(False, f"no gold reference for calls of tool {action.tool!r}")

    def _judge_calculation(self, expression: str, step: StepToJudge) -> StepJudgement:
        task = step.task
        if task.task_type != "math":
            return self._label(False, "calculator call on a non-math task")
        try:
            value = evaluate(expression)
        except CalculatorError as error:
            return self._label(False, f"calculator error: {error}")
        targets = [c.result for c in task.calculations]
        if not any(numeric_match(task.answer, t) for t in targets):
            targets.append(task.answer)
        hit = next((t for t in targets if numeric_match(value, t)), None)
        if hit is None:
            return self._label(False, f"value {value} is not an intermediate result of the gold solution")
        # Each gold result earns one GOOD: a policy must not gain reward by repeating a calculation.
        earned = sum(numeric_match(earlier, hit) for earlier in _values_computed(step))
        if earned >= sum(numeric_match(t, hit) for t in targets):
            return self._label(False, f"value {value} repeats a gold result already computed")
        return self._label(True, f"value {value} matches gold result {hit}")

    def _judge_search(self, query: str, step: StepToJudge) -> StepJudgement:
        search = self.search_for(step)
        if search is None or not step.task.supporting_titles:
            return self._label(False, "search on a task without supporting paragraphs")
        supporting = set(step.task.supporting_titles)
        retrieved_before = {title for title in _titles_seen(step) if title in supporting}
        titles = [p.title for p in search.search(query)] if query.strip() else []
        new = [t for t in titles if t in supporting and t not in retrieved_before]
        if new:
            return self._label(True, f"retrieves supporting paragraph {new[0]!r}")
        if any(t in supporting for t in titles):
            return self._label(False, "retrieves only supporting paragraphs already found")
        return self._label(False, "retrieves no supporting paragraph")


_RESULT_TITLE = re.compile(r"^Title: (.+)$", re.MULTILINE)


def _titles_seen(step: StepToJudge) -> list[str]:
    """Titles of passages that earlier search results in the state showed."""
    return [
        title.strip()
        for message in history_after_question(step.state)
        if message["role"] == "user"
        for title in _RESULT_TITLE.findall(message["content"])
    ]


def _values_computed(step: StepToJudge) -> list[str]:
    """Values of the calculator calls that earlier actions in the state made."""
    values = []
    for message in history_after_question(step.state):
        if message["role"] != "assistant":
            continue
        action = parse_action(message["content"], step.action_tags())
        if action.kind == "tool" and action.tool == CalculatorTool.name:
            try:
                values.append(evaluate(action.query or ""))
            except CalculatorError:
                continue
    return values
