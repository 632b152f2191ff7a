"""The web process stays small (one file at a time, a pixel budget per
request, zip bombs refused from the central directory) and nothing is orphaned on disk (staging,
the media sweep, a SIGKILLed gunicorn worker)."""

import io
import os
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import transaction
from django_q.tasks import async_task
from PIL import Image as PILImage

from captions.models import Image
from captions.services.submission import image_submit
from tests.images import image_bytes, upload
from tests.processes import database_url_of_this_test

REPO = Path(__file__).resolve().parents[2]


def gradient_png(size: int, seed: int = 0) -> bytes:
    """A smooth RGB gradient of size x size pixels: tiny on the wire, size*size*4 bytes decoded."""
    from PIL import Image as PILImage

    horizontal = PILImage.linear_gradient("L").rotate(90).resize((size, size))
    vertical = PILImage.linear_gradient("L").resize((size, size))
    buffer = io.BytesIO()
    PILImage.merge("RGB", (horizontal, vertical, PILImage.new("L", (size, size), seed))).save(buffer, format="PNG")
    return buffer.getvalue()


def files_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


# --- Memory: one decoded image at a time ------------------------------------------------------------


def _peak_rss_reset() -> int:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM (peak RSS) to the current RSS
    return _status_kib("VmRSS")


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(field)


@pytest.mark.slow
@pytest.mark.django_db
@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_memory_of_one_request_is_bounded_by_one_decoded_image(api):
    """4 images of 4000x4000: Pillow holds RGB at 4 bytes per pixel, 61 MiB each. Decoding them all
    before storing (what the web process did) peaks above 4 x 61 = 244 MiB; one at a time stays
    near one image. The bound (2.2 images' worth) leaves room for thumbnails and the request."""
    size = 4000
    files = [upload(f"big-{i}.png", gradient_png(size, seed=i), "image/png") for i in range(4)]
    one_image_kib = size * size * 4 // 1024
    try:
        before = _peak_rss_reset()
    except OSError:
        pytest.skip("cannot reset the peak RSS here")
    response = api.post("/api/v1/images/", {"files": files}, format="multipart")
    growth = _status_kib("VmHWM") - before
    assert response.status_code == 202, response.content
    assert len(response.json()["images"]) == 4
    assert growth < 2.2 * one_image_kib, f"peak grew {growth / 1024:.0f} MiB for 4 images of {one_image_kib / 1024:.0f} MiB"


@pytest.mark.django_db
def test_the_pixel_budget_refuses_the_files_beyond_it_and_keeps_the_earlier_ones(api, settings):
    settings.MAX_PIXELS_PER_REQUEST = 2 * 64 * 48 + 10
    files = [upload(f"{n}.jpg", image_bytes("JPEG", size=(64, 48))) for n in ("one", "two", "three")]
    response = api.post("/api/v1/images/", {"files": files}, format="multipart")
    assert response.status_code == 202
    body = response.json()
    assert [image["filename"] for image in body["images"]] == ["one.jpg", "two.jpg"]
    assert body["refused"][0]["filename"] == "three.jpg"
    assert "megapixels" in body["refused"][0]["reason"] and "another request" in body["refused"][0]["reason"]
    assert Image.objects.count() == 2


@pytest.mark.django_db
def test_the_pixel_budget_counts_zip_members_too(api, settings):
    settings.MAX_PIXELS_PER_REQUEST = 64 * 48
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.jpg", image_bytes("JPEG", size=(64, 48)))
        archive.writestr("b.jpg", image_bytes("JPEG", size=(64, 48)))
    response = api.post("/api/v1/batches/", {"files": [upload("p.zip", buffer.getvalue(), "application/zip")]}, format="multipart")
    assert response.status_code == 202
    assert [r["filename"] for r in response.json()["refused"]] == ["b.jpg"]


# --- Zip bombs: refused from the central directory --------------------------------------------------


