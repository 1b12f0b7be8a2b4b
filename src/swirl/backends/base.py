"""The one interface every LLM backend implements: batched chat continuations.

Stage 1 (rollouts), the judges and evaluation all talk to a model through
:class:`Backend`; which engine sits behind it (transformers, an OpenAI-compatible
server, llama.cpp, vLLM) is chosen by the model reference and ``--backend``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

from swirl.backends.replicas import ReplicaCounts
from swirl.records import ChatMessage, SamplingSettings

AUTO = "auto"
"""The default engine: the HTTP client for ``openai:`` references, transformers otherwise."""
BATCH_SIZE = 32
"""Sequences per forward batch (hf backend)."""
CONCURRENCY = 16
"""Requests in flight (openai backend)."""
TIMEOUT_S = 120.0
"""Seconds before an HTTP request times out (openai backend)."""
RETRIES = 6
"""Retries with exponential backoff on 429/5xx/connection errors (openai backend)."""
_SAMPLING = SamplingSettings()


@dataclass(frozen=True)
class GenerationRequest:
    """Sampling settings for one batch of continuations."""

    max_tokens: int = _SAMPLING.max_tokens
    temperature: float = _SAMPLING.temperature
    top_p: float = _SAMPLING.top_p
    stop: tuple[str, ...] = ()
    seed: int | None = None


@dataclass
class Completion:
    """One continuation. ``text`` ends *before* any stop string; ``stop`` names the one hit."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    """``stop`` (stop string or end of turn), ``length`` or ``error``."""
    stop: str | None = None
    error: str | None = None


@dataclass
class BackendInfo:
    name: str
    supports_logprobs: bool = False
    extra: dict[str, str] = field(default_factory=dict)


class Backend(ABC):
    """Generates assistant turns for a batch of chat conversations."""

    info: BackendInfo

    @abstractmethod
    def generate(self, conversations: list[list[ChatMessage]], request: GenerationRequest) -> list[Completion]:
        """One continuation per conversation, in order. A failed item has ``finish_reason='error'``."""

    def next_token_logprobs(
        self, conversations: list[list[ChatMessage]], candidates: list[str]
    ) -> list[dict[str, float]]:
        """Log-probability that the assistant's reply starts with each candidate, per conversation.

        Every candidate must be a single token of this model (see :meth:`count_tokens`); its
        probability is that of its token, written with or without a leading space, as the
        first token of the opened assistant turn. Every backend computes exactly this, so
        scores agree across engines serving the same model. Backends without
        log-probabilities raise :class:`NotImplementedError`.
        """
        raise NotImplementedError(f"backend {self.info.name} does not return log-probabilities")

    def count_tokens(self, text: str) -> int | None:
        """How many tokens the model's tokenizer splits ``text`` into; None when the backend cannot tell."""
        return None

    def replica_counts(self) -> dict[str, ReplicaCounts]:
        """Requests answered and failed per server replica (empty for in-process engines)."""
        return {}

    def close(self) -> None:
        """Release engine resources (servers, threads)."""


def cut_at_stop(text: str, stops: tuple[str, ...]) -> tuple[str, str | None]:
    """Cut ``text`` before the earliest stop string; return the kept text and the stop hit."""
    best: tuple[int, str] | None = None
    for stop in stops:
        position = text.find(stop)
        if position >= 0 and (best is None or position < best[0]):
            best = (position, stop)
    if best is None:
        return text, None
    return text[: best[0]], best[1]


def single_token_ids(text: str, encode: Callable[[str], list[int]], model: str) -> list[int]:
    """Ids of ``text`` and of ``" " + text`` (tokenizers differ on the leading space) that are one token each.

    Raises ValueError when neither is a single token for ``model``: its probability as a
    first token would then be that of an unrelated prefix.
    """
    ids = set()
    for variant in (text, " " + text):
        encoded = encode(variant)
        if len(encoded) == 1:
            ids.add(encoded[0])
    if not ids:
        raise ValueError(f"{text!r} is several tokens for {model}; score only single-token labels")
    return sorted(ids)
