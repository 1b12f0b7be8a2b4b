"""llama.cpp in-process backend (optional extra ``swirl-rl[llamacpp]``): the fast CPU path.

Runs a GGUF file with llama-cpp-python, one conversation after another (llama.cpp's
single context is already fast on CPU). A turn ends at the first stop string, which
llama.cpp leaves in the text so the backend knows which one it was (as the hf backend
does), never guessing it. Next-token log-probabilities for the judge's
score mode come from one evaluation of the prompt, without sampling.
"""

from __future__ import annotations

import math
import os

import numpy as np

try:
    import llama_cpp
except ImportError:
    llama_cpp = None

from swirl.backends.base import Backend, BackendInfo, Completion, GenerationRequest, cut_at_stop, single_token_ids
from swirl.errors import SwirlError
from swirl.records import ChatMessage


class LlamaCppBackend(Backend):
    def __init__(self, gguf_path: str, *, n_ctx: int = 4096, n_threads: int | None = None) -> None:
        try:
            from llama_cpp import Llama
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError as error:
            raise SwirlError("the llamacpp backend needs llama-cpp-python: pip install 'swirl-rl[llamacpp]'") from error
        self.llm = Llama(model_path=gguf_path, n_ctx=n_ctx, n_threads=n_threads or os.cpu_count(), verbose=False)
        template = self.llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise SwirlError(f"{gguf_path} has no chat template; the llamacpp backend needs one")
        token = lambda key: self.llm._model.token_get_text(int(self.llm.metadata[key])) if key in self.llm.metadata else ""  # noqa: E731
        self.formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=token("tokenizer.ggml.eos_token_id"),
            bos_token=token("tokenizer.ggml.bos_token_id"),
        )
        self.info = BackendInfo(name=f"llamacpp:{gguf_path}", supports_logprobs=True)

    def generate(self, conversations: list[list[ChatMessage]], request: GenerationRequest) -> list[Completion]:
        completions = []
        for offset, conversation in enumerate(conversations):
            formatted = self.formatter(messages=conversation)
            prompt = self.llm.tokenize(
                formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special, special=True
            )
            try:
                reply = self.llm.create_completion(
                    prompt=prompt,
                    max_tokens=request.max_tokens,
                    temperature=request.temperature,
                    top_p=request.top_p,
                    stop=formatted.stop,
                    seed=None if request.seed is None else request.seed + offset,
                    stopping_criteria=llama_cpp.StoppingCriteriaList([_StopStringSeen(self.llm, len(prompt), request.stop)]),
                )
            except (ValueError, RuntimeError) as error:
                completions.append(Completion("", 0, 0, "error", error=str(error)[:500]))
                continue
            choice = reply["choices"][0]
            # The stop strings were left in the text (llama.cpp would strip them unnamed): cut here, as hf does.
            text, stop = cut_at_stop(choice["text"], request.stop)
            completions.append(
                Completion(
                    text=text,
                    prompt_tokens=reply["usage"]["prompt_tokens"],
                    completion_tokens=reply["usage"]["completion_tokens"],
                    finish_reason="stop" if stop or choice["finish_reason"] == "stop" else "length",
                    stop=stop,
                )
            )
        return completions

    def next_token_logprobs(
        self, conversations: list[list[ChatMessage]], candidates: list[str]
    ) -> list[dict[str, float]]:
        candidate_ids = {c: single_token_ids(c, self._token_ids, self.info.name) for c in candidates}
        results = []
        for conversation in conversations:
            prompt = self.formatter(messages=conversation).prompt
            tokens = self.llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
            self.llm.reset()
            self.llm.eval(tokens)
            # Without logits_all, llama-cpp-python keeps no score rows; read the context's last row.
            row = llama_cpp.llama_get_logits_ith(self.llm.ctx, -1)
            logits = np.ctypeslib.as_array(row, shape=(self.llm.n_vocab(),)).astype(np.float64)
            logprobs = logits - (logits.max() + math.log(np.exp(logits - logits.max()).sum()))
            results.append({c: float(np.logaddexp.reduce(logprobs[ids])) for c, ids in candidate_ids.items()})
        return results

    def count_tokens(self, text: str) -> int:
        return len(self._token_ids(text))

    def _token_ids(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def close(self) -> None:
        # Drop the engine now: left to interpreter shutdown, llama-cpp-python's __del__
        # fails noisily once its native library is already unloaded.
        llm = self.__dict__.pop("llm", None)
        if llm is not None:
            llm.close()


class _StopStringSeen:
    """llama.cpp stopping criterion: the generated text so far contains one of ``stops``.

    llama.cpp checks it before keeping each new token, so the text it returns ends with the
    token that completed the stop string, which stays in the text.
    """

    def __init__(self, llm: "llama_cpp.Llama", prompt_length: int, stops: tuple[str, ...]) -> None:
        self.llm = llm
        self.prompt_length = prompt_length
        self.stops = stops

    def __call__(self, input_ids: np.ndarray, _logits: np.ndarray) -> bool:
        if not self.stops or len(input_ids) <= self.prompt_length:
            return False
        text = self.llm.detokenize([int(t) for t in input_ids[self.prompt_length :]]).decode("utf-8", errors="ignore")
        return any(stop in text for stop in self.stops)