def zeros_zip(members: int, member_bytes: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for index in range(members):
            archive.writestr(f"zeros-{index}.bmp", b"\0" * member_bytes)
    return buffer.getvalue()


@pytest.mark.django_db
def test_members_that_expand_beyond_the_limit_are_refused_without_unpacking(api, settings):
    settings.MAX_UPLOAD_BYTES = 1024 * 1024
    archive = zeros_zip(50, 9 * 1024 * 1024)  # 50 x 9 MiB of zeros: about 450 KiB
    assert len(archive) < 600 * 1024
    started = time.monotonic()
    response = api.post("/api/v1/batches/", {"files": [upload("zeros.zip", archive, "application/zip")]}, format="multipart")
    assert time.monotonic() - started < 5  # 450 MiB were never inflated
    assert response.status_code == 400
    refused = response.json()["refused"]
    assert len(refused) == 50 and all("larger than the 1 MiB limit" in r["reason"] for r in refused)


@pytest.mark.django_db
def test_zeros_within_the_limits_are_unpacked_one_at_a_time_and_refused_as_not_images(api):
    archive = zeros_zip(5, 9 * 1024 * 1024)
    response = api.post("/api/v1/batches/", {"files": [upload("zeros.zip", archive, "application/zip")]}, format="multipart")
    assert response.status_code == 400
    assert len(response.json()["refused"]) == 5


@pytest.mark.django_db
def test_an_archive_declaring_too_much_in_all_is_refused_as_a_whole(api, settings):
    settings.MAX_UPLOAD_BYTES = 300_000
    settings.MAX_FILES_PER_UPLOAD = 3
    archive = zeros_zip(4, 290_000)  # 4 x 290 kB declared > 3 x 300 kB
    response = api.post("/api/v1/batches/", {"files": [upload("big.zip", archive, "application/zip")]}, format="multipart")
    assert response.status_code == 400
    assert "the limit is" in response.json()["refused"][0]["reason"]


@pytest.mark.django_db
def test_images_that_compress_far_beyond_100_to_1_are_accepted_inside_a_zip(api):
    """An uncompressed A4 document scan (200 dpi, grey BMP, white paper with a few lines) and a
    flat image compress 100:1 or more: judged by what they expand to, they are welcome."""
    scan = PILImage.new("L", (1654, 2339), 255)
    for row in range(200, 2200, 60):
        scan.paste(0, (150, row, 1500, row + 3))
    buffer = io.BytesIO()
    scan.save(buffer, "BMP")
    scan_bytes = buffer.getvalue()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("scan-a4.bmp", scan_bytes)
        archive.writestr("flat.bmp", image_bytes("BMP", size=(400, 300)))
        archive.writestr("photo.png", gradient_png(300))
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
        info = archive.getinfo("scan-a4.bmp")
        assert info.file_size > 150 * info.compress_size
    response = api.post("/api/v1/batches/", {"files": [upload("ok.zip", buffer.getvalue(), "application/zip")]}, format="multipart")
    assert response.status_code == 202, response.json()
    assert response.json()["refused"] == []
    assert sorted(Image.objects.values_list("original_filename", flat=True)) == ["flat.bmp", "photo.png", "scan-a4.bmp"]


# --- Staging and publishing ----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_failing_file_and_a_failing_request_leave_no_file(user, settings):
    media = Path(settings.MEDIA_ROOT)
    settings.UPLOAD_IMAGE_VALIDATORS = ["tests.upload.upload_hooks.explode_on_boom"]
    with pytest.raises(RuntimeError), transaction.atomic():
        result = image_submit(owner=user, files=[upload("boom.jpg", image_bytes("JPEG")), upload("b.png", image_bytes("PNG"))])
        assert [r.filename for r in result.refused] == ["boom.jpg"]
        assert len(files_under(media / "images")) == 1 and not files_under(media / ".staging")
        raise RuntimeError("the caller's own transaction fails after the upload")
    assert not Image.objects.exists()
    # Published inside a caller's transaction that then rolled back: the sweep's to remove.
    call_command("sweep_media", "--older-than-minutes", "0")
    assert files_under(media) == []


@pytest.mark.django_db
def test_committed_rows_point_to_published_files_and_staging_is_empty(api, settings):
    response = api.post("/api/v1/images/", {"files": [upload("a.jpg", image_bytes("JPEG")), upload("b.png", image_bytes("PNG"))]}, format="multipart")
    assert response.status_code == 202
    media = Path(settings.MEDIA_ROOT)
    for image in Image.objects.all():
        assert (media / image.file.name).is_file() and (media / image.thumbnail.name).is_file()
    assert not files_under(media / ".staging")


# --- The media sweep ------------------------------------------------------------------------------


def _age(path: Path, minutes: float) -> Path:
    moment = time.time() - minutes * 60
    os.utime(path, (moment, moment))
    return path


def _write(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def litter(api, settings):
    """A committed image, plus what killed requests leave: old and young orphans, staged files, temp files."""
    settings.MEDIA_SWEEP_AFTER_MINUTES = 60
    settings.FILE_UPLOAD_TEMP_DIR = str(Path(settings.MEDIA_ROOT).parent / "upload-tmp")
    assert api.post("/api/v1/images/", {"files": [upload("kept.jpg", image_bytes("JPEG"))]}, format="multipart").status_code == 202
    media, temp = Path(settings.MEDIA_ROOT), Path(settings.FILE_UPLOAD_TEMP_DIR)
    image = Image.objects.get()
    for name in (image.file.name, image.thumbnail.name):
        _age(media / name, 120)  # old, but in use: kept
    return {
        "image": image,
        "old_orphan": _age(_write(media / "images/2026/01/orphan.jpg"), 90),
        "old_orphan_thumb": _age(_write(media / "thumbnails/2026/01/orphan.jpg"), 90),
        "young_orphan": _write(media / "images/2026/01/in-flight.jpg"),
        "old_staged": _age(_write(media / ".staging/images/2026/01/dead.png"), 90),
        "young_staged": _write(media / ".staging/images/2026/01/busy.png"),
        "old_temp": _age(_write(temp / "tmpabc123.upload.png"), 90),
        "young_temp": _write(temp / "tmpdef456.upload.jpg"),
        "not_ours": _age(_write(temp / "someone-elses.txt"), 90),
        "other_media": _age(_write(media / "exports/report.csv"), 90),
    }


def _assert_swept(litter, settings):
    media = Path(settings.MEDIA_ROOT)
    image = litter["image"]
    assert (media / image.file.name).is_file() and (media / image.thumbnail.name).is_file()
    for gone in ("old_orphan", "old_orphan_thumb", "old_staged", "old_temp"):
        assert not litter[gone].exists(), gone
    for kept in ("young_orphan", "young_staged", "young_temp", "not_ours", "other_media"):
        assert litter[kept].exists(), kept


@pytest.mark.django_db
def test_the_sweep_command_removes_old_litter_and_keeps_what_is_in_use(litter, settings, capsys):
    call_command("sweep_media")
    assert "orphans deleted 2" in capsys.readouterr().out
    _assert_swept(litter, settings)


@pytest.mark.django_db
def test_the_scheduled_sweep_task_does_the_same(litter, settings, schedules):
    schedule = schedules.get(name="captions: sweep media")
    result = async_task(schedule.func, sync=True)
    from django_q.models import Task

    task = Task.objects.get(id=result)
    assert task.success, task.result
    assert task.result == {"published": 0, "staged_deleted": 1, "orphans_deleted": 2, "temp_deleted": 1}
    _assert_swept(litter, settings)


@pytest.mark.django_db
def test_the_sweep_publishes_a_staged_file_whose_row_committed(api, settings):
    """A process killed between COMMIT and the move (not possible with staged_atomic, but possible
    for code that publishes after commit): the sweep finishes the move instead of deleting."""
    assert api.post("/api/v1/images/", {"files": [upload("a.jpg", image_bytes("JPEG"))]}, format="multipart").status_code == 202
    media = Path(settings.MEDIA_ROOT)
    image = Image.objects.get()
    staged = media / ".staging" / image.file.name
    staged.parent.mkdir(parents=True, exist_ok=True)
    os.replace(media / image.file.name, staged)
    _age(staged, 120)
    call_command("sweep_media", "--older-than-minutes", "60")
    assert (media / image.file.name).is_file() and not staged.exists()


def test_the_sweep_command_refuses_a_negative_age(db):
    with pytest.raises(SystemExit):
        call_command("sweep_media", "--older-than-minutes", "-1")


# --- A real gunicorn worker killed mid-request -------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _multipart(files: list[tuple[str, bytes]], boundary: str) -> bytes:
    body = b""
    for name, data in files:
        body += (f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
                 "Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


def _wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_sigkilled_gunicorn_worker_leaves_nothing_after_the_sweep(settings, user, tmp_path):
    """Kill a worker (SIGKILL) twice: while a slow upload streams in (Django's temporary upload file
    is on disk), and while the view processes the files (the first is staged, the second is in a
    slow validator). Then the sweep: no file without a row, no row without its file."""
    import psutil

    from accounts import services as account_services

    _, key = account_services.api_key_create(owner=user, name="kill-test")
    media = Path(settings.MEDIA_ROOT)
    temp = tmp_path / "upload-tmp"
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "captionsite.test_settings",
        "DATABASE_URL": database_url_of_this_test(),
        "MEDIA_ROOT": str(media),
        "FILE_UPLOAD_TEMP_DIR": str(temp),
        "UPLOAD_IMAGE_VALIDATORS": "tests.upload.upload_hooks.slow_on_slow",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
        "GUNICORN_THREADS": "2",
        "GUNICORN_TIMEOUT": "120",
        "API_RATE_UPLOAD": "1000/m",
    }
    log = open(tmp_path / "gunicorn.log", "w+")  # noqa: SIM115 (closed below)
    master = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "captionsite.asgi:application"],
                              cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        def up() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return bool(psutil.Process(master.pid).children())
            except OSError:
                return False

        _wait_for(up)
        boundary = "kill-boundary"
        headers = (f"POST /api/v1/images/ HTTP/1.1\r\nHost: localhost\r\nAuthorization: Api-Key {key}\r\n"
                   f"Content-Type: multipart/form-data; boundary={boundary}\r\n")

        # 1. Killed while the body streams in: a 3 MiB file is past FILE_UPLOAD_MAX_MEMORY_SIZE, so on
        # disk. Under ASGI Django buffers the body in an anonymous (already unlinked) temporary file
        # before parsing; under WSGI the parser writes tmp*.upload* files as it reads: either way the
        # kill must leave nothing behind.
        big = os.urandom(3 * 1024 * 1024)
        body = _multipart([("big.bin", big)], boundary)
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall((headers + f"Content-Length: {len(body)}\r\n\r\n").encode() + body[: len(body) - 1000])
        time.sleep(1.0)
        psutil.Process(master.pid).children()[0].kill()
        sock.close()
        _wait_for(up)

        # 2. Killed while the view works: the first file is staged, the second sleeps in a validator.
        body = _multipart([("first.jpg", image_bytes("JPEG")), ("slow.png", image_bytes("PNG"))], boundary)
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall((headers + f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
        _wait_for(lambda: bool(files_under(media / ".staging")))
        time.sleep(0.3)
        psutil.Process(master.pid).children()[0].kill()
        sock.close()
    finally:
        master.terminate()
        master.wait(timeout=30)
        log.close()

    leftovers = files_under(media) + files_under(temp)
    # the second kill left a staged file (under WSGI the first one also leaves tmp*.upload* files)
    assert any(".staging" in str(p) for p in leftovers)
    assert not Image.objects.exists()  # the killed requests committed nothing

    settings.FILE_UPLOAD_TEMP_DIR = str(temp)
    call_command("sweep_media", "--older-than-minutes", "0")
    assert files_under(media) == [] and files_under(temp) == []
    for image in Image.objects.all():  # none: and none points to a missing file
        assert (media / image.file.name).is_file()
