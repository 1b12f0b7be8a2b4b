"""Prefix-shared log-probs for step-wise GRPO: each token of a state goes through the model once.

TRL's GRPOTrainer scores rows ``[state | completion]``, the state repeated for each of its G
sampled completions, in every forward pass (with gradients, old and reference log-probs). In
``group`` mode the rows that share a state are packed into one row: the state once (the trunk),
then each completion as a branch that sees the trunk and itself only. Each branch starts with a
copy of the state's last token, so every position that predicts a completion token lies in the
branch region, and the LM head runs over that region only::

    columns   | s1 s2 ... s(n-1) | sn a1 a2 a3 | sn b1 b2 | ...
    positions | 0  1  ... n-2    | n-1 n n+1 n+2 | n-1 n n+1 |
    sees      | causal           | trunk + own branch, causal

In ``trajectory`` mode a state that is a token prefix of a longer state in the same batch (state
k of a trajectory is a prefix of state k+1 when the chat template renders it so) hangs its branches
on that longer state's trunk, at its own length, instead of bringing its own trunk; the
:class:`TrajectorySampler` puts the states of one trajectory into the same batch. A tree is cut
into sub-trees where one packed row would attend over more than its rows would unshared, so the
dense mask never outgrows the unshared attention.

:class:`PrefixSharingMixin` routes TRL's ``_get_per_token_logps_and_entropies`` (the one method
every log-prob forward goes through) here, checks once on the first batch that the shared path
matches the unshared one, and falls back to ``off`` with a warning when it does not.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import Sampler

from swirl.training.settings import PrefixSharing

MASKABLE_ATTENTION = ("sdpa", "eager")
"""Attention implementations that take an arbitrary 4D mask (flash attention does not)."""

FALLBACK_METRIC = "prefix_sharing/fallback_trajectories"
"""Trajectories whose states are not token prefixes of each other (packed as in group mode), in metrics.jsonl."""

logger = logging.getLogger(__name__)


def tolerance(dtype: torch.dtype) -> float:
    """Largest log-prob difference still counted as the same result: 1e-4 in fp32; about bf16's resolution otherwise."""
    return 1e-4 if dtype in (torch.float32, torch.float64) else 5e-2


@dataclass
class PackedBatch:
    """Packed rows plus where each scored completion token's prediction is found and goes."""

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    allowed: torch.Tensor
    """(rows, 1, L, L) bool: True where a query column may attend to a key column."""
    branch_start: int
    """First column of the branch region (the same in every row: trunks are left-padded)."""
    rows: torch.Tensor
    columns: torch.Tensor
    """Packed row and column (relative to ``branch_start``) predicting each scored token."""
    targets: torch.Tensor
    destinations: torch.Tensor
    """Flat index into the (batch, completion length) output of each scored token."""
    trunks: int
    states: int


def _state_and_length(prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, completion_mask: torch.Tensor):
    """The state's tokens and the completion's valid length, or None when the masks are not padding-shaped."""
    state = tuple(prompt_ids[prompt_mask.bool()].tolist())
    length = int(completion_mask.sum())
    if not state or not bool(completion_mask[:length].all()):
        return None
    return state, length


