"""Prompts of the multi-step rollouts: the initial system/user messages and the texts of later user turns.

Stage 1 (generate) starts every trajectory with :func:`build_messages`, sends each tool result
back with :func:`format_observation` and each malformed turn back with
:func:`format_invalid_feedback`. Every trajectory records :data:`PROMPT_VERSION`, so change it
whenever any text here changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from swirl.actions import ANSWER_TAG, neutralize_tags, tagged
from swirl.records import ChatMessage, Task, TaskType

PROMPT_VERSION = "swirl-prompts-v1"

RESULT_TAG = "result"
"""Delimits a tool result inside an observation message."""

TRUNCATION_MARK = " …[truncated]"

_MAX_STEPS: dict[str, int] = {"math": 10, "qa": 5}
_TOOLS: dict[str, list[str]] = {"math": ["calculator"], "qa": ["search"]}


class ToolLike(Protocol):
    """What a prompt needs to know about a tool; the tool classes satisfy it as they are."""

    @property
    def name(self) -> str: ...

    @property
    def tag(self) -> str: ...

    @property
    def description(self) -> str: ...


@dataclass(frozen=True)
class ToolSpec:
    """A tool described by value, for prompts built without instantiating the tool."""

    name: str
    tag: str
    description: str


def default_max_steps(task_type: TaskType) -> int:
    """The paper's step limit: 10 for math (GSM8K), 5 for multi-hop QA."""
    return _MAX_STEPS[_checked(task_type)]


def step_limit(task_type: TaskType, max_steps: int) -> int:
    """The step limit of a trajectory: ``max_steps`` when set, 0 meaning the task type's default."""
    if max_steps < 0:
        raise ValueError(f"max_steps must be 0 (the task type's default) or positive, not {max_steps}")
    return max_steps or default_max_steps(task_type)


DEFAULT_STEP_LIMITS = ", ".join(f"{n} for {t}" for t, n in _MAX_STEPS.items())
"""The default step limits in words, for help texts and reports."""
MAX_STEPS_HELP = f"Step limit of a trajectory (0 = {DEFAULT_STEP_LIMITS})."


def default_tools(task_type: TaskType) -> list[str]:
    """Names of the tools a task type uses by default: the calculator for math, search for QA."""
    return list(_TOOLS[_checked(task_type)])


def _checked(task_type: str) -> str:
    if task_type not in _MAX_STEPS:
        raise ValueError(f"unknown task type {task_type!r}; expected one of {sorted(_MAX_STEPS)}")
    return task_type


_INTRO = {
    "math": "You solve math word problems step by step.",
    "qa": "You answer questions that may need several facts, step by step.",
}

_ANSWER_FORMAT = {
    "math": (
        "The final answer is just the number, with no units, words or working, e.g. " + tagged(ANSWER_TAG, "42") + "."
    ),
    "qa": (
        "The final answer is short: an entity, name, date, number or phrase, or yes/no for a "
        "yes-or-no question, with no explanation, e.g. " + tagged(ANSWER_TAG, "Bucharest") + "."
    ),
}

# Inputs shown after each tool's description; a tool not listed gets a placeholder.
_TOOL_INPUT_EXAMPLES = {"calculator": "(120 - 15) * 4 / 3", "search": "Eiffel Tower architect"}

# Worked examples as (thought, tool input or None for the answer turn, tool result or answer).
# They are generic on purpose, not drawn from the datasets.
_WORKED_EXAMPLES: dict[str, tuple[str, list[tuple[str, str | None, str]]]] = {
    "math": (
        "A baker makes 3 trays of 12 muffins and sells 20 of them. How many muffins are left?",
        [
            ("The baker made 3 trays of 12 muffins.", "3 * 12", "36"),
            ("20 of the 36 muffins were sold.", "36 - 20", "16"),
            ("16 muffins are left.", None, "16"),
        ],
    ),
    "qa": (
        "What is the capital of the country where the Danube flows into the sea?",
        [
            (
                "I need the country where the Danube reaches the sea.",
                "Danube river mouth country",
                "The Danube flows into the Black Sea through the Danube Delta, most of which lies in Romania.",
            ),
            (
                "The delta is in Romania, so I need the capital of Romania.",
                "capital of Romania",
                "Bucharest is the capital and largest city of Romania.",
            ),
            ("The capital of Romania is Bucharest.", None, "Bucharest"),
        ],
    ),
}

