"""OpenAI-compatible HTTP backend (vLLM, SGLang, llama.cpp server, hosted APIs).

Requests of one batch run concurrently through the async ``openai`` client, bounded
by a semaphore, spread over several base URLs (one per server replica; see
:mod:`swirl.backends.replicas`). A request that fails transiently (429, 5xx,
connection error, timeout) is sent again at once to a replica it has not tried yet;
once every replica failed it, it is retried with exponential backoff. An item that
still fails comes back with ``finish_reason='error'`` and the reason, so the caller
can record it instead of losing it. The API key is read from the environment only.

Servers strip the stop string that ends a turn. Which one it was comes from the server
(vLLM's ``stop_reason``, SGLang's ``matched_stop``); a server that does not say (the
OpenAI API, llama-cpp-python's server) is sent no stop strings once this is seen, and the
client cuts its continuation at the first one, as the hf backend does. No closing tag is
ever added that the model did not write.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import urllib.request
from typing import Any

import numpy as np
import openai

from swirl.backends.base import CONCURRENCY, RETRIES, TIMEOUT_S, Backend, BackendInfo, Completion, GenerationRequest, cut_at_stop
from swirl.backends.replicas import ReplicaCounts, ReplicaPool
from swirl.records import ChatMessage

API_KEY_VARIABLES = ("SWIRL_API_KEY", "OPENAI_API_KEY")


def api_key_from_environment() -> str:
    for variable in API_KEY_VARIABLES:
        if os.environ.get(variable):
            return os.environ[variable]
    return "not-needed"


def is_retryable(error: BaseException) -> bool:
    if isinstance(error, (openai.APIConnectionError, openai.APITimeoutError, openai.RateLimitError)):
        return True
    return isinstance(error, openai.APIStatusError) and error.status_code >= 500


class OpenAIBackend(Backend):
    def __init__(
        self,
        model: str,
        base_urls: tuple[str, ...],
        *,
        concurrency: int = CONCURRENCY,
        timeout: float = TIMEOUT_S,
        max_retries: int = RETRIES,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
    ) -> None:
        self.model = model
        self.base_urls = base_urls
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.info = BackendInfo(name=f"openai:{model}", supports_logprobs=True)
        self.replicas = ReplicaPool(base_urls)
        self.cuts_stops_itself = False
        """Set once the server is seen ending a turn at a stop string without naming it."""

    def _clients(self) -> list[openai.AsyncOpenAI]:
        key = api_key_from_environment()
        return [
            openai.AsyncOpenAI(base_url=url, api_key=key, timeout=self.timeout, max_retries=0)
            for url in self.base_urls
        ]

    async def _with_retries(self, clients: list[openai.AsyncOpenAI], semaphore: asyncio.Semaphore, **kwargs: Any):
        """Send one request, failing over to another replica at once and backing off once all were tried."""
        attempt = 0
        tried: set[int] = set()
        while True:
            async with semaphore:
                index = self.replicas.pick(tried)
                try:
                    reply = await clients[index].chat.completions.create(model=self.model, **kwargs)
                except Exception as error:
                    if not is_retryable(error):
                        self.replicas.succeeded(index)  # it answered: the request, not the server, is wrong
                        raise
                    # A rate limit says the server is up and busy: no reason to take it out of rotation.
                    if not isinstance(error, openai.RateLimitError):
                        self.replicas.failed(index)
                    tried.add(index)
                    if len(tried) < len(self.replicas):
                        continue
                    if attempt >= self.max_retries:
                        raise
                else:
                    self.replicas.succeeded(index)
                    return reply
            tried.clear()
            delay = min(self.backoff_max, self.backoff_base * 2**attempt) * (0.5 + random.random() / 2)
            attempt += 1
            await asyncio.sleep(delay)

    def replica_counts(self) -> dict[str, ReplicaCounts]:
        return self.replicas.counts()

    def _run(self, coroutines_factory) -> list[Any]:
        async def main() -> list[Any]:
            clients = self._clients()
            semaphore = asyncio.Semaphore(self.concurrency)
            try:
                return await asyncio.gather(*coroutines_factory(clients, semaphore), return_exceptions=True)
            finally:
                for client in clients:
                    await client.close()

        return asyncio.run(main())

    def generate(self, conversations: list[list[ChatMessage]], request: GenerationRequest) -> list[Completion]:
        cut_here = self.cuts_stops_itself
        replies = self._complete(conversations, request, send_stops=not cut_here)
        completions = [_to_completion(reply, request, cut_here) for reply in replies]
        unknown = [i for i, c in enumerate(completions) if c is None]
        if unknown:
            # The server ended these turns at a stop string without saying which one: from now on
            # it gets no stop strings, and its whole continuation is cut here, as hf cuts its own.
            self.cuts_stops_itself = True
            again = self._complete([conversations[i] for i in unknown], request, send_stops=False, offsets=unknown)
            for i, reply in zip(unknown, again):
                completions[i] = _to_completion(reply, request, True)
        return [c for c in completions if c is not None]

    def _complete(
        self,
        conversations: list[list[ChatMessage]],
        request: GenerationRequest,
        *,
        send_stops: bool,
        offsets: list[int] | None = None,
    ) -> list[Any]:
        """One reply (or the exception that ended it) per conversation; ``offsets`` are added to the request's seed."""
        kwargs: dict[str, Any] = {
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
        }
        if request.stop and send_stops:
            kwargs["stop"] = list(request.stop)
        offsets = offsets or list(range(len(conversations)))

        def requests(clients, semaphore):
            return [
                self._with_retries(
                    clients,
                    semaphore,
                    messages=conversation,
                    seed=None if request.seed is None else request.seed + offset,
                    **kwargs,
                )
                for offset, conversation in zip(offsets, conversations)
            ]

        return self._run(requests)

    def next_token_logprobs(
        self, conversations: list[list[ChatMessage]], candidates: list[str]
    ) -> list[dict[str, float]]:
        def requests(clients, semaphore):
            return [
                self._with_retries(
                    clients, semaphore, messages=c, max_tokens=1, temperature=0.0, logprobs=True, top_logprobs=20
                )
                for c in conversations
            ]

        results = []
        for reply in self._run(requests):
            if isinstance(reply, BaseException):
                raise reply
            try:
                top = reply.choices[0].logprobs.content[0].top_logprobs
            except (AttributeError, IndexError, TypeError) as error:
                raise RuntimeError(f"server returned no log-probabilities: {error}") from error
            results.append(candidate_logprobs({t.token: t.logprob for t in top}, candidates))
        return results

    def count_tokens(self, text: str) -> int | None:
        """Asked of the server's tokenize endpoint (llama-cpp-python, llama.cpp, vLLM); None when it has none."""
        endpoints = (
            ("/extras/tokenize", lambda t: {"input": t, "model": self.model}),
            ("/tokenize", lambda t: {"content": t, "prompt": t, "model": self.model, "add_special_tokens": False}),
        )
        for url in self.base_urls:
            root = url.rstrip("/").removesuffix("/v1")
            for path, body in endpoints:
                with_text, empty = _token_count(root + path, body(text)), _token_count(root + path, body(""))
                if with_text is not None and empty is not None:
                    # What the empty text counts is what the endpoint adds to every text (a BOS token).
                    return with_text - empty
        return None


