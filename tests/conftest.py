import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.processes import database_url_of_this_test

MLCORE_TESTS = Path(__file__).parent / "mlcore"
REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_blip_dir(tmp_path_factory) -> str:
    """A tiny random BLIP saved with save_pretrained: the real transformers path, no download."""
    from benchmarks.testing import build_tiny_blip

    return str(build_tiny_blip(tmp_path_factory.mktemp("tiny-blip")))


@pytest.fixture(scope="session")
def tiny_vlm_dir(tmp_path_factory) -> str:
    """A tiny random LLaVA (a chat VLM: every style and language) saved like a checkpoint."""
    from benchmarks.testing_vlm import build_tiny_llava

    return str(build_tiny_llava(tmp_path_factory.mktemp("tiny-llava") / "llava"))


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

    def make(email: str = "ada@example.com", perms=(), **extra) -> User:
        """`perms`: "app.codename" permissions given to the user (staff pages need them: is_staff
        alone only opens the admin's door)."""
        from django.contrib.auth.models import Permission

        user = User(email=email, **extra)
        user.set_unusable_password()  # bcrypt is slow; the sign-up tests cover real hashing
        user.save()
        for perm in perms:
            app_label, codename = perm.split(".")
            user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        return user

    return make


@pytest.fixture
def user(make_user):
    return make_user()


@pytest.fixture
def api(user):
    """An API client that sends the user's JWT access token (every feature's API tests use it)."""
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import RefreshToken

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


@pytest.fixture
def logged_in_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory):
    """A real S3-compatible server (SeaweedFS) for the whole test session."""
    from tests.s3server import SeaweedFS

    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def s3_media(settings, seaweedfs):
    """Media in a fresh private bucket of the SeaweedFS server, configured as an operator does
    (the MEDIA_S3_ settings); workers started by `qcluster` get the same settings and a MEDIA_ROOT
    of their own (no shared disk). Yields (server, bucket)."""
    import uuid

    from captionsite.settings import media_s3_storage
    from tests.s3server import ACCESS_KEY, SECRET_KEY

    bucket = f"media-{uuid.uuid4().hex[:16]}"
    seaweedfs.client().create_bucket(Bucket=bucket)
    settings.MEDIA_S3_BUCKET = bucket
    settings.MEDIA_S3_ENDPOINT_URL = seaweedfs.endpoint
    settings.MEDIA_S3_REGION = "us-east-1"
    settings.MEDIA_S3_ACCESS_KEY_ID = ACCESS_KEY
    settings.MEDIA_S3_SECRET_ACCESS_KEY = SECRET_KEY
    settings.STORAGES = {**settings.STORAGES, "default": media_s3_storage(
        bucket, seaweedfs.endpoint, "us-east-1", ACCESS_KEY, SECRET_KEY, "path", settings.MEDIA_URL_EXPIRE_SECONDS)}
    yield seaweedfs, bucket
    client = seaweedfs.client()  # a bucket is a collection of volumes in SeaweedFS: free them
    try:
        for key in seaweedfs.keys(bucket):
            client.delete_object(Bucket=bucket, Key=key)
        client.delete_bucket(Bucket=bucket)
    except Exception:  # noqa: BLE001 - a test that stopped the server; the session ends it anyway
        pass


def s3_environment(settings) -> dict:
    """The MEDIA_S3_ settings of this test as environment variables for a subprocess."""
    if not getattr(settings, "MEDIA_S3_BUCKET", ""):
        return {}
    names = ("MEDIA_S3_BUCKET", "MEDIA_S3_ENDPOINT_URL", "MEDIA_S3_REGION", "MEDIA_S3_ACCESS_KEY_ID",
             "MEDIA_S3_SECRET_ACCESS_KEY", "MEDIA_SERVE")
    return {name: str(getattr(settings, name)) for name in names}


@pytest.fixture
def qcluster(request, tiny_model, settings):
    """Start a real worker cluster on this test's database; yields a function to wait for it.
    With media in a bucket (`s3_media`), the worker is another host: the bucket, and a
    MEDIA_ROOT of its own."""
    from captions.models import Image

    if "s3_media" in request.fixturenames:
        request.getfixturevalue("s3_media")
    media_root = settings.MEDIA_ROOT
    s3_env = s3_environment(settings)
    if s3_env:
        media_root = str(Path(settings.MEDIA_ROOT).parent / "worker-host-media")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "captionsite.test_settings",
        "DATABASE_URL": database_url_of_this_test(),
        "MEDIA_ROOT": media_root,
        "CAPTION_MODEL": tiny_model,
        "Q_CLUSTER_NAME": settings.Q_CLUSTER["name"],
        "HF_HUB_OFFLINE": "1",
        **s3_env,
    }
    if settings.REDIS_URL:
        env["REDIS_URL"] = settings.REDIS_URL
    log = open(Path(settings.MEDIA_ROOT).parent / "qcluster.log", "w+")  # noqa: SIM115 (open for the fixture's life, closed at teardown)
    process = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"], cwd=REPO_ROOT, env=env,
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )

    def wait_until_final(count: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if Image.objects.filter(status__in=Image.FINAL_STATUSES).count() >= count:
                return
            assert process.poll() is None, "qcluster exited:\n" + Path(log.name).read_text()
            time.sleep(0.3)
        log.flush()
        raise AssertionError("images were not captioned in time:\n" + Path(log.name).read_text()[-4000:])

    yield wait_until_final
    os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=20)
    # Worker processes the cluster left behind (stopped while they were starting) go too.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=20)
    log.close()


@pytest.fixture
def schedules(db):
    """The django-q2 schedules as a release makes them (`manage.py setup_schedules`)."""
    from django.core.management import call_command
    from django_q.models import Schedule

    call_command("setup_schedules", verbosity=0)
    return Schedule.objects.all()


@pytest.fixture(scope="session")
def tiny_inhouse_dir(tmp_path_factory) -> str:
    """A tiny in-house (ResNet + Transformer decoder) checkpoint with random weights, saved as
    mlcore.training.train_inhouse saves a trained one."""
    from mlcore.predictors.custom import WordVocab, build_model, save_checkpoint, tiny_inhouse_config

    config = tiny_inhouse_config()
    vocab = WordVocab.build(["a dog on the grass", "a red car on a street", "two cats on a sofa"])
    folder = tmp_path_factory.mktemp("tiny-inhouse") / "inhouse"
    return save_checkpoint(str(folder), build_model(config, len(vocab), load_pretrained=False), config, vocab)
