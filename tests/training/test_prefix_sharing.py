"""Prefix-shared log-probs equal TRL's unshared ones on real multi-step states of the embedded
model (fp32): per-token log-probs, entropies, the GRPO loss and the gradient norm, with whole
trees and with trees cut into sub-trees; the packed layout itself; the trajectory sampler that
batches a trajectory's states together and counts trajectories that cannot share; and the
run-time check that falls back to the unshared path."""

from __future__ import annotations

import json

import pytest
import torch
from trajectory_factory import gold_action, scripted_trajectories

from swirl.stages.split import load_steps, save_steps, split_trajectories
from swirl.tasks import load_tasks
from swirl.training import prefix_sharing
from swirl.training.prefix_sharing import (
    FALLBACK_METRIC,
    fill_batches,
    pack,
    trajectory_chains,
)
from swirl.training.settings import TrainSettings
from swirl.training.trainer import METRICS_FILE, build_trainer, load_policy, train

G = 2


def test_pack_layout_trunk_and_branches():
    # Two states, the first a token prefix of the second; TRL layout: left-padded state | right-padded completion
    # (rows 9 wide: the packed row, 12 wide, attends over less than the three rows it replaces).
    pad = 0
    rows = [([pad] * 3 + [5, 6, 7], [8, 9, pad]), ([pad] * 3 + [5, 6, 7], [10, pad, pad]),
            ([pad] * 2 + [5, 6, 7, 11], [12, 13, 14])]
    ids = torch.tensor([s + c for s, c in rows])
    mask = torch.tensor([[int(t != pad) for t in s] + [int(t != pad) for t in c] for s, c in rows])

    group = pack(ids, mask, 3, share_trajectories=False)
    assert (group.trunks, group.states) == (2, 2)
    trajectory = pack(ids, mask, 3, share_trajectories=True)
    assert (trajectory.trunks, trajectory.states) == (1, 2)

    row = trajectory.input_ids[0].tolist()
    # trunk = the longest state less its last token; then per completion: its state's last token, the completion
    assert row == [5, 6, 7, 11, 12, 13, 14, 7, 8, 9, 7, 10]
    assert trajectory.position_ids[0].tolist() == [0, 1, 2, 3, 4, 5, 6, 2, 3, 4, 2, 3]
    allowed = trajectory.allowed[0, 0]
    # completion token 9 (column 9) sees the shorter state's trunk part, its anchor and token 8: not 7 of the trunk
    assert allowed[9].nonzero().flatten().tolist() == [0, 1, 7, 8, 9]
    # the longer state's branch sees its whole trunk, never another branch
    assert allowed[6].nonzero().flatten().tolist() == [0, 1, 2, 3, 4, 5, 6]
    # each scored token is predicted from the column before it in its branch
    predicted = [row[trajectory.branch_start + c + 1] for c in trajectory.columns.tolist()]
    assert predicted == trajectory.targets.tolist() == [12, 13, 14, 8, 9, 10]
    assert trajectory.destinations.tolist() == [6, 7, 8, 0, 1, 3]

    # Rows 7 wide: one 12-wide row would attend over more than the three 7-wide rows, so the tree is cut.
    narrow = pack(ids[:, 2:], mask[:, 2:], 3, share_trajectories=True)
    assert (narrow.trunks, narrow.states) == (2, 2)
    assert narrow.input_ids.size(1) <= 10 and narrow.targets.tolist() == [12, 13, 14, 8, 9, 10]


def test_fill_batches_keeps_chains_whole_where_they_fit():
    chains = [[0, 1, 2], [3, 4], [5, 6, 7, 8], [9]]
    order = fill_batches(chains, 3)
    batches = [set(order[i:i + 3]) for i in range(0, len(order), 3)]
    assert sorted(order) == list(range(10))
    # whole: the 3-chain, the 4-chain's first three states; the 2-chain with the 4-chain's last state
    assert batches[:3] == [{0, 1, 2}, {5, 6, 7}, {3, 4, 8}] and batches[3] == {9}