def _token_count(url: str, body: dict[str, Any]) -> int | None:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode("utf-8"),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {api_key_from_environment()}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10.0) as reply:
            tokens = json.loads(reply.read())["tokens"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return len(tokens) if isinstance(tokens, list) else None


def candidate_logprobs(top: dict[str, float], candidates: list[str]) -> dict[str, float]:
    """Each candidate's log-probability among the top first tokens: the tokens that are exactly it.

    A token counts with or without surrounding whitespace, as the other backends count the
    candidate with or without a leading space; a token that is only a prefix of the
    candidate ("G", "GO") is another word's start and never counts. A candidate outside the
    top tokens gets no probability (-inf): the server does not say how unlikely it is.
    """
    pooled = {}
    for candidate in candidates:
        matching = [lp for token, lp in top.items() if token.strip() == candidate]
        pooled[candidate] = float(np.logaddexp.reduce(matching)) if matching else -math.inf
    return pooled


_STOP_REPORTS = ("stop_reason", "matched_stop")
"""Fields in which servers name the stop string that ended a turn (vLLM, SGLang); None there = end of turn."""
_UNREPORTED = object()


def _to_completion(reply: Any, request: GenerationRequest, cut_here: bool) -> Completion | None:
    """The completion of one reply, or None when it ended at a stop string the server did not name.

    ``cut_here``: the request went out without stop strings, so they are searched in the text.
    """
    if isinstance(reply, BaseException):
        return Completion("", 0, 0, "error", error=f"{type(reply).__name__}: {reply}"[:500])
    try:
        choice = reply.choices[0]
        text = choice.message.content or ""
        usage = reply.usage
    except (AttributeError, IndexError, TypeError) as error:
        return Completion("", 0, 0, "error", error=f"malformed server reply: {error}")
    finish = "length" if choice.finish_reason == "length" else "stop"
    stop = None
    if cut_here:
        text, stop = cut_at_stop(text, request.stop)
        finish = "stop" if stop else finish
    elif finish == "stop" and request.stop:
        extra = getattr(choice, "model_extra", None) or {}
        reported = next((extra[key] for key in _STOP_REPORTS if key in extra), _UNREPORTED)
        if reported is _UNREPORTED:
            return None
        stop = reported if reported in request.stop else None
    return Completion(
        text=text,
        prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
        completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
        finish_reason=finish,
        stop=stop,
    )
