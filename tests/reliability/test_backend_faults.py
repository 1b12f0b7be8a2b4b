"""The openai backend under faults: a real llama.cpp server killed and restarted mid-run,
slow replies, malformed replies and rate limits.

Slow, malformed and 429 replies come from a small local HTTP stub, because the real
server cannot be made to produce them on demand; everything else uses the real server.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import LlamaServer, free_port

from swirl.backends import GenerationRequest, make_backend
from swirl.jsonl import read_records
from swirl.records import Trajectory
from swirl.tasks import load_tasks

CONVERSATION = [{"role": "user", "content": "Say hi."}]


@pytest.mark.llamacpp
@pytest.mark.slow
def test_server_killed_and_restarted_mid_run(tmp_path, data_dir):
    pytest.importorskip("llama_cpp.server")
    server = LlamaServer(free_port())
    server.start()
    output = tmp_path / "trajectories.jsonl"
    command = [sys.executable, "-m", "swirl", "generate", "--input", str(data_dir / "gsm8k" / "test_sample500.jsonl"),
               "--limit", "6", "--model", server.reference, "--output", str(output), "--max-tokens", "24",
               "--max-steps", "2", "--max-live", "1", "--concurrency", "1", "--retries", "8"]
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not (output.exists() and output.read_text().count("\n") >= 2):
            time.sleep(0.2)
        server.stop()
        time.sleep(3)
        server.start()
        _, stderr = run.communicate(timeout=600)
    finally:
        run.kill()
        server.stop()
    assert run.returncode == 0, stderr
    trajectories = read_records(output, Trajectory)
    ids = [t.id for t in trajectories]
    tasks = load_tasks(data_dir / "gsm8k" / "test_sample500.jsonl", limit=6)
    assert sorted(ids) == sorted(f"{task.id}#0" for task in tasks)
    for trajectory in trajectories:
        assert trajectory.termination in {"answered", "max_steps", "invalid", "error"}
        if trajectory.termination == "error":
            assert trajectory.error


class Stub(BaseHTTPRequestHandler):
    """Answers chat completions the way the test asks: slowly, malformed, or rate-limited."""

    behaviour = "ok"
    calls = 0

    def do_POST(self):  # noqa: N802 (http.server API)
        type(self).calls += 1
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.behaviour == "slow":
            time.sleep(3)
        if self.behaviour == "429" and type(self).calls == 1:
            self._send(429, {"error": {"message": "slow down"}})
            return
        if self.behaviour == "malformed":
            self._send(200, {"unexpected": True}, raw=b"{not json")
            return
        if self.behaviour == "no-choices":
            self._send(200, {"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": []})
            return
        self._send(200, {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                         "choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": "hi"}}],
                         "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}})

    def _send(self, status, body, raw=None):
        data = raw if raw is not None else json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except BrokenPipeError:
            pass  # the client gave up first (the timeout test)

    def log_message(self, *args):
        pass


@pytest.fixture
def stub():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Stub.calls = 0
    yield server
    server.shutdown()


def stub_backend(stub, behaviour, **kwargs):
    Stub.behaviour = behaviour
    backend = make_backend(f"openai:m@http://127.0.0.1:{stub.server_address[1]}/v1", **kwargs)
    backend.backoff_base = 0.05
    return backend


def test_slow_reply_hits_the_timeout(stub):
    backend = stub_backend(stub, "slow", timeout=0.5, max_retries=1)
    started = time.monotonic()
    [completion] = backend.generate([CONVERSATION], GenerationRequest(max_tokens=4))
    assert completion.finish_reason == "error" and "Timeout" in completion.error
    assert time.monotonic() - started < 2.9
    assert Stub.calls == 2


@pytest.mark.parametrize("behaviour", ["malformed", "no-choices"])
def test_malformed_reply_is_an_error_completion(stub, behaviour):
    backend = stub_backend(stub, behaviour, max_retries=0)
    [completion] = backend.generate([CONVERSATION], GenerationRequest(max_tokens=4))
    assert completion.finish_reason == "error"
    assert completion.error


def test_rate_limit_is_retried(stub):
    backend = stub_backend(stub, "429", max_retries=3)
    [completion] = backend.generate([CONVERSATION], GenerationRequest(max_tokens=4))
    assert completion.finish_reason == "stop" and completion.text == "hi"
    assert Stub.calls == 2


def test_a_dead_replica_is_failed_over_without_spending_retries(stub):
    Stub.behaviour = "ok"
    live = f"http://127.0.0.1:{stub.server_address[1]}/v1"
    dead = "http://127.0.0.1:9/v1"
    backend = make_backend(f"openai:m@{dead},{live}", max_retries=0, concurrency=2)
    completions = backend.generate([CONVERSATION] * 6, GenerationRequest(max_tokens=4))
    assert [c.text for c in completions] == ["hi"] * 6
    counts = backend.replica_counts()
    assert counts[live].ok == 6 and counts[live].failed == 0
    assert counts[dead].ok == 0 and 1 <= counts[dead].failed < 6, "the dead replica left the rotation"