@pytest.fixture(scope="module")
def multi_step_split(data_dir, tmp_path_factory):
    """States of gold GSM8K trajectories with at least three steps (two calculations, then the answer)."""
    tasks = [t for t in load_tasks(data_dir / "gsm8k" / "train.jsonl", limit=40) if len(t.calculations) >= 2][:2]
    trajectories = scripted_trajectories(tasks, lambda task, sample, step: gold_action(task, step))
    assert all(len(t.steps) >= 3 for t in trajectories)
    directory = tmp_path_factory.mktemp("multi_step_split")
    save_steps(split_trajectories(trajectories), directory)
    return directory


@pytest.fixture(scope="module")
def scored_batch(multi_step_split, tmp_path_factory, default_checkpoint):
    """A trainer and one generated, scored batch: every state (>= 3) of one trajectory, G fresh actions each."""
    torch.manual_seed(0)
    output = tmp_path_factory.mktemp("prefix_run")
    settings = TrainSettings(input=multi_step_split, output=output, judge="reference", num_generations=G,
                             batch_size=2 * G, max_completion_tokens=12, max_steps=1, prefix_sharing="off")
    trainer, _, _ = build_trainer(settings)
    first = trainer.train_dataset[0]["trajectory_id"]
    rows = [r for r in trainer.train_dataset if r["trajectory_id"] == first]
    assert len(rows) >= 3
    inputs = trainer._generate_and_score_completions([r for r in rows for _ in range(G)])
    return trainer, inputs


def packed_inputs(inputs):
    ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], dim=1)
    mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], dim=1)
    return ids, mask, inputs["completion_ids"].size(1)


def logps(trainer, inputs, mode):
    trainer.prefix_sharing, trainer.prefix_sharing_checked = mode, True
    with torch.no_grad():
        return trainer._get_per_token_logps_and_entropies(trainer.model, *packed_inputs(inputs), compute_entropy=True)


@pytest.fixture(scope="module")
def unshared(scored_batch):
    trainer, inputs = scored_batch
    return logps(trainer, inputs, "off")[:2]


def loss_and_grad_norm(trainer, inputs, mode):
    trainer.prefix_sharing, trainer.prefix_sharing_checked = mode, True
    trainer.model.zero_grad()
    loss = trainer.compute_loss(trainer.model, inputs)
    loss.backward()
    norm = torch.sqrt(sum((p.grad.double() ** 2).sum() for p in trainer.model.parameters() if p.grad is not None))
    trainer.model.zero_grad()
    return float(loss), float(norm)


@pytest.mark.parametrize("mode", ["group", "trajectory"])
def test_shared_log_probs_equal_unshared(scored_batch, unshared, mode):
    trainer, inputs = scored_batch
    valid = inputs["completion_mask"].bool()
    states = inputs["prompt_mask"].sum(dim=1).unique().numel()
    assert valid.sum(dim=1).min() > 0 and states >= 3
    reference, reference_entropy = unshared

    before = dict(trainer.prefix_sharing_stats)
    shared, shared_entropy, _ = logps(trainer, inputs, mode)
    processed = trainer.prefix_sharing_stats["forward_tokens"] - before["forward_tokens"]
    assert (shared - reference).abs()[valid].max() < 1e-4
    assert (shared_entropy - reference_entropy).abs()[valid].max() < 1e-4
    assert (shared[~valid] == 0).all()
    # off processes every state G times; group each state once; trajectory the longest state once
    unshared_tokens = inputs["prompt_ids"].numel() + inputs["completion_ids"].numel()
    assert processed < unshared_tokens * (0.6 if mode == "group" else 0.35)
    assert trainer.prefix_sharing_stats["trunks"] - before["trunks"] == (1 if mode == "trajectory" else states)


def test_sub_trees_equal_unshared(scored_batch, unshared, monkeypatch):
    # Real states are long next to 12-token actions, so trees are never cut here: a one-column row budget
    # stands in for a large tree, cutting it into one sub-tree per action, each on its own state's tokens.
    trainer, inputs = scored_batch
    cut = prefix_sharing._subtrees
    monkeypatch.setattr(prefix_sharing, "_subtrees", lambda tokens, branches, width: cut(tokens, branches, 1))
    before = trainer.prefix_sharing_stats["trunks"]
    shared, _, _ = logps(trainer, inputs, "trajectory")
    valid = inputs["completion_mask"].bool()
    assert trainer.prefix_sharing_stats["trunks"] - before == inputs["prompt_ids"].size(0)
    assert (shared - unshared[0]).abs()[valid].max() < 1e-4


