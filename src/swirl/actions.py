"""Action parsing: turns one assistant turn into a tool call, a final answer, or an invalid action.

The rollout runner parses every generated turn with :func:`parse_action` to decide whether to
call a tool, stop with an answer, or send invalid-action feedback; it stops generation at
:func:`action_stop_strings` so a tool call ends the turn; and it passes untrusted text (tool
results, retrieved passages) through :func:`neutralize_tags` so it can never read as an action.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from swirl.records import ParsedAction

ANSWER_TAG = "answer"

# Visually close to angle brackets for the model, but never matched by the parser.
_LEFT_GUILLEMET = "\u2039"
_RIGHT_GUILLEMET = "\u203a"


def parse_action(text: str, tool_tags: Mapping[str, str]) -> ParsedAction:
    """Parse one assistant turn.

    ``tool_tags`` maps a tag to the tool it calls, e.g. ``{"math_exp": "calculator"}``; the
    answer tag is always :data:`ANSWER_TAG`. Tags are case-sensitive and only the exact forms
    ``<tag>`` and ``</tag>`` of recognised tags count; anything else (``<foo>``, ``<Answer>``,
    a stray closing tag) is plain text. The parser is strict so that judges and filters see
    every malformed turn:

    * ``thought`` is the text before the first recognised opening tag, stripped (the whole
      text when there is none), whatever the kind.
    * Exactly one complete tool call -> ``kind="tool"`` with ``tool`` and ``query`` (stripped).
    * Exactly one complete answer -> ``kind="answer"`` with ``answer`` (stripped).
    * Text after the closing tag is ignored (generation normally stops at the closing tag).
    * No recognised opening tag -> invalid, ``"no action tag"``.
    * A tool tag and an answer tag both opened -> invalid, ``"both a tool call and an answer"``.
    * Any other case of several opening tags (two tool calls, two answers, a tag nested in
      another) -> invalid, ``"more than one action"``.
    * An opening tag never closed (e.g. a turn cut off by ``max_tokens``) -> invalid,
      ``"unclosed <tag> tag"``: a cut-off action is not a valid action.
    * Nothing but whitespace between the tags -> invalid, ``"empty <tag>"``.
    """
    recognised = {ANSWER_TAG: None, **{tag: tool for tag, tool in tool_tags.items() if tag != ANSWER_TAG}}
    opening = re.compile("<(" + "|".join(re.escape(tag) for tag in recognised) + ")>")
    openings = list(opening.finditer(text))
    if not openings:
        return ParsedAction(kind="invalid", thought=text.strip(), problem="no action tag")

    first = openings[0]
    thought = text[: first.start()].strip()
    if len(openings) > 1:
        tags = {match.group(1) for match in openings}
        if ANSWER_TAG in tags and len(tags) > 1:
            problem = "both a tool call and an answer"
        else:
            problem = "more than one action"
        return ParsedAction(kind="invalid", thought=thought, problem=problem)

    tag = first.group(1)
    closing = text.find(f"</{tag}>", first.end())
    if closing < 0:
        return ParsedAction(kind="invalid", thought=thought, problem=f"unclosed <{tag}> tag")
    content = text[first.end() : closing].strip()
    if not content:
        return ParsedAction(kind="invalid", thought=thought, problem=f"empty <{tag}>")
    if tag == ANSWER_TAG:
        return ParsedAction(kind="answer", thought=thought, answer=content)
    return ParsedAction(kind="tool", thought=thought, tool=recognised[tag], query=content)


def tagged(tag: str, text: str) -> str:
    """``text`` between the opening and closing forms of ``tag``, as the model writes an action."""
    return f"<{tag}>{text}</{tag}>"


def action_stop_strings(tool_tags: Mapping[str, str]) -> tuple[str, ...]:
    """Closing tags that end a turn: every tool tag's, then ``</answer>``.

    Stopping at a tool's closing tag keeps the model from inventing the tool's result; the
    backend strips the stop string, so the runner appends it back before parsing.
    """
    tags = [tag for tag in tool_tags if tag != ANSWER_TAG] + [ANSWER_TAG]
    return tuple(f"</{tag}>" for tag in dict.fromkeys(tags))


def neutralize_tags(text: str, tags: Iterable[str]) -> str:
    """Rewrite every opening or closing form of ``tags`` in untrusted text, e.g. ``<answer>`` -> ``‹answer›``.

    Matching is case-insensitive and tolerates whitespace inside the brackets (``< /Answer >``),
    because a passage that merely resembles a tag could still confuse the model or, in exact
    form, be parsed as an action or close a ``<result>`` block. The rewritten form drops that
    whitespace and keeps the tag's original spelling.
    """
    names = [re.escape(tag) for tag in dict.fromkeys(tags) if tag]
    if not names:
        return text
    pattern = re.compile(r"<\s*(/?)\s*(" + "|".join(names) + r")\s*>", re.IGNORECASE)
    return pattern.sub(lambda m: f"{_LEFT_GUILLEMET}{m.group(1)}{m.group(2)}{_RIGHT_GUILLEMET}", text)
