"""Stage 5, train: split rows -> a trained policy (step-wise RL with the judge as reward, or the SFT baseline).

The stage's settings are :class:`~swirl.training.settings.TrainSettings`; its knobs,
:class:`~swirl.training.settings.TrainOptions`, are `swirl run`'s ``train`` section. They
live beside the trainer that reads them (:mod:`swirl.training`). :func:`run` is what
`swirl train` and `swirl run` call.
"""

from __future__ import annotations

from typing import Any

from swirl.errors import SwirlError
from swirl.training.settings import TrainSettings


def run(settings: TrainSettings, *, resume: bool) -> dict[str, Any]:
    """Train; ``resume`` continues from the latest checkpoint in the output directory."""
    from swirl.training.trainer import train

    if settings.algo == "swirl" and (settings.batch_size * settings.gradient_accumulation_steps) % settings.num_generations:
        raise SwirlError(
            f"--batch-size x --gradient-accumulation-steps (train.batch_size x gradient_accumulation_steps) "
            f"must be a multiple of -G (num_generations, {settings.num_generations})"
        )
    return train(settings, resume=resume)