def test_loss_and_gradient_norm_equal_unshared(scored_batch):
    trainer, inputs = scored_batch
    # The judge often scores a group's samples alike (zero advantages, zero gradient): fixed ones make both non-zero.
    count = inputs["advantages"].numel()
    inputs = inputs | {"advantages": torch.linspace(-1.0, 1.0, count)}
    loss, norm = loss_and_grad_norm(trainer, inputs, "off")
    assert norm > 0
    for mode in ("group", "trajectory"):
        shared_loss, shared_norm = loss_and_grad_norm(trainer, inputs, mode)
        assert abs(shared_loss - loss) < 1e-4, mode
        assert abs(shared_norm - norm) < 1e-4 * max(1.0, norm), mode


def test_first_batch_check_falls_back_to_off(scored_batch, monkeypatch):
    trainer, inputs = scored_batch
    trainer.prefix_sharing, trainer.prefix_sharing_checked = "group", False
    with torch.no_grad():
        trainer._get_per_token_logps_and_entropies(trainer.model, *packed_inputs(inputs))
    assert trainer.prefix_sharing == "group" and trainer.prefix_sharing_checked

    # A mismatch cannot be produced on demand with a correct implementation: a negative tolerance stands in for one.
    trainer.prefix_sharing_checked = False
    monkeypatch.setattr(prefix_sharing, "tolerance", lambda dtype: -1.0)
    with torch.no_grad(), pytest.warns(UserWarning, match="training with prefix_sharing=off"):
        trainer._get_per_token_logps_and_entropies(trainer.model, *packed_inputs(inputs))
    assert trainer.prefix_sharing == "off"


def test_trajectory_chains_follow_token_prefixes(multi_step_split, default_checkpoint):
    _, tokenizer = load_policy("default")
    dataset = load_steps(multi_step_split)
    chains, broken = trajectory_chains(dataset, tokenizer)
    assert broken == 0
    rows = dataset.to_list()
    ids = [r["trajectory_id"] for r in rows]
    # one chain per trajectory, its states in step order
    assert sorted(tuple(ids[i] for i in c) for c in chains) == sorted((t,) * ids.count(t) for t in set(ids))
    assert all([rows[i]["step_index"] for i in c] == list(range(len(c))) for c in chains)

    # A chat template that renders an earlier action otherwise inside a later state (here: the first action's
    # text trimmed in the last state only) breaks that trajectory there; it is counted, its parts chained apart.
    last = max(i for i, t in enumerate(ids) if t == ids[0])
    first_action = next(m for m in rows[last]["prompt"] if m["role"] == "assistant")
    assert first_action["content"].startswith("Next: ")
    first_action["content"] = first_action["content"].replace("Next: ", "Next:")
    chains, broken = trajectory_chains(type(dataset).from_list(rows), tokenizer)
    assert broken == 1
    assert [last] in chains and len(chains) == len(set(ids)) + 1


def test_trajectory_mode_trains_a_trajectory_per_batch(multi_step_split, tmp_path, default_checkpoint):
    # One step of three states, G actions each: the sampler hands the trainer the three states of one trajectory.
    settings = TrainSettings(input=multi_step_split, output=tmp_path, judge="reference", num_generations=G,
                             batch_size=3 * G, max_completion_tokens=8, max_steps=1, save_steps=10,
                             prefix_sharing="trajectory")
    summary = train(settings)
    stats = summary["prefix_sharing_stats"]
    assert summary["prefix_sharing"] == "trajectory" and stats["fallback_trajectories"] == 0
    assert stats["states"] == 3 * stats["trunks"] > 0
    [logged] = [json.loads(line) for line in (tmp_path / METRICS_FILE).read_text().splitlines() if '"loss"' in line]
    assert logged[FALLBACK_METRIC] == 0
