"""Each stage's settings model owns its defaults: a verb's option that is a settings field has the model's default."""

from __future__ import annotations

import inspect

import pytest

from swirl.cli.eval import eval_command
from swirl.cli.filter_split import filter_command
from swirl.cli.generate import generate
from swirl.cli.judge import judge
from swirl.cli.train import train
from swirl.evaluation.plan import EvalSettings
from swirl.stages.filter import FilterSettings
from swirl.stages.generate import GenerateSettings
from swirl.stages.judge import JudgeSettings
from swirl.training.settings import TrainSettings

# None on the command line means "the model's own default" (so --help does not promise one).
MODEL_DECIDES = {"prefix_sharing"}


@pytest.mark.parametrize("command, model", [
    (generate, GenerateSettings),
    (judge, JudgeSettings),
    (filter_command, FilterSettings),
    (train, TrainSettings),
    (eval_command, EvalSettings),
], ids=lambda item: getattr(item, "__name__", ""))
def test_option_defaults_are_the_settings_defaults(command, model):
    shared = 0
    for name, parameter in inspect.signature(command).parameters.items():
        if name not in model.model_fields or name in MODEL_DECIDES:
            continue
        option = parameter.default.default
        expected = model.model_fields[name].get_default(call_default_factory=True)
        if option is ...:
            assert model.model_fields[name].is_required(), f"--{name} is required but the settings give a default"
            continue
        if isinstance(expected, list) and isinstance(option, str):
            # Comma-separated on the command line.
            expected = ",".join(expected)
        assert option == expected, f"{command.__name__} --{name}: {option!r} != {model.__name__}.{name} {expected!r}"
        shared += 1
    assert shared, "no option of the verb is a settings field"
