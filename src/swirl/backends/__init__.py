"""LLM backends behind one interface; :func:`make_backend` picks one for a model reference."""

from __future__ import annotations

from swirl.backends.base import (
    AUTO,
    BATCH_SIZE,
    CONCURRENCY,
    RETRIES,
    TIMEOUT_S,
    Backend,
    BackendInfo,
    Completion,
    GenerationRequest,
)
from swirl.errors import SwirlError
from swirl.models import ModelRef, gguf_file, hf_checkpoint, parse_model_ref

BACKENDS = (AUTO, "hf", "openai", "llamacpp", "vllm")


def make_backend(
    reference: str | ModelRef,
    backend: str = AUTO,
    *,
    batch_size: int = BATCH_SIZE,
    device: str | None = None,
    concurrency: int = CONCURRENCY,
    timeout: float = TIMEOUT_S,
    max_retries: int = RETRIES,
) -> Backend:
    """Open the model named by ``reference`` with the chosen engine.

    ``auto`` uses the HTTP client for ``openai:`` references and transformers otherwise;
    ``llamacpp`` (fast on CPU) needs a GGUF reference, ``vllm`` a GPU.
    """
    ref = parse_model_ref(reference) if isinstance(reference, str) else reference
    if backend not in BACKENDS:
        raise SwirlError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == AUTO:
        backend = "openai" if ref.kind == "openai" else "hf"
    if (backend == "openai") != (ref.kind == "openai"):
        raise SwirlError(f"backend {backend!r} cannot serve model reference {ref.name!r}")
    if backend == "openai":
        from swirl.backends.openai_backend import OpenAIBackend

        return OpenAIBackend(
            ref.location, ref.base_urls, concurrency=concurrency, timeout=timeout, max_retries=max_retries
        )
    if backend == "llamacpp":
        from swirl.backends.llamacpp import LlamaCppBackend

        return LlamaCppBackend(str(gguf_file(ref)))
    if backend == "vllm":
        from swirl.backends.vllm_backend import VLLMBackend

        return VLLMBackend(str(hf_checkpoint(ref)))
    from swirl.backends.hf import HFBackend

    return HFBackend.from_pretrained(str(hf_checkpoint(ref)), device=device, batch_size=batch_size, name=ref.name)


__all__ = ["BACKENDS", "Backend", "BackendInfo", "Completion", "GenerationRequest", "make_backend"]