_DIRECT_EXAMPLES = {
    "math": (
        "Tom has 3 bags of 4 apples and eats 2 apples. How many apples does he have left?",
        "3 bags of 4 apples make 12 apples; after eating 2 he has 10.",
        "10",
    ),
    "qa": (
        "Which ocean lies between Europe and North America?",
        "Europe and North America face each other across the Atlantic.",
        "Atlantic Ocean",
    ),
}


def build_messages(task: Task, tools: Sequence[ToolLike], max_steps: int) -> list[ChatMessage]:
    """The initial state of a trajectory: a system prompt explaining the action format, then the question."""
    system = _tool_prompt(task.task_type, tools, max_steps) if tools else _direct_prompt(task.task_type)
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": f"Question: {task.question.strip()}"},
    ]


def _tool_prompt(task_type: TaskType, tools: Sequence[ToolLike], max_steps: int) -> str:
    tool_lines = []
    for tool in tools:
        example = _TOOL_INPUT_EXAMPLES.get(tool.name, "...")
        tool_lines.append(f"- {tool.name}: {tool.description.strip()}\n  Example: {tagged(tool.tag, example)}")
    sections = [
        _INTRO[task_type],
        (
            "In each turn, first think briefly in plain text, then do exactly one of:\n"
            "- call exactly one tool by writing <TAG>input</TAG> with that tool's tag, or\n"
            f"- give the final answer as {tagged(ANSWER_TAG, '...')}.\n"
            "Never call a tool and give the answer in the same turn, and stop writing right "
            "after the closing tag. The tool's result comes back in the next message, inside "
            f"<{RESULT_TAG}>...</{RESULT_TAG}>. Do not repeat a tool call you have already made. "
            f"You have at most {max_steps} turns in total, so give the final answer before they run out."
        ),
        "Available tools:\n" + "\n".join(tool_lines),
        _ANSWER_FORMAT[task_type],
        _worked_example(task_type, tools),
    ]
    return "\n\n".join(sections)


def _direct_prompt(task_type: TaskType) -> str:
    question, thought, answer = _DIRECT_EXAMPLES[task_type]
    sections = [
        _INTRO[task_type],
        (
            "No tools are available. Think briefly in plain text, then give the final answer "
            f"directly as {tagged(ANSWER_TAG, '...')} and stop writing right after </{ANSWER_TAG}>."
        ),
        _ANSWER_FORMAT[task_type],
        f"Example of the format (not your question):\nQuestion: {question}\nYou: {thought} {tagged(ANSWER_TAG, answer)}",
    ]
    return "\n\n".join(sections)


def _worked_example(task_type: TaskType, tools: Sequence[ToolLike]) -> str:
    example_tool = _TOOLS[task_type][0]
    tag = next((tool.tag for tool in tools if tool.name == example_tool), None)
    if tag is None:
        # The example would show a tool the model cannot call; a direct answer misleads less.
        question, thought, answer = _DIRECT_EXAMPLES[task_type]
        turns = [f"You: {thought} {tagged(ANSWER_TAG, answer)}"]
    else:
        question, steps = _WORKED_EXAMPLES[task_type]
        turns = []
        for thought, tool_input, output in steps:
            if tool_input is None:
                turns.append(f"You: {thought} {tagged(ANSWER_TAG, output)}")
            else:
                turns.append(f"You: {thought} {tagged(tag, tool_input)}")
                turns.append(f"Tool: <{RESULT_TAG}>{output}</{RESULT_TAG}>")
    return "Example of the format (not your question):\nQuestion: " + question + "\n" + "\n".join(turns)


def format_observation(tool_name: str, result: str, max_chars: int = 1500, tags: Iterable[str] = ()) -> str:
    """The user message carrying a tool result back to the model.

    The result is untrusted (retrieved passages, echoed input), so every form of the answer tag,
    of ``tags`` (the tags of the tools in use) and of ``result`` in it is neutralized: it can
    neither be parsed as an action nor close the ``<result>`` block early. It is then cut to
    ``max_chars`` characters plus a truncation mark.
    """
    text = neutralize_tags(result.strip(), [ANSWER_TAG, *tags, RESULT_TAG])
    if len(text) > max_chars:
        text = text[:max_chars].rstrip() + TRUNCATION_MARK
    if not text:
        text = "(empty result)"
    return (
        f"Result from {tool_name}:\n<{RESULT_TAG}>\n{text}\n</{RESULT_TAG}>\n\n"
        "Continue: think, then call one tool or give the final answer."
    )


def format_invalid_feedback(problem: str) -> str:
    """The user message sent back after a turn that :func:`swirl.actions.parse_action` found invalid."""
    return (
        f"Your last message had no valid action ({problem}). "
        f"Write either one tool call or {tagged(ANSWER_TAG, '...')}."
    )
