"""A database blip or a full disk during an upload: the answer never announces rows that were not
committed (no 202 with ids that answer 404 forever), it is a retryable 503/507 with Retry-After,
and the failing request removes the files it staged."""

import logging
import sqlite3
import subprocess
from pathlib import Path

import pytest
from django.db import connection

from captions.models import Image
from tests.images import image_bytes, upload

pytestmark = pytest.mark.django_db(transaction=True)


def media_files(settings) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def ten_files(kill_at: int = 5) -> list:
    return [upload(("kill" if n == kill_at else f"f{n}") + ".png", image_bytes("PNG", color=(n * 20, 40, 90)))
            for n in range(1, 11)]


def test_a_terminated_backend_at_the_5th_of_10_files_answers_503_and_commits_nothing(api, settings):
    if connection.vendor != "postgresql":
        pytest.skip("pg_terminate_backend: the PostgreSQL run of the suite")
    settings.UPLOAD_IMAGE_VALIDATORS = ["tests.upload.upload_hooks.terminate_backend_on_kill"]
    response = api.post("/api/v1/images/", {"files": ten_files()}, format="multipart")
    assert response.status_code == 503, response.content
    assert int(response["Retry-After"]) > 0 and response.json()["code"] == "unavailable"
    connection.close()
    assert Image.objects.count() == 0
    assert media_files(settings) == []  # the four files staged before the blip were removed


def test_a_locked_sqlite_database_answers_503_and_commits_nothing(api, settings):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's write lock: the SQLite run of the suite")
    options = connection.settings_dict["OPTIONS"]
    before = options.get("timeout")
    connection.close()
    options["timeout"] = 1
    holder = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock past the timeout
        response = api.post("/api/v1/images/", {"files": ten_files()}, format="multipart")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        connection.close()
        options["timeout"] = before
    assert response.status_code == 503, response.content
    assert int(response["Retry-After"]) > 0
    assert Image.objects.count() == 0
    assert media_files(settings) == []


@pytest.fixture
def tiny_media_disk(settings, tmp_path):
    """MEDIA_ROOT on a 256 KiB tmpfs: it fills up within one upload."""
    folder = tmp_path / "tiny-disk"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    settings.MEDIA_ROOT = str(folder)
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_media_disk_answers_507_retryable_with_one_log_line_and_keeps_nothing(api, settings, tiny_media_disk, caplog):
    files = [upload(f"big{n}.png", image_bytes("PNG", size=(300, 300), color=(n, 2 * n, 3 * n), compress_level=0))
             for n in range(1, 8)]  # about 270 KB each, uncompressed: the disk is full at the first or second
    with caplog.at_level(logging.WARNING):
        response = api.post("/api/v1/images/", {"files": files}, format="multipart")
    assert response.status_code == 507, response.content
    assert int(response["Retry-After"]) > 0 and response.json()["code"] == "storage_full"
    assert "storage is full" in response.json()["detail"]
    assert Image.objects.count() == 0
    assert media_files(settings) == []
    failures = [r for r in caplog.records if "Media storage failed" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is None
    assert not [r for r in caplog.records if r.exc_info]  # no traceback at all
