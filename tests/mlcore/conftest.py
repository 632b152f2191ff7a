"""Shared fixtures for the mlcore tests: tiny random models built on the fly (no network)."""

from __future__ import annotations

import os

import pytest

# Never touch the network from these tests (read at call time by mlcore).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_blip_dir(tmp_path_factory) -> str:
    from benchmarks.testing import build_tiny_blip

    return build_tiny_blip(tmp_path_factory.mktemp("models") / "tiny-blip")


@pytest.fixture(autouse=True)
def _config_follows_the_environment():
    """mlcore reads its environment once (mlcore.config); a test that changes it calls
    reload_config(), and the environment as restored by monkeypatch is read again afterwards."""
    yield
    from mlcore import reload_config

    reload_config()


@pytest.fixture(scope="session")
def tiny_blip(tiny_blip_dir):
    """The tiny BLIP in exact float32 (the tests compare scores with plain transformers)."""
    from mlcore import load_captioner

    return load_captioner(tiny_blip_dir, dtype="float32")


@pytest.fixture(scope="session")
def images():
    from benchmarks.testing import make_test_images

    return make_test_images(6)


@pytest.fixture
def fresh_cache():
    from mlcore import clear_cache

    clear_cache()
    yield
    clear_cache()
