"""The per-step metrics swirl adds to TRL's, and the compact console line."""

from __future__ import annotations

import pytest

from swirl.training.metrics import VALID_ACTIONS, is_valid_action, step_line, zero_variance_fraction


@pytest.mark.parametrize("text, valid", [
    ("<math_exp>1+2</math_exp>", True),
    ("First add. <answer>3</answer>", True),
    ("<math_exp>1+2", False),
    ("no action at all", False),
    ("<math_exp>1+2</math_exp> <answer>3</answer>", False),
    ("<math_exp> </math_exp>", False),
])
def test_valid_action_is_one_closed_action(text, valid):
    assert is_valid_action(text, ("</math_exp>", "</search_query>", "</answer>")) is valid


def test_zero_variance_fraction_counts_constant_groups():
    import torch

    rewards = torch.tensor([0.5, 0.5, 0.1, 0.2, 0.0, 0.0, 0.3, 0.3001])
    assert zero_variance_fraction(rewards, 2) == 0.5
    assert zero_variance_fraction(rewards, 4) == 0.0


def test_step_line_is_compact():
    logs = {"loss": 0.00012, "reward": 0.4123, "reward_std": 0.05, VALID_ACTIONS: 0.75, "entropy": 2.3,
            "completions/clipped_ratio": 1.0}
    assert step_line(3, 8, logs, 34.21) == "step 3/8  reward 0.412 ± 0.050  loss 0.00012  valid 75%  34.2 s/step"
    assert step_line(1, 8, {"loss": 2.5}, 1.0) == "step 1/8  loss 2.5  1.0 s/step"


def test_report_draws_the_added_curves():
    from swirl.report import _training_chart

    records = [{"step": s, VALID_ACTIONS: v} for s, v in ((1, 0.5), (2, 0.75))]
    assert _training_chart(records).startswith("data:image/png")
