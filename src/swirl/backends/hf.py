"""transformers backend: batched generation over all live conversations (CPU or GPU).

Conversations are rendered with the model's chat template, left-padded and generated
together in chunks of ``batch_size`` with the KV cache, so one rollout step costs one
``generate`` call per chunk instead of one per trajectory.

KV reuse (``kv_reuse``, on by default): the backend keeps the KV cache of each
continuation it wrote in its last call. A conversation that extends one of them (a
trajectory's next state is its last state, the action and the observation) reuses the
cache of the longest shared token prefix and encodes only the rest, and conversations of
one call that share a prefix (the N trajectories of a question, the system prompt of all
questions) encode it once. Each conversation is encoded alone up to its last token, so no
padding sits inside a stored cache; a batch is then assembled left-padded around those
caches and ``generate`` feeds each row only its last prompt token. Positions follow the
attention mask, so the tokens and their positions are those of the unshared path.

:func:`prefill_repeated_prompts` does the same for GRPO's sampling, where each state is in
the batch once per sampled action.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from swirl.backends.base import (
    Backend,
    BackendInfo,
    Completion,
    GenerationRequest,
    cut_at_stop,
    single_token_ids,
)
from swirl.records import ChatMessage

KV = list[tuple[torch.Tensor, torch.Tensor]]
"""Keys and values per layer, each ``[1, kv_heads, tokens, head_dim]``."""


def reusable_cache(model: Any) -> bool:
    """Whether ``model``'s KV cache can be spliced per layer along the sequence and across rows.

    Layers that drop or summarise old tokens (sliding windows, linear attention) cannot be.
    """
    return all(type(layer) is DynamicLayer for layer in DynamicCache(config=model.config).layers)


@contextmanager
def prefill_repeated_prompts(model: Any) -> Iterator[None]:
    """While open, ``model.generate`` encodes each distinct row of a batch once and copies its cache to the repeats.

    GRPO samples G actions of a state by repeating the state G times in the batch. Rows are
    compared with their padding, so a repeat's positions and mask are exactly its original's,
    and ``generate`` then feeds every row only its last prompt token.
    """
    if not reusable_cache(model):
        yield
        return
    own = vars(model).get("generate")
    generate = model.generate

    def generate_once_per_prompt(
        input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None, **kwargs: Any
    ) -> Any:
        rows = [tuple(row) for row in input_ids.tolist()] if input_ids is not None else []
        first: dict[tuple[int, ...], int] = {}
        for index, row in enumerate(rows):
            first.setdefault(row, index)
        config = kwargs.get("generation_config")
        # Inputs beyond the prompt (images, token types) or a cache of generate's choosing: leave them to it.
        own_call = set(kwargs) - {"generation_config"} or getattr(config, "cache_implementation", None)
        if own_call or attention_mask is None or input_ids.shape[1] < 2 or len(first) == len(rows):
            return generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        unique = list(first.values())
        mask = attention_mask[unique, :-1]
        cache = DynamicCache(config=model.config)
        model(
            input_ids=input_ids[unique, :-1],
            attention_mask=mask,
            position_ids=(mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 0),
            cache=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        slot = {row: n for n, row in enumerate(first)}
        cache.batch_select_indices(torch.tensor([slot[row] for row in rows], device=input_ids.device))
        return generate(input_ids=input_ids, attention_mask=attention_mask, cache=cache, **kwargs)

    model.generate = generate_once_per_prompt
    try:
        yield
    finally:
        if own is None:
            del model.generate
        else:
            model.generate = own


def pick_device(requested: str | None = None) -> str:
    if requested:
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def common_prefix_length(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def kv_bytes(kv: KV) -> int:
    return sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in kv)


class PrefixStore:
    """KV caches of token sequences, looked up by longest common prefix.

    Kept sorted: the stored sequence sharing the longest prefix with a query is one of
    its two neighbours in lexicographic order, so a lookup is a bisection.
    """

    def __init__(self) -> None:
        self._ids: list[tuple[int, ...]] = []
        self._kvs: list[KV] = []
        self.nbytes = 0

    def add(self, ids: tuple[int, ...], kv: KV) -> None:
        position = bisect.bisect_left(self._ids, ids)
        if position < len(self._ids) and self._ids[position] == ids:
            self.nbytes -= kv_bytes(self._kvs[position])
            self._kvs[position] = kv
        else:
            self._ids.insert(position, ids)
            self._kvs.insert(position, kv)
        self.nbytes += kv_bytes(kv)

    def longest_prefix(self, ids: tuple[int, ...]) -> tuple[int, KV | None]:
        """The length of the longest stored prefix of ``ids`` and a cache holding it (and maybe more)."""
        position = bisect.bisect_left(self._ids, ids)
        best: tuple[int, KV | None] = (0, None)
        for neighbour in (position - 1, position):
            if 0 <= neighbour < len(self._ids):
                n = common_prefix_length(self._ids[neighbour], ids)
                if n > best[0]:
                    best = (n, self._kvs[neighbour])
        return best


class HFBackend(Backend):
    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        name: str = "hf",
        batch_size: int = 32,
        kv_reuse: bool = True,
        kv_reuse_bytes: int = 2 << 30,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"
        self.kv_reuse = kv_reuse and reusable_cache(model)
        self.kv_reuse_bytes = kv_reuse_bytes
        """Memory the caches kept between calls may take, and again those of the prefixes one call
        shares; what does not fit is encoded again."""
        self._store = PrefixStore()
        """The caches of the last call's continuations."""
        self.info = BackendInfo(name=f"hf:{name}", supports_logprobs=True)

    @classmethod
    def from_pretrained(
        cls,
        path: str,
        *,
        device: str | None = None,
        dtype: str = "auto",
        batch_size: int = 32,
        name: str = "",
        kv_reuse: bool = True,
    ) -> HFBackend:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = pick_device(device)
        torch_dtype = torch.float32 if device == "cpu" and dtype == "auto" else dtype
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype).to(device)
        model.eval()
        return cls(model, tokenizer, name=name or path, batch_size=batch_size, kv_reuse=kv_reuse)

    def _render(self, conversation: list[ChatMessage]) -> str:
        return self.tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)

    def _encode(self, texts: list[str]) -> dict[str, torch.Tensor]:
        encoded = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        return {k: v.to(self.model.device) for k, v in encoded.items()}

    def _chunks(self, texts: list[str]) -> list[list[int]]:
        """Index chunks grouped by rendered length, so a batch pads as little as possible."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        return [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]

    def _generate_kwargs(self, request: GenerationRequest) -> dict[str, Any]:
        sampling = request.temperature > 0
        kwargs: dict[str, Any] = {
            "max_new_tokens": request.max_tokens,
            "do_sample": sampling,
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if sampling:
            kwargs.update(temperature=request.temperature, top_p=request.top_p, top_k=0)
        if request.stop:
            kwargs.update(stop_strings=list(request.stop), tokenizer=self.tokenizer)
        return kwargs

    @torch.no_grad()
    def generate(self, conversations: list[list[ChatMessage]], request: GenerationRequest) -> list[Completion]:
        texts = [self._render(c) for c in conversations]
        results: list[Completion | None] = [None] * len(conversations)
        if request.seed is not None:
            torch.manual_seed(request.seed)
        shared, kept = PrefixStore(), PrefixStore()
        for chunk in self._chunks(texts):
            chunk_texts = [texts[i] for i in chunk]
            if self.kv_reuse:
                completions = self._generate_reusing(chunk_texts, request, shared, kept)
            else:
                completions = self._generate_chunk(chunk_texts, request)
            for index, completion in zip(chunk, completions):
                results[index] = completion
        self._store = kept
        return [r for r in results if r is not None]

    def _generate_chunk(self, texts: list[str], request: GenerationRequest) -> list[Completion]:
        inputs = self._encode(texts)
        output = self.model.generate(**inputs, **self._generate_kwargs(request))
        prompt_tokens = inputs["attention_mask"].sum(dim=1).tolist()
        return self._completions(output[:, inputs["input_ids"].shape[1] :].tolist(), prompt_tokens, request)

    def _generate_reusing(
        self, texts: list[str], request: GenerationRequest, shared: PrefixStore, kept: PrefixStore
    ) -> list[Completion]:
        """Generate for one chunk from stored caches, and keep the caches of its continuations in ``kept``."""
        token_ids = [tuple(self._token_ids(text)) for text in texts]
        caches = [self._cache_for(ids[:-1], shared) for ids in token_ids]
        width = max(len(ids) for ids in token_ids)
        pads = [width - len(ids) for ids in token_ids]
        device = self.model.device
        input_ids = torch.tensor(
            [[self.tokenizer.pad_token_id] * pad + list(ids) for pad, ids in zip(pads, token_ids)], device=device
        )
        attention_mask = torch.tensor([[0] * pad + [1] * len(ids) for pad, ids in zip(pads, token_ids)], device=device)
        layers = []
        for layer in range(len(caches[0])):
            keys, values = (
                torch.cat([torch.nn.functional.pad(kv[layer][part], (0, 0, pad, 0)) for kv, pad in zip(caches, pads)])
                for part in (0, 1)
            )
            layers.append((keys, values))
        cache = DynamicCache(layers)
        output = self.model.generate(
            input_ids=input_ids, attention_mask=attention_mask, cache=cache, **self._generate_kwargs(request)
        )
        # The cache holds every token generate fed: all but the last one it sampled.
        cached = cache.get_seq_length()
        for row, pad in enumerate(pads):
            kv = [(k[row : row + 1, :, pad:cached].clone(), v[row : row + 1, :, pad:cached].clone()) for k, v, _ in cache]
            if kept.nbytes + kv_bytes(kv) <= self.kv_reuse_bytes:
                kept.add(tuple(output[row, pad:cached].tolist()), kv)
        return self._completions(output[:, width:].tolist(), [len(ids) for ids in token_ids], request)

    def _cache_for(self, ids: tuple[int, ...], shared: PrefixStore) -> KV:
        """The KV cache of ``ids``: the longest prefix stored or ``shared`` in this call, extended
        by encoding the rest, which is then shared with the rest of the call."""
        reused, stored = max(self._store.longest_prefix(ids), shared.longest_prefix(ids), key=lambda found: found[0])
        prefix = [(k[:, :, :reused], v[:, :, :reused]) for k, v in stored] if stored else []
        if reused == len(ids):
            return prefix
        cache = DynamicCache(prefix) if prefix else DynamicCache()
        suffix = torch.tensor([ids[reused:]], device=self.model.device)
        self.model(input_ids=suffix, cache=cache, use_cache=True, logits_to_keep=1)
        kv = [(k, v) for k, v, _ in cache]
        if shared.nbytes + kv_bytes(kv) <= self.kv_reuse_bytes:
            shared.add(ids, kv)
        return kv

    def _completions(
        self, generated_rows: list[list[int]], prompt_tokens: list[int], request: GenerationRequest
    ) -> list[Completion]:
        completions = []
        end_ids = {self.tokenizer.eos_token_id, self.tokenizer.pad_token_id}
        for row, n_prompt in zip(generated_rows, prompt_tokens):
            ended = next((i for i, t in enumerate(row) if t in end_ids), None)
            generated = row if ended is None else row[:ended]
            text, stop = cut_at_stop(self.tokenizer.decode(generated, skip_special_tokens=True), request.stop)
            finished = stop is not None or ended is not None
            completions.append(
                Completion(
                    text=text,
                    prompt_tokens=int(n_prompt),
                    completion_tokens=len(generated) + (1 if ended is not None else 0),
                    finish_reason="stop" if finished else "length",
                    stop=stop,
                )
            )
        return completions

    @torch.no_grad()
    def next_token_logprobs(
        self, conversations: list[list[ChatMessage]], candidates: list[str]
    ) -> list[dict[str, float]]:
        candidate_ids = {c: single_token_ids(c, self._token_ids, self.info.name) for c in candidates}
        texts = [self._render(c) for c in conversations]
        results: list[dict[str, float] | None] = [None] * len(conversations)
        for chunk in self._chunks(texts):
            inputs = self._encode([texts[i] for i in chunk])
            logits = self.model(**inputs).logits[:, -1, :].float()
            logprobs = torch.log_softmax(logits, dim=-1)
            for row, index in enumerate(chunk):
                results[index] = {c: float(torch.logsumexp(logprobs[row, ids], dim=0)) for c, ids in candidate_ids.items()}
        return [r for r in results if r is not None]

    def count_tokens(self, text: str) -> int:
        return len(self._token_ids(text))

    def _token_ids(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)
