"""The tool interface: guarded calls, function tools, loading tools from specs, builtin names."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator

import pytest

from swirl.errors import SwirlError
from swirl.records import Passage, Task
from swirl.tools import CalculatorTool, SearchTool, Tool, build_tool, load_tool, run_tool
from swirl.tools.base import FunctionTool


class Exploding(Tool):
    name = "boom"
    tag = "boom"
    description = "Always fails."

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def call(self, text: str) -> str:
        raise self.exc


class Echo(Tool):
    name = "echo"
    tag = "echo"
    description = "Repeats its input."

    def call(self, text: str) -> str:
        return text


@pytest.mark.parametrize(
    ("exc", "observation"),
    [
        (RuntimeError("backend down"), "Error: backend down"),
        (ValueError("first line\nsecond line"), "Error: first line"),
        (KeyError(), "Error: KeyError"),
        (RecursionError("maximum recursion depth exceeded"), "Error: maximum recursion depth exceeded"),
        (MemoryError(), "Error: MemoryError"),
    ],
)
def test_run_tool_turns_exceptions_into_error_observations(exc: Exception, observation: str) -> None:
    assert run_tool(Exploding(exc), "anything") == (observation, False)


def test_run_tool_shortens_long_messages() -> None:
    observation, ok = run_tool(Exploding(RuntimeError("x" * 1000)), "q")
    assert not ok
    assert observation.startswith("Error: xxx")
    assert len(observation) < 250


def test_run_tool_success_and_non_text_results() -> None:
    assert run_tool(Echo(), "hello") == ("hello", True)
    weird = Echo()
    weird.call = lambda text: 42  # type: ignore[method-assign]
    observation, ok = run_tool(weird, "q")
    assert observation.startswith("Error: ") and "int" in observation
    assert not ok


def test_tool_is_abstract() -> None:
    with pytest.raises(TypeError):
        Tool()  # type: ignore[abstract]


def word_count(query: str) -> str:
    """Counts the words of the query.

    More details that are not part of the prompt.
    """
    return str(len(query.split()))


def test_function_tool_defaults_from_the_function() -> None:
    tool = FunctionTool(word_count)
    assert (tool.name, tool.tag) == ("word_count", "word_count")
    assert tool.description == "Counts the words of the query."
    assert tool.call("a b c") == "3"
    assert run_tool(tool, "a b") == ("2", True)


def test_function_tool_overrides_and_conversion() -> None:
    tool = FunctionTool(lambda q: len(q), name="length", tag="len_query", description="Measures text.")
    assert (tool.name, tool.tag, tool.description) == ("length", "len_query", "Measures text.")
    assert tool.call("abcd") == "4"


def test_function_tool_rejects_unusable_tags() -> None:
    with pytest.raises(SwirlError, match="invalid tool name"):
        FunctionTool(lambda q: q)  # "<lambda>" cannot be written as a tag
    with pytest.raises(SwirlError, match="invalid tool tag"):
        FunctionTool(word_count, tag="bad tag>")


MODULE_SOURCE = textwrap.dedent(
    '''
    from swirl.tools import Tool

    class Shout(Tool):
        name = "shout"
        tag = "shout"
        description = "Upper-cases text."

        def __init__(self, suffix: str = "!") -> None:
            self.suffix = suffix

        def call(self, text: str) -> str:
            return text.upper() + self.suffix

    class Broken(Tool):
        name = "broken"
        tag = "broken"
        description = "Cannot be built."

        def __init__(self) -> None:
            raise RuntimeError("missing API key")

        def call(self, text: str) -> str:
            return text

    class Incomplete(Tool):
        name = "incomplete"
        tag = "incomplete"
        description = "Has no call."

    INSTANCE = Shout("?")

    def reverse(query: str) -> str:
        """Reverses the query."""
        return query[::-1]

    NUMBER = 3

    class Holder:
        tool = staticmethod(reverse)
    '''
)


@pytest.fixture
def tool_module(tmp_path, monkeypatch) -> Iterator[str]:
    (tmp_path / "my_swirl_tools.py").write_text(MODULE_SOURCE)
    (tmp_path / "failing_swirl_tools.py").write_text("raise ImportError('needs a GPU library')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_swirl_tools"
    sys.modules.pop("my_swirl_tools", None)


def test_load_tool_subclass_instance_and_function(tool_module: str) -> None:
    shout = load_tool(f"{tool_module}:Shout")
    assert shout.call("hi") == "HI!"
    assert load_tool(f"{tool_module}:Shout", suffix="?!").call("hi") == "HI?!"
    assert load_tool(f"{tool_module}:INSTANCE").call("hi") == "HI?"
    reverse = load_tool(f"{tool_module}:reverse")
    assert (reverse.name, reverse.tag, reverse.description) == ("reverse", "reverse", "Reverses the query.")
    assert reverse.call("abc") == "cba"
    assert load_tool(f"{tool_module}:Holder.tool").call("xy") == "yx"
    assert load_tool(f"{tool_module}:reverse", tag="rev").tag == "rev"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_colon_here", "expected 'module.path:attribute'"),
        (":reverse", "expected 'module.path:attribute'"),
        ("my_swirl_tools:", "expected 'module.path:attribute'"),
        ("no_such_module_xyz:thing", "cannot import module 'no_such_module_xyz'"),
        ("failing_swirl_tools:thing", "needs a GPU library"),
        ("my_swirl_tools:missing", "has no attribute 'missing'"),
        ("my_swirl_tools:NUMBER", "is not a Tool subclass, a Tool instance or a function"),
        ("my_swirl_tools:Broken", "cannot create Broken: missing API key"),
        ("my_swirl_tools:Incomplete", "Incomplete is abstract"),
    ],
)
def test_load_tool_errors_are_one_line_swirl_errors(tool_module: str, spec: str, message: str) -> None:
    with pytest.raises(SwirlError, match=message) as info:
        load_tool(spec)
    assert "\n" not in str(info.value)


def test_load_tool_rejects_options_it_cannot_use(tool_module: str) -> None:
    with pytest.raises(SwirlError, match="takes no options"):
        load_tool(f"{tool_module}:INSTANCE", suffix="!")
    with pytest.raises(SwirlError, match="unexpected keyword"):
        load_tool(f"{tool_module}:Shout", volume=11)
    with pytest.raises(SwirlError):
        load_tool(f"{tool_module}:reverse", volume=11)


def test_build_tool_builtins_and_specs(tool_module: str, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SWIRL_CACHE_DIR", str(tmp_path / "cache"))
    assert isinstance(build_tool("calculator"), CalculatorTool)
    assert build_tool(f"{tool_module}:reverse").call("ab") == "ba"

    tasks = [
        Task(
            id="q1",
            question="?",
            answer="a",
            task_type="qa",
            source="test",
            passages=[Passage(title="Ada Lovelace", text="Ada Lovelace wrote the first program.")],
        )
    ]
    from_tasks = build_tool("search", tasks=tasks, top_k=2, max_chars=10)
    assert isinstance(from_tasks, SearchTool)
    assert (from_tasks.top_k, from_tasks.max_chars) == (2, 10)
    assert from_tasks.call("Lovelace program") == "Title: Ada Lovelace\nAda Lovela…"

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({"title": "Grace Hopper", "text": "Grace Hopper built compilers."}) + "\n")
    from_file = build_tool("search", tasks=tasks, corpus_path=corpus)
    assert from_file.search("compilers")[0].title == "Grace Hopper"

    with pytest.raises(SwirlError, match="needs a corpus file or tasks"):
        build_tool("search")
    with pytest.raises(SwirlError, match="unknown tool 'wikipedia'"):
        build_tool("wikipedia")
