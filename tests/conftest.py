"""Shared fixtures: the embedded model (converted once into the user cache) and data paths."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def free_module_temp_dirs(request, tmp_path_factory):
    """Delete the temporary directories a test module made once it passes.

    The slow tests write model checkpoints (0.5-1.6 GB each); kept until the session ends, a full
    run needed over 45 GB of disk and CI ran out of it. `tmp_path` of a passing test goes at once
    (`tmp_path_retention_policy`); this frees the module-scoped ones and keeps a failing module's.
    """
    base = tmp_path_factory.getbasetemp()
    before = set(base.iterdir())
    failed_before = request.session.testsfailed
    yield
    if request.session.testsfailed == failed_before:
        for path in set(base.iterdir()) - before:
            shutil.rmtree(path, ignore_errors=True)


def shared_data_dir() -> Path:
    for candidate in (REPO_ROOT.parent / "shared" / "data", Path("/work/shared/data")):
        if candidate.is_dir():
            return candidate
    pytest.skip("shared benchmark data not found")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return shared_data_dir()


@pytest.fixture(scope="session")
def default_checkpoint() -> Path:
    """The embedded model as an HF checkpoint (converted on first use, then cached)."""
    from swirl.models import hf_checkpoint, parse_model_ref

    return hf_checkpoint(parse_model_ref("default"))


@pytest.fixture(scope="session")
def hf_backend(default_checkpoint):
    from swirl.backends.hf import HFBackend

    return HFBackend.from_pretrained(str(default_checkpoint), name="default")


class LlamaServer:
    """llama-cpp-python's OpenAI-compatible server on 127.0.0.1, serving the embedded GGUF."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.process = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def reference(self) -> str:
        return f"openai:smollm2@{self.base_url}"

    def start(self, timeout: float = 180.0) -> None:
        import subprocess
        import sys
        import time
        import urllib.request

        from swirl.models import default_gguf_path

        self.process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(default_gguf_path()),
             "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", "4096", "--logits_all", "true",
             "--model_alias", "smollm2"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("llama.cpp server exited during start-up")
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2):
                    return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError("llama.cpp server did not start in time")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def llama_server():
    pytest.importorskip("llama_cpp.server", reason="llama-cpp-python[server] is not installed")
    server = LlamaServer(free_port())
    server.start()
    yield server
    server.stop()
