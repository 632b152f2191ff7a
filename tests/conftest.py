from pathlib import Path

import pytest

MLCORE_TESTS = Path(__file__).parent / "mlcore"


@pytest.fixture(scope="session")
def tiny_blip_dir(tmp_path_factory) -> str:
    """A tiny random BLIP saved with save_pretrained: the real transformers path, no download."""
    from mlcore.testing import build_tiny_blip

    return str(build_tiny_blip(tmp_path_factory.mktemp("tiny-blip")))


@pytest.fixture(autouse=True)
def _site_isolation(request, tmp_path):
    """Each Django test gets its own media folder and an empty cache."""
    if request.node.path.is_relative_to(MLCORE_TESTS):
        yield
        return
    settings = request.getfixturevalue("settings")
    settings.MEDIA_ROOT = str(tmp_path / "media")
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def tiny_model(settings, tiny_blip_dir) -> str:
    """Point CAPTION_MODEL at the tiny BLIP folder, as an operator points it at a real one."""
    settings.CAPTION_MODEL = tiny_blip_dir
    return tiny_blip_dir


@pytest.fixture
def make_user(db):
    from accounts.models import User

    def make(email: str = "ada@example.com", **extra) -> User:
        user = User(email=email, **extra)
        user.set_unusable_password()  # bcrypt is slow; the sign-up tests cover real hashing
        user.save()
        return user

    return make


@pytest.fixture
def user(make_user):
    return make_user()


@pytest.fixture
def logged_in_client(client, user):
    client.force_login(user)
    return client
