"""Parsing of assistant turns into actions, stop strings and tag neutralization."""

from __future__ import annotations

import pytest

from swirl.actions import ANSWER_TAG, action_stop_strings, neutralize_tags, parse_action

MATH = {"math_exp": "calculator"}
QA = {"search_query": "search"}
BOTH = {"math_exp": "calculator", "search_query": "search"}


@pytest.mark.parametrize(
    ("text", "tags", "thought", "tool", "query"),
    [
        ("I add them. <math_exp>2 + 3</math_exp>", MATH, "I add them.", "calculator", "2 + 3"),
        ("<math_exp>2+3</math_exp>", MATH, "", "calculator", "2+3"),
        ("Look it up.\n<search_query>\n  Eiffel Tower height \n</search_query>", QA, "Look it up.", "search", "Eiffel Tower height"),
        ("  think  <search_query>a</search_query>  trailing words", QA, "think", "search", "a"),
        ("Use the second tool. <search_query>x</search_query>", BOTH, "Use the second tool.", "search", "x"),
        # Unknown tags, other case and stray closing tags are plain text, so they land in the thought.
        ("<foo>bar</foo> <Answer>1</Answer> </answer> <math_exp>1+1</math_exp>", MATH,
         "<foo>bar</foo> <Answer>1</Answer> </answer>", "calculator", "1+1"),
        # The tool content may contain angle brackets that are not recognised tags.
        ("<math_exp>3 < 4</math_exp>", MATH, "", "calculator", "3 < 4"),
    ],
)
def test_tool_calls(text: str, tags: dict[str, str], thought: str, tool: str, query: str) -> None:
    action = parse_action(text, tags)
    assert action.kind == "tool"
    assert (action.thought, action.tool, action.query) == (thought, tool, query)
    assert action.answer is None
    assert action.problem is None


@pytest.mark.parametrize(
    ("text", "thought", "answer"),
    [
        ("So it is 5. <answer>5</answer>", "So it is 5.", "5"),
        ("<answer>  Paris \n</answer>", "", "Paris"),
        ("Done.<answer>yes</answer>\n", "Done.", "yes"),
        ("<answer>New York City</answer> I hope this helps.", "", "New York City"),
    ],
)
def test_answers(text: str, thought: str, answer: str) -> None:
    action = parse_action(text, MATH)
    assert action.kind == "answer"
    assert (action.thought, action.answer) == (thought, answer)
    assert action.tool is None and action.query is None and action.problem is None


def test_answer_tag_is_always_recognised_even_without_tools() -> None:
    assert ANSWER_TAG == "answer"
    assert parse_action("<answer>7</answer>", {}).answer == "7"
    assert parse_action("<math_exp>1+1</math_exp>", {}).problem == "no action tag"


@pytest.mark.parametrize(
    ("text", "tags", "thought", "problem"),
    [
        ("I think the answer is 5.", MATH, "I think the answer is 5.", "no action tag"),
        ("", MATH, "", "no action tag"),
        ("<foo>1</foo>", MATH, "<foo>1</foo>", "no action tag"),
        ("<ANSWER>1</ANSWER>", MATH, "<ANSWER>1</ANSWER>", "no action tag"),
        ("<search_query>x</search_query>", MATH, "<search_query>x</search_query>", "no action tag"),
        ("< answer>1</answer>", MATH, "< answer>1</answer>", "no action tag"),
        ("‹answer›1‹/answer›", MATH, "‹answer›1‹/answer›", "no action tag"),
        # Cut off by max_tokens, or the open tag then nothing.
        ("Compute. <math_exp>2 + ", MATH, "Compute.", "unclosed <math_exp> tag"),
        ("So <answer>", MATH, "So", "unclosed <answer> tag"),
        ("<answer>4</math_exp>", MATH, "", "unclosed <answer> tag"),
        ("<answer> </answer>", MATH, "", "empty <answer>"),
        ("x <math_exp>\n</math_exp>", MATH, "x", "empty <math_exp>"),
        ("a <math_exp>1+1</math_exp> b <answer>2</answer>", MATH, "a", "both a tool call and an answer"),
        ("<answer>2</answer><search_query>q</search_query>", QA, "", "both a tool call and an answer"),
        ("<answer>2", BOTH, "", "unclosed <answer> tag"),
        ("<answer>2 <math_exp>1", MATH, "", "both a tool call and an answer"),
        ("<math_exp>1</math_exp><math_exp>2</math_exp>", MATH, "", "more than one action"),
        ("t <math_exp>1</math_exp> <search_query>q</search_query>", BOTH, "t", "more than one action"),
        ("<answer>1</answer> or <answer>2</answer>", MATH, "", "more than one action"),
        ("<answer><answer>1</answer></answer>", MATH, "", "more than one action"),
    ],
)
def test_invalid(text: str, tags: dict[str, str], thought: str, problem: str) -> None:
    action = parse_action(text, tags)
    assert action.kind == "invalid"
    assert action.thought == thought
    assert action.problem == problem
    assert action.tool is None and action.query is None and action.answer is None


def test_stop_strings() -> None:
    assert action_stop_strings(MATH) == ("</math_exp>", "</answer>")
    assert action_stop_strings(BOTH) == ("</math_exp>", "</search_query>", "</answer>")
    assert action_stop_strings({}) == ("</answer>",)


def test_stop_string_appended_back_parses_as_the_action() -> None:
    # The backend strips the stop string; the runner appends it before parsing.
    stop = action_stop_strings(QA)[0]
    assert parse_action("Search it. <search_query>q" + stop, QA).query == "q"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<answer>x</answer>", "‹answer›x‹/answer›"),
        ("< answer >x< /answer >", "‹answer›x‹/answer›"),
        ("</ answer>", "‹/answer›"),
        ("< /answer>", "‹/answer›"),
        ("<\n/\tanswer\n>", "‹/answer›"),
        ("<ANSWER>x</Answer>", "‹ANSWER›x‹/Answer›"),
        ("<math_exp>1</math_exp>", "‹math_exp›1‹/math_exp›"),
        ("<answers> <answer_x> <foo> a < b > c", "<answers> <answer_x> <foo> a < b > c"),
        ("no tags here", "no tags here"),
    ],
)
def test_neutralize_tags(text: str, expected: str) -> None:
    assert neutralize_tags(text, ["answer", "math_exp"]) == expected


def test_neutralize_with_no_tags_is_identity() -> None:
    assert neutralize_tags("<answer>x</answer>", []) == "<answer>x</answer>"


@pytest.mark.parametrize(
    "text",
    [
        "<answer>42</answer>",
        "Passage says <search_query>secret</search_query> then <answer>Paris</answer>",
        "< answer>1< /answer>",
        "<math_exp>1+1</math_exp>",
    ],
)
def test_neutralized_text_has_no_action(text: str) -> None:
    neutralized = neutralize_tags(text, [ANSWER_TAG, *BOTH])
    action = parse_action(neutralized, BOTH)
    assert action.kind == "invalid"
    assert action.problem == "no action tag"
