"""Small benchmark excerpts shipped with swirl, for `swirl quickstart` and the README's examples.

``swirl data list`` shows them and ``swirl data export`` copies them, with their licenses
(LICENSES.md), into a directory laid out as the README's examples and ``configs/`` expect.
"""

from __future__ import annotations

from importlib import resources
from importlib.abc import Traversable

from pydantic import BaseModel

LICENSES_FILE = "LICENSES.md"


class Sample(BaseModel):
    """One shipped excerpt: its package file, where ``swirl data export`` puts it, and its origin."""

    name: str
    file: str
    export_as: str
    license: str
    origin: str

    def resource(self) -> Traversable:
        return resources.files(__name__) / self.file


SAMPLES = (
    Sample(name="gsm8k-train", file="quickstart_gsm8k_train.jsonl", export_as="gsm8k/train.jsonl",
           license="MIT", origin="GSM8K train split, first 24 questions"),
    Sample(name="gsm8k-test", file="quickstart_gsm8k_eval.jsonl", export_as="gsm8k/test.jsonl",
           license="MIT", origin="GSM8K test split, 8 questions of a fixed random sample"),
    Sample(name="hotpotqa-train", file="quickstart_hotpotqa_train.jsonl", export_as="hotpotqa/train.jsonl",
           license="CC BY-SA 4.0", origin="HotpotQA distractor validation, 6 questions (Hugging Face schema)"),
    Sample(name="hotpotqa-dev", file="quickstart_hotpotqa_eval.jsonl", export_as="hotpotqa/dev.jsonl",
           license="CC BY-SA 4.0", origin="HotpotQA distractor validation, 4 other questions"),
    Sample(name="musique-dev", file="musique_sample20.jsonl", export_as="musique/dev.jsonl",
           license="CC BY 4.0", origin="MuSiQue answerable dev, 20 questions"),
    Sample(name="beerqa-dev", file="beerqa_sample20.json", export_as="beerqa/dev.json",
           license="CC BY-SA 4.0", origin="BeerQA v1.0, 20 questions of its train split, in the official file format"),
)
"""Every shipped excerpt, by name."""


def find_sample(name: str) -> Sample:
    """The shipped sample called ``name``; KeyError when there is none."""
    for sample in SAMPLES:
        if sample.name == name:
            return sample
    raise KeyError(name)
