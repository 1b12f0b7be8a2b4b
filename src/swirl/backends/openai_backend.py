"""OpenAI-compatible HTTP backend (vLLM, SGLang, llama.cpp server, hosted APIs).

Requests of one batch run concurrently through the async ``openai`` client, bounded
by a semaphore, spread over several base URLs (one per server replica; see
:mod:`swirl.backends.replicas`). A request that fails transiently (429, 5xx,
connection error, timeout) is sent again at once to a replica it has not tried yet;
once every replica failed it, it is retried with exponential backoff. An item that
still fails comes back with ``finish_reason='error'`` and the reason, so the caller
can record it instead of losing it. The API key is read from the environment only.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
from typing import Any

import openai

from swirl.backends.base import Backend, BackendInfo, Completion, GenerationRequest, closing_tag_for
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
        concurrency: int = 16,
        timeout: float = 120.0,
        max_retries: int = 6,
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
        kwargs: dict[str, Any] = {
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
        }
        if request.stop:
            kwargs["stop"] = list(request.stop)

        def requests(clients, semaphore):
            return [
                self._with_retries(
                    clients,
                    semaphore,
                    messages=conversation,
                    seed=None if request.seed is None else request.seed + i,
                    **kwargs,
                )
                for i, conversation in enumerate(conversations)
            ]

        return [self._to_completion(reply, request) for reply in self._run(requests)]

    @staticmethod
    def _to_completion(reply: Any, request: GenerationRequest) -> Completion:
        if isinstance(reply, BaseException):
            return Completion("", 0, 0, "error", error=f"{type(reply).__name__}: {reply}"[:500])
        try:
            choice = reply.choices[0]
            text = choice.message.content or ""
            usage = reply.usage
        except (AttributeError, IndexError, TypeError) as error:
            return Completion("", 0, 0, "error", error=f"malformed server reply: {error}")
        finish = "length" if choice.finish_reason == "length" else "stop"
        stop = closing_tag_for(text, request.stop) if finish == "stop" else None
        return Completion(
            text=text,
            prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
            finish_reason=finish,
            stop=stop,
        )

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


def candidate_logprobs(top: dict[str, float], candidates: list[str]) -> dict[str, float]:
    """Pool the probability of every top token that starts a candidate word."""
    pooled = {}
    for candidate in candidates:
        matching = [lp for token, lp in top.items() if token.strip() and candidate.upper().startswith(token.strip().upper())]
        pooled[candidate] = math.log(sum(math.exp(lp) for lp in matching)) if matching else -math.inf
    return pooled

