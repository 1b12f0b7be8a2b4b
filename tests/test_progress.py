"""`counter`: turns a stage's ``on_progress(n)`` increments into running totals for a progress display."""

from __future__ import annotations

from swirl.progress import counter


def test_counter_reports_the_start_then_running_totals():
    reports = []
    advance = counter(lambda *report: reports.append(report), "round-1 judge", 10, start=4)
    advance(2)
    advance(4)
    assert reports == [("round-1 judge", 4, 10), ("round-1 judge", 6, 10), ("round-1 judge", 10, 10)]

