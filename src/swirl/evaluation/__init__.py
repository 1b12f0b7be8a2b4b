"""Evaluation machinery of the eval stage (:mod:`swirl.stages.eval`), by job: :mod:`.plan` (settings,
checks, question subsets), :mod:`.metrics` (grading into metrics), :mod:`.compare` (paired
differences), :mod:`.stats` (interval arithmetic) and :mod:`.outputs` (the files written)."""