def pack(
    input_ids: torch.Tensor, attention_mask: torch.Tensor, completion_length: int, share_trajectories: bool
) -> PackedBatch | None:
    """Pack TRL's ``[left-padded state | right-padded completion]`` rows into trunk-and-branch rows.

    None when a row does not have TRL's padding layout (then the caller takes the unshared path).
    """
    prompt_length = input_ids.size(1) - completion_length
    completions = input_ids[:, prompt_length:]
    by_state: dict[tuple[int, ...], list[tuple[int, int]]] = {}
    for row in range(input_ids.size(0)):
        found = _state_and_length(input_ids[row, :prompt_length], attention_mask[row, :prompt_length],
                                  attention_mask[row, prompt_length:])
        if found is None:
            return None
        state, length = found
        by_state.setdefault(state, []).append((row, length))

    # Each trunk: (its tokens, [(state length, batch row, completion length)]); longest states claim trunks first.
    trunks: list[tuple[tuple[int, ...], list[tuple[int, int, int]]]] = []
    for state in sorted(by_state, key=len, reverse=True):
        home = None
        if share_trajectories:
            home = next((t for t in trunks if t[0][: len(state)] == state), None)
        if home is None:
            home = (state, [])
            trunks.append(home)
        home[1].extend((len(state), row, n) for row, n in by_state[state])
    trunks = [tree for tokens, branches in trunks for tree in _subtrees(tokens, branches, input_ids.size(1))]

    trunk_width = max(len(tokens) - 1 for tokens, _ in trunks)
    branch_widths = [sum(1 + n for _, _, n in branches) for _, branches in trunks]
    width = trunk_width + max(branch_widths)
    count = len(trunks)
    ids = torch.zeros(count, width, dtype=input_ids.dtype)
    positions = torch.zeros(count, width, dtype=torch.long)
    allowed = torch.zeros(count, 1, width, width, dtype=torch.bool)
    allowed[:, 0] = torch.eye(width, dtype=torch.bool)  # padding sees itself only: no empty softmax rows
    rows, columns, targets, destinations = [], [], [], []
    for packed_row, (tokens, branches) in enumerate(trunks):
        start = trunk_width - (len(tokens) - 1)
        trunk_end = trunk_width
        ids[packed_row, start:trunk_end] = torch.tensor(tokens[:-1], dtype=input_ids.dtype)
        positions[packed_row, start:trunk_end] = torch.arange(len(tokens) - 1)
        span = trunk_end - start
        allowed[packed_row, 0, start:trunk_end, start:trunk_end] = torch.ones(span, span, dtype=torch.bool).tril()
        column = trunk_end
        for state_length, batch_row, n in branches:
            end = column + 1 + n
            ids[packed_row, column] = tokens[state_length - 1]
            ids[packed_row, column + 1:end] = completions[batch_row, :n].cpu()
            positions[packed_row, column:end] = torch.arange(state_length - 1, state_length + n)
            allowed[packed_row, 0, column:end, start:start + state_length - 1] = True
            allowed[packed_row, 0, column:end, column:end] = torch.ones(1 + n, 1 + n, dtype=torch.bool).tril()
            rows += [packed_row] * n
            columns += range(column - trunk_width, column - trunk_width + n)
            targets += completions[batch_row, :n].tolist()
            destinations += range(batch_row * completion_length, batch_row * completion_length + n)
            column = end
    device = input_ids.device

    def tensor(values: list[int]) -> torch.Tensor:
        return torch.tensor(values, dtype=torch.long, device=device)

    return PackedBatch(ids.to(device), positions.to(device), allowed.to(device), trunk_width, tensor(rows),
                       tensor(columns), tensor(targets), tensor(destinations), trunks=count, states=len(by_state))


def _subtrees(tokens: tuple[int, ...], branches: list[tuple[int, int, int]], row_width: int):
    """Cut one trunk's branches (longest state first) into sub-trees, each on its longest state's tokens.

    A packed row W columns wide holds a W x W mask and W x W attention scores per head, where each
    of its branches unshared is a TRL row of ``row_width`` columns: a branch joins the current
    sub-tree only while W^2 stays within (its branches) x row_width^2, so a packed row never costs
    more attention memory than the rows it replaces.
    """
    trees: list[tuple[tuple[int, ...], list[tuple[int, int, int]]]] = []
    width = 0
    for state_length, row, n in branches:
        if trees and (width + 1 + n) ** 2 <= (len(trees[-1][1]) + 1) * row_width**2:
            width += 1 + n
        else:
            trees.append((tokens[:state_length], []))
            width = state_length + n
        trees[-1][1].append((state_length, row, n))
    return trees


