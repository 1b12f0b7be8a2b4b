"""Tools a model calls during a trajectory, and :func:`build_tool`, which turns a tool name into one.

Builtin tools: ``calculator`` (``<math_exp>``) and ``search`` (``<search_query>``); any other
tool is given as ``module.path:attribute`` (see :func:`load_tool`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from swirl.errors import SwirlError
from swirl.prompts import default_tools
from swirl.records import Task, TaskType
from swirl.tools.base import FunctionTool, Tool, load_tool, run_tool
from swirl.tools.calculator import CalculatorTool
from swirl.tools.search import SearchTool

_BUILTIN_CLASSES: dict[str, type[Tool]] = {CalculatorTool.name: CalculatorTool, SearchTool.name: SearchTool}
BUILTIN_TOOLS = tuple(_BUILTIN_CLASSES)

__all__ = [
    "BUILTIN_TOOLS",
    "CalculatorTool",
    "FunctionTool",
    "SearchTool",
    "Tool",
    "build_tool",
    "default_tool_tags",
    "tool_tags",
    "load_tool",
    "run_tool",
]


def build_tool(
    name_or_spec: str,
    *,
    tasks: Iterable[Task] | None = None,
    corpus_path: str | Path | None = None,
    top_k: int = 1,
    max_chars: int = 600,
) -> Tool:
    """The tool called ``name_or_spec``: a builtin name or a ``module.path:attribute`` spec.

    ``search`` indexes ``corpus_path`` when given, else the passages of ``tasks`` (the
    split's own closed corpus); ``top_k`` and ``max_chars`` only apply to it.
    """
    name = name_or_spec.strip()
    if name == "calculator":
        return CalculatorTool()
    if name == "search":
        if corpus_path is not None:
            return SearchTool.from_corpus_file(corpus_path, top_k=top_k, max_chars=max_chars)
        if tasks is None:
            raise SwirlError("the search tool needs a corpus file or tasks with passages to index")
        return SearchTool.from_tasks(tasks, top_k=top_k, max_chars=max_chars)
    if ":" in name:
        return load_tool(name)
    raise SwirlError(
        f"unknown tool {name!r}: use {' or '.join(BUILTIN_TOOLS)}, or module.path:attribute for your own"
    )


def tool_tags(tools: Sequence[Tool | str]) -> dict[str, str]:
    """Tag -> name of each tool, given as a :class:`Tool` or a spec as :func:`build_tool` takes.

    Builtin tools are not built (no search index is needed to know a tag); other specs are loaded.
    """
    tags: dict[str, str] = {}
    for tool in tools:
        if isinstance(tool, str):
            name = tool.strip()
            tool = _BUILTIN_CLASSES[name] if name in _BUILTIN_CLASSES else build_tool(name)  # type: ignore[assignment]
        tags[tool.tag] = tool.name  # type: ignore[union-attr]
    return tags


def default_tool_tags(task_type: TaskType) -> dict[str, str]:
    """Tag -> name of the tools a task type uses when none are given (:func:`swirl.prompts.default_tools`)."""
    return tool_tags(default_tools(task_type))
