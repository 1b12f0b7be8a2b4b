"""vLLM offline engine backend for GPU users (optional extra ``swirl-rl[vllm]``).

Imported only when chosen. vLLM batches and schedules internally, so a whole rollout
step is one ``LLM.chat`` call. Not exercised by the CPU test suite; for multi-GPU or
multi-node serving, prefer ``vllm serve`` and the ``openai:`` backend.
"""

from __future__ import annotations

from typing import Any

from swirl.backends.base import Backend, BackendInfo, Completion, GenerationRequest, cut_at_stop
from swirl.backends.openai_backend import candidate_logprobs
from swirl.errors import SwirlError
from swirl.records import ChatMessage


class VLLMBackend(Backend):
    def __init__(self, path: str, **engine_args: Any) -> None:
        try:
            from vllm import LLM
        except ImportError as error:
            raise SwirlError("the vllm backend needs vLLM: pip install 'swirl-rl[vllm]'") from error
        self.llm = LLM(model=path, **engine_args)
        self.info = BackendInfo(name=f"vllm:{path}", supports_logprobs=True)

    def generate(self, conversations: list[list[ChatMessage]], request: GenerationRequest) -> list[Completion]:
        from vllm import SamplingParams

        # One seed per request, as the other backends do: a single seeded SamplingParams
        # for the batch would make the N trajectories of a question identical.
        params = [
            SamplingParams(
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                top_p=request.top_p,
                stop=list(request.stop),
                include_stop_str_in_output=True,
                seed=None if request.seed is None else request.seed + offset,
            )
            for offset in range(len(conversations))
        ]
        completions = []
        for output in self.llm.chat(conversations, params, use_tqdm=False):
            sample = output.outputs[0]
            text, stop = cut_at_stop(sample.text, request.stop)
            completions.append(
                Completion(
                    text=text,
                    prompt_tokens=len(output.prompt_token_ids or []),
                    completion_tokens=len(sample.token_ids),
                    finish_reason="length" if sample.finish_reason == "length" else "stop",
                    stop=stop,
                )
            )
        return completions

    def next_token_logprobs(
        self, conversations: list[list[ChatMessage]], candidates: list[str]
    ) -> list[dict[str, float]]:
        from vllm import SamplingParams

        params = SamplingParams(max_tokens=1, temperature=0.0, logprobs=20)
        results = []
        for output in self.llm.chat(conversations, params, use_tqdm=False):
            top = output.outputs[0].logprobs[0]
            results.append(candidate_logprobs({lp.decoded_token: lp.logprob for lp in top.values()}, candidates))
        return results

    def count_tokens(self, text: str) -> int:
        return len(self.llm.get_tokenizer().encode(text, add_special_tokens=False))
