"""The tool interface: what a model can call by writing ``<tag>query</tag>``, and how calls are guarded.

A tool turns the text between its tags into observation text. :func:`run_tool` is the one
place that calls tools during a run, so a failing tool becomes an ``Error: ...`` observation
instead of crashing the run. :func:`load_tool` imports user-defined tools from
``module.path:attribute`` specs.
"""

from __future__ import annotations

import importlib
import inspect
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from swirl.errors import SwirlError

ERROR_PREFIX = "Error: "
_MAX_ERROR_CHARS = 200
# Tags are matched literally as <tag>...</tag> in model output, so keep them to plain identifiers.
_TAG_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Tool(ABC):
    """A tool the model calls by writing ``<tag>text</tag>``; :meth:`call` returns the observation."""

    name: str
    """Short identifier, e.g. ``"search"``; recorded in trajectories."""
    tag: str
    """The tag the model writes, e.g. ``"search_query"``."""
    description: str
    """One or two sentences for the prompt, saying what the tool does and what to write."""

    @abstractmethod
    def call(self, text: str) -> str:
        """Answer one query with observation text."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, tag={self.tag!r})"


def error_message(exc: BaseException) -> str:
    """One short line describing ``exc``, for an ``Error: ...`` observation."""
    lines = str(exc).strip().splitlines()
    message = lines[0].strip() if lines else ""
    if not message:
        message = type(exc).__name__
    if len(message) > _MAX_ERROR_CHARS:
        message = message[: _MAX_ERROR_CHARS - 1] + "…"
    return message


def run_tool(tool: Tool, text: str) -> tuple[str, bool]:
    """Call ``tool`` on ``text``; return ``(observation, ok)`` and never raise.

    Any exception becomes ``("Error: <message>", False)``. An observation a tool itself
    returns starting with ``"Error: "`` (e.g. the calculator's) also counts as not ok.
    """
    try:
        result = tool.call(text)
    except Exception as exc:  # a tool failure must never end a run
        return ERROR_PREFIX + error_message(exc), False
    if not isinstance(result, str):
        return f"{ERROR_PREFIX}tool {tool.name!r} returned {type(result).__name__}, not text", False
    return result, not result.startswith(ERROR_PREFIX)


def _check_identifier(kind: str, value: str) -> str:
    if not _TAG_PATTERN.fullmatch(value):
        raise SwirlError(f"invalid tool {kind} {value!r}: use letters, digits and underscores")
    return value


class FunctionTool(Tool):
    """A plain function ``fn(query: str) -> str`` used as a tool.

    ``name`` and ``tag`` default to the function's name, ``description`` to the first line
    of its docstring. A non-string return value is converted with ``str``.
    """

    def __init__(
        self,
        fn: Callable[[str], Any],
        name: str | None = None,
        tag: str | None = None,
        description: str | None = None,
    ) -> None:
        if not callable(fn):
            raise SwirlError(f"{fn!r} is not callable")
        self.fn = fn
        default_name = getattr(fn, "__name__", type(fn).__name__)
        self.name = _check_identifier("name", name or default_name)
        self.tag = _check_identifier("tag", tag or self.name)
        doc = inspect.getdoc(fn) or ""
        first_line = doc.strip().splitlines()[0].strip() if doc.strip() else ""
        self.description = description or first_line or f"Calls the function {self.name}."

    def call(self, text: str) -> str:
        return str(self.fn(text))


def _resolve(spec: str) -> Any:
    module_name, sep, attr_path = spec.partition(":")
    module_name, attr_path = module_name.strip(), attr_path.strip()
    if not sep or not module_name or not attr_path:
        raise SwirlError(f"bad tool spec {spec!r}: expected 'module.path:attribute'")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:  # an import can fail in arbitrary ways inside user code
        raise SwirlError(f"cannot import module {module_name!r} for tool {spec!r}: {error_message(exc)}") from exc
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise SwirlError(f"tool spec {spec!r}: {module_name!r} has no attribute {attr_path!r}") from None
    return obj


def load_tool(spec: str, **kwargs: Any) -> Tool:
    """Load a tool from ``"module.path:attr"``.

    ``attr`` may be a :class:`Tool` subclass (instantiated with ``kwargs``), a :class:`Tool`
    instance (used as is; ``kwargs`` must be empty) or a plain function (wrapped in
    :class:`FunctionTool`, ``kwargs`` being its ``name``/``tag``/``description``).
    Every failure is a :class:`SwirlError` with a one-line message.
    """
    obj = _resolve(spec)
    if isinstance(obj, type) and issubclass(obj, Tool):
        if inspect.isabstract(obj):
            raise SwirlError(f"tool spec {spec!r}: {obj.__name__} is abstract (it must implement call)")
        try:
            return obj(**kwargs)
        except Exception as exc:  # constructors are user code
            raise SwirlError(f"tool spec {spec!r}: cannot create {obj.__name__}: {error_message(exc)}") from exc
    if isinstance(obj, Tool):
        if kwargs:
            raise SwirlError(f"tool spec {spec!r} names a tool instance; it takes no options")
        return obj
    if callable(obj) and not isinstance(obj, type):
        try:
            return FunctionTool(obj, **kwargs)
        except TypeError as exc:
            raise SwirlError(f"tool spec {spec!r}: {error_message(exc)}") from exc
    raise SwirlError(f"tool spec {spec!r} is not a Tool subclass, a Tool instance or a function")
