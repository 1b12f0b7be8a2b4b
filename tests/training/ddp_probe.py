"""`swirl train` with an observer attached, for the distributed test (run under `accelerate launch`).

Takes the `swirl` command line (``train --input ...``). The observer only records: after
every optimizer step (and once before the first, as step 0), each rank appends to
``$SWIRL_PROBE_DIR/rank-<N>.jsonl`` a fingerprint of all its weights and fingerprints of
the rows it trained on in that step.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from transformers import TrainerCallback

import swirl.training.trainer as trainer_module
from swirl.cli import app


def weights_fingerprint(model) -> str:
    digest = hashlib.sha256()
    for name, parameter in sorted(model.named_parameters()):
        digest.update(name.encode())
        digest.update(parameter.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()


def row_fingerprints(inputs) -> list[str]:
    """GRPO hands training_step the dataset rows (states); SFT hands it token batches."""
    if isinstance(inputs, list):
        return [hashlib.sha256(json.dumps(row["prompt"]).encode()).hexdigest() for row in inputs]
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    return [hashlib.sha256(str(row[keep.bool()].tolist()).encode()).hexdigest() for row, keep in zip(ids, mask)]


class Probe(TrainerCallback):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[str] = []

    def record(self, step: int, model) -> None:
        record = {"step": step, "weights": weights_fingerprint(model), "rows": self.rows}
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        self.rows = []

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.record(state.global_step, model)

    def on_step_end(self, args, state, control, model=None, **kwargs):  # noqa: ANN001 (transformers callback)
        self.record(state.global_step, model)


def build_with_probe(settings):
    trainer, tokenizer, too_long = build_original(settings)
    probe = Probe(Path(os.environ["SWIRL_PROBE_DIR"]) / f"rank-{trainer.args.process_index}.jsonl")
    trainer.add_callback(probe)
    training_step = trainer.training_step

    def observed_step(model, inputs, *args, **kwargs):
        probe.rows.extend(row_fingerprints(inputs))
        return training_step(model, inputs, *args, **kwargs)

    trainer.training_step = observed_step
    return trainer, tokenizer, too_long


build_original = trainer_module.build_trainer
trainer_module.build_trainer = build_with_probe

if __name__ == "__main__":
    app(sys.argv[1:], prog_name="swirl")
