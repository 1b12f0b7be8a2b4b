"""Shared fixtures: the embedded model (converted once into the user cache) and data paths."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


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
