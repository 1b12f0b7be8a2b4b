"""How long-running stages report progress: ``progress(name, done, total)``.

Stages (generate, judge, eval) call a :data:`ProgressCallback` with running totals;
what the user sees (live bars on a terminal, plain lines in a log) is the command
line's business (:class:`swirl.cli.common.ProgressBoard`).
"""

from __future__ import annotations

from collections.abc import Callable

ProgressCallback = Callable[[str, int, int], None]
"""``progress(name, done, total)``: ``done`` of ``total`` units of the work called ``name`` are finished."""


def counter(progress: ProgressCallback | None, name: str, total: int, start: int = 0) -> Callable[[int], None]:
    """An ``on_progress(n)`` callback (n more units done) that reports running totals to ``progress``.

    It reports ``start`` at once, so a resumed stage shows what was already done before its first new unit.
    """
    done = [start]

    def advance(n: int) -> None:
        done[0] += n
        if progress:
            progress(name, done[0], total)

    advance(0)
    return advance
