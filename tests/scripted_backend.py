"""A backend that replays fixed replies, for testing the runner's and judges' bookkeeping.

Not a stand-in for a real model in end-to-end tests (those use the embedded model):
a 135M model cannot be made to write a chosen action on demand, so the state machine
around actions (tool call -> observation -> answer, invalid, errors) is driven by script.
"""

from __future__ import annotations

from swirl.backends.base import Backend, BackendInfo, Completion, GenerationRequest, cut_at_stop


class ScriptedBackend(Backend):
    def __init__(self, replies, logprobs=None):
        self.replies = replies
        self.logprobs = logprobs or {}
        self.calls: list[list] = []
        self.info = BackendInfo(name="scripted", supports_logprobs=True)

    def generate(self, conversations, request: GenerationRequest):
        self.calls.append(conversations)
        completions = []
        for conversation in conversations:
            reply = self.replies(conversation) if callable(self.replies) else self.replies.pop(0)
            if isinstance(reply, Completion):
                completions.append(reply)
                continue
            text, stop = cut_at_stop(reply, request.stop)
            completions.append(Completion(text, 10, 5, "stop", stop=stop))
        return completions

    def next_token_logprobs(self, conversations, candidates):
        return [dict(self.logprobs(c) if callable(self.logprobs) else self.logprobs) for c in conversations]
