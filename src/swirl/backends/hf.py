"""transformers backend: batched generation over all live conversations (CPU or GPU).

Conversations are rendered with the model's chat template, left-padded and generated
together in chunks of ``batch_size`` with the KV cache, so one rollout step costs one
``generate`` call per chunk instead of one per trajectory.
"""

from __future__ import annotations

from typing import Any

import torch

from swirl.backends.base import Backend, BackendInfo, Completion, GenerationRequest, cut_at_stop, single_token_ids
from swirl.records import ChatMessage


def pick_device(requested: str | None = None) -> str:
    if requested:
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


class HFBackend(Backend):
    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        name: str = "hf",
        batch_size: int = 32,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"
        self.info = BackendInfo(name=f"hf:{name}", supports_logprobs=True)

    @classmethod
    def from_pretrained(
        cls, path: str, *, device: str | None = None, dtype: str = "auto", batch_size: int = 32, name: str = ""
    ) -> "HFBackend":
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = pick_device(device)
        torch_dtype = torch.float32 if device == "cpu" and dtype == "auto" else dtype
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype).to(device)
        model.eval()
        return cls(model, tokenizer, name=name or path, batch_size=batch_size)

    def _render(self, conversation: list[ChatMessage]) -> str:
        return self.tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)

    def _encode(self, texts: list[str]) -> dict[str, torch.Tensor]:
        encoded = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        return {k: v.to(self.model.device) for k, v in encoded.items()}

    def _chunks(self, texts: list[str]) -> list[list[int]]:
        """Index chunks grouped by rendered length, so a batch pads as little as possible."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        return [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]

    @torch.no_grad()
    def generate(self, conversations: list[list[ChatMessage]], request: GenerationRequest) -> list[Completion]:
        texts = [self._render(c) for c in conversations]
        results: list[Completion | None] = [None] * len(conversations)
        if request.seed is not None:
            torch.manual_seed(request.seed)
        for chunk in self._chunks(texts):
            for index, completion in zip(chunk, self._generate_chunk([texts[i] for i in chunk], request)):
                results[index] = completion
        return [r for r in results if r is not None]

    def _generate_chunk(self, texts: list[str], request: GenerationRequest) -> list[Completion]:
        inputs = self._encode(texts)
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
        output = self.model.generate(**inputs, **kwargs)
        prompt_width = inputs["input_ids"].shape[1]
        prompt_tokens = inputs["attention_mask"].sum(dim=1).tolist()
        completions = []
        end_ids = {self.tokenizer.eos_token_id, self.tokenizer.pad_token_id}
        for row, n_prompt in zip(output[:, prompt_width:].tolist(), prompt_tokens):
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