def chunks(input_ids: torch.Tensor, attention_mask: torch.Tensor, completion_length: int, batch_size: int):
    """Row index groups of at most ``batch_size`` rows that never split the rows of one state."""
    prompt_length = input_ids.size(1) - completion_length
    keys = [tuple(input_ids[r, :prompt_length][attention_mask[r, :prompt_length].bool()].tolist())
            for r in range(input_ids.size(0))]
    order: dict[tuple[int, ...], list[int]] = {}
    for row, key in enumerate(keys):
        order.setdefault(key, []).append(row)
    current: list[int] = []
    for members in order.values():
        if current and len(current) + len(members) > batch_size:
            yield current
            current = []
        current += members
    if current:
        yield current


def state_token_ids(tokenizer: Any, messages: list[dict]) -> list[int]:
    """A state's tokens as GRPOTrainer tokenizes its prompt: chat template with the generation prompt."""
    return tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True, return_dict=False)


def trajectory_chains(dataset: Any, tokenizer: Any) -> tuple[list[list[int]], int]:
    """Row indices in chains of consecutive states of one trajectory, each a token prefix of the next.

    Also says how many trajectories break into several chains: where the chat template renders
    state k otherwise inside state k+1, the two cannot share a trunk and are packed as in group mode.
    """
    by_trajectory: dict[str, list[tuple[int, int]]] = {}
    for index, (trajectory, step) in enumerate(zip(dataset["trajectory_id"], dataset["step_index"])):
        by_trajectory.setdefault(trajectory, []).append((step, index))
    prompts = dataset["prompt"]
    chains: list[list[int]] = []
    broken = 0
    for members in by_trajectory.values():
        pieces: list[list[int]] = []
        previous: list[int] = []
        for _, index in sorted(members):
            ids = state_token_ids(tokenizer, prompts[index])
            if not pieces or ids[: len(previous)] != previous:
                pieces.append([])
            pieces[-1].append(index)
            previous = ids
        chains += pieces
        broken += len(pieces) > 1
    return chains, broken


def fill_batches(chains: list[list[int]], size: int) -> list[int]:
    """The chains' rows in an order whose consecutive runs of ``size`` cut few chains.

    Chains longer than a batch are cut into batch-long pieces; pieces go first-fit into batches;
    the batches left unfilled come last, in order, so only there does a batch boundary cut a piece.
    """
    pieces = [chain[i:i + size] for chain in chains for i in range(0, len(chain), size)]
    full: list[list[int]] = []
    unfilled: list[list[int]] = []
    for piece in pieces:
        home = next((batch for batch in unfilled if len(batch) + len(piece) <= size), None)
        if home is None:
            home = []
            unfilled.append(home)
        home += piece
        if len(home) == size:
            unfilled.remove(home)
            full.append(home)
    return [row for batch in full + unfilled for row in batch]


class TrajectorySampler(Sampler[int]):
    """TRL's :class:`~trl.trainer.utils.RepeatSampler` order over batches that keep each trajectory's states together.

    Each epoch shuffles the chains (:func:`trajectory_chains`), not the rows, lays them into batches
    of the generation batch's state count (:func:`fill_batches`), and repeats rows and batches as
    TRL's sampler (``like``) would.
    """

    def __init__(self, chains: list[list[int]], like: Any) -> None:
        self.chains, self.like = chains, like
        self.generator = torch.Generator()
        if like.seed is not None:
            self.generator.manual_seed(like.seed)

    def _repeat(self, rows: list[int]):
        from trl.trainer.utils import RepeatSampler

        return RepeatSampler(rows, mini_repeat_count=self.like.mini_repeat_count, batch_size=self.like.batch_size,
                             repeat_count=self.like.repeat_count, shuffle=False)

    def __iter__(self):
        order = (torch.randperm(len(self.chains), generator=self.generator).tolist() if self.like.shuffle
                 else range(len(self.chains)))
        rows = fill_batches([self.chains[i] for i in order], self.like.batch_size)
        return (rows[i] for i in self._repeat(rows))

    def __len__(self) -> int:
        return len(self._repeat([row for chain in self.chains for row in chain]))


def shared_logps_and_entropies(
    model: Any, packed: PackedBatch, batch: int, completion_length: int, temperature: float, compute_entropy: bool,
    attention: str,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-token log-probs (and entropies) of the packed batch, laid out as TRL's (batch, completion length)."""
    from trl.trainer.utils import selective_log_softmax_and_entropy

    dtype = next(model.parameters()).dtype
    if attention == "eager":
        mask = torch.zeros(packed.allowed.shape, dtype=dtype, device=packed.allowed.device)
        mask = mask.masked_fill(~packed.allowed, torch.finfo(dtype).min)
    else:
        mask = packed.allowed
    keep = packed.input_ids.size(1) - packed.branch_start
    logits = model(input_ids=packed.input_ids, attention_mask=mask, position_ids=packed.position_ids,
                   logits_to_keep=keep, use_cache=False).logits
    picked = logits[packed.rows, packed.columns]
    logps, entropy = selective_log_softmax_and_entropy(picked, packed.targets, temperature=temperature)
    size = batch * completion_length
    out = logps.new_zeros(size).index_copy(0, packed.destinations, logps).view(batch, completion_length)
    if not compute_entropy:
        return out, None
    entropies = entropy.new_zeros(size).index_copy(0, packed.destinations, entropy).view(batch, completion_length)
    return out, entropies


class PrefixSharingMixin:
    """Mixed into a GRPOTrainer subclass: every per-token log-prob forward goes through the shared path.

    Set ``prefix_sharing`` before training. Multimodal inputs, MoE aux losses and attention
    implementations without arbitrary masks take TRL's own path unchanged.
    """

    prefix_sharing: PrefixSharing = "off"
    prefix_sharing_checked: bool = False
    prefix_sharing_stats: dict[str, int]

    def _get_train_sampler(self, dataset=None):
        """In trajectory mode, TRL's sampler reordered so that a trajectory's states share a batch."""
        sampler = super()._get_train_sampler(dataset)  # type: ignore[misc]
        dataset = self.train_dataset if dataset is None else dataset  # type: ignore[attr-defined]
        per_batch = self.args.per_device_train_batch_size // self.num_generations  # type: ignore[attr-defined]
        if self.prefix_sharing != "trajectory" or per_batch < 2:
            return sampler  # one state per batch: nothing to share across states, so TRL's order is kept
        if not {"trajectory_id", "step_index"} <= set(dataset.column_names):
            warnings.warn("prefix sharing 'trajectory': the dataset has no trajectory_id/step_index columns, so "
                          "states are batched in TRL's order and share trunks only by chance", stacklevel=2)
            return sampler
        chains, broken = trajectory_chains(dataset, self.processing_class)  # type: ignore[attr-defined]
        if broken:
            trajectories = len(set(dataset["trajectory_id"]))
            warnings.warn(f"prefix sharing 'trajectory': in {broken} of {trajectories} trajectories a tokenized state "
                          "is not a token prefix of the next one (chat template): those states are packed as in "
                          "group mode", stacklevel=2)
        self._stats()["fallback_trajectories"] = broken
        self._metrics["train"][FALLBACK_METRIC].append(float(broken))  # type: ignore[attr-defined]
        return TrajectorySampler(chains, sampler)

    def _stats(self) -> dict[str, int]:
        """Running counts of the log-prob forwards: calls, tokens through the model, scored completion tokens, ..."""
        return self.__dict__.setdefault("prefix_sharing_stats", dict.fromkeys(
            ("forwards", "forward_tokens", "completion_tokens", "rows", "trunks", "states", "unshared_calls"), 0))

    def _count_forward(self, attention_mask: torch.Tensor, logits_to_keep: int) -> None:
        self.prefix_sharing_stats["forwards"] += 1
        self.prefix_sharing_stats["completion_tokens"] += int(attention_mask[:, -logits_to_keep:].sum())

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep, batch_size=None,
                                           compute_entropy=False, compute_aux_loss=False, **kwargs):
        self._stats()
        multimodal = any(value is not None for value in kwargs.values())
        attention = getattr(self.accelerator.unwrap_model(model).config, "_attn_implementation", None)
        if self.prefix_sharing == "off" or multimodal or compute_aux_loss or attention not in MASKABLE_ATTENTION:
            return self._unshared(model, input_ids, attention_mask, logits_to_keep, batch_size, compute_entropy,
                                  compute_aux_loss, **kwargs)
        if not self.prefix_sharing_checked:
            self.prefix_sharing_checked = True
            if not self._shared_matches_unshared(model, input_ids, attention_mask, logits_to_keep, attention):
                self.prefix_sharing = "off"
                return self._unshared(model, input_ids, attention_mask, logits_to_keep, batch_size, compute_entropy,
                                      compute_aux_loss, **kwargs)
        result = self._shared(model, input_ids, attention_mask, logits_to_keep, batch_size, compute_entropy,
                              attention)
        if result is None:
            return self._unshared(model, input_ids, attention_mask, logits_to_keep, batch_size, compute_entropy,
                                  compute_aux_loss, **kwargs)
        return result

    def _unshared(self, model, input_ids, attention_mask, logits_to_keep, batch_size, compute_entropy,
                  compute_aux_loss, **kwargs):
        self.prefix_sharing_stats["forward_tokens"] += input_ids.numel()
        self.prefix_sharing_stats["rows"] += input_ids.size(0)
        self.prefix_sharing_stats["unshared_calls"] += 1
        self._count_forward(attention_mask, logits_to_keep)
        return super()._get_per_token_logps_and_entropies(  # type: ignore[misc]
            model, input_ids, attention_mask, logits_to_keep, batch_size=batch_size, compute_entropy=compute_entropy,
            compute_aux_loss=compute_aux_loss, **kwargs)

    def _shared(self, model, input_ids, attention_mask, logits_to_keep, batch_size, compute_entropy, attention):
        share_trajectories = self.prefix_sharing == "trajectory"
        batch_size = input_ids.size(0) if share_trajectories else (batch_size or input_ids.size(0))
        packs = []
        for members in chunks(input_ids, attention_mask, logits_to_keep, batch_size):
            packed = pack(input_ids[members], attention_mask[members], logits_to_keep, share_trajectories)
            if packed is None:
                return None
            packs.append((members, packed))
        parts, entropy_parts, order = [], [], []
        for members, packed in packs:
            with self.accelerator.autocast():
                part, entropy = shared_logps_and_entropies(model, packed, len(members), logits_to_keep,
                                                           self.temperature, compute_entropy, attention)
            parts.append(part)
            entropy_parts.append(entropy)
            order += members
            self.prefix_sharing_stats["forward_tokens"] += packed.input_ids.numel()
            self.prefix_sharing_stats["rows"] += len(members)
            self.prefix_sharing_stats["trunks"] += packed.trunks
            self.prefix_sharing_stats["states"] += packed.states
        self._count_forward(attention_mask, logits_to_keep)
        inverse = torch.empty(len(order), dtype=torch.long, device=input_ids.device)
        inverse[torch.tensor(order, device=input_ids.device)] = torch.arange(len(order), device=input_ids.device)
        entropies = torch.cat(entropy_parts)[inverse] if compute_entropy else None
        return torch.cat(parts)[inverse], entropies, None

    def _shared_matches_unshared(self, model, input_ids, attention_mask, logits_to_keep, attention) -> bool:
        """Score the first batch both ways; warn and say False when the shared log-probs differ."""
        with torch.no_grad():
            shared = self._shared(model, input_ids, attention_mask, logits_to_keep, None, False, attention)
            if shared is None:
                return True
            unshared, _, _ = super()._get_per_token_logps_and_entropies(  # type: ignore[misc]
                model, input_ids, attention_mask, logits_to_keep)
        valid = attention_mask[:, -logits_to_keep:].bool()
        gap = float((shared[0] - unshared).abs()[valid].max()) if valid.any() else 0.0
        limit = tolerance(next(model.parameters()).dtype)
        if gap > limit:
            warnings.warn(f"prefix sharing '{self.prefix_sharing}' differs from the unshared log-probs by {gap:.2e} "
                          f"(> {limit:.0e}) on the first batch: training with prefix_sharing=off", stacklevel=2)
            return False
        logger.info("prefix sharing '%s' matches the unshared log-probs (max gap %.2e)", self.prefix_sharing, gap)
        return True
