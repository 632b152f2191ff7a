"""Uploading through the gallery form: what is stored, and what is refused with a reason."""

import hashlib
import os
from pathlib import Path

import pytest
from django.urls import reverse
from PIL import Image as PILImage

from captions.models import Batch, Image
from tests.images import image_bytes, jpeg_with_orientation, png_bomb, upload

pytestmark = pytest.mark.django_db


def stored_files(settings) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def post_images(client, *files, **fields):
    return client.post(reverse("captions:upload"), {"images": list(files), **fields})


def test_one_image_is_stored_with_its_facts_and_queued(logged_in_client, user, settings):
    data = image_bytes("PNG", size=(120, 90))
    response = post_images(logged_in_client, upload("holiday.png", data, "image/png"))
    assert response.status_code == 302

    image = Image.objects.get()
    assert image.owner == user
    assert image.status == Image.Status.QUEUED
    assert (image.width, image.height, image.format) == (120, 90, "PNG")
    assert image.sha256 == hashlib.sha256(data).hexdigest()
    assert image.byte_size == len(data)
    assert image.original_filename == "holiday.png"
    assert image.batch is None  # one file is not a batch
    # Stored under a server-made name, not the client's.
    assert "holiday" not in image.file.name and image.file.name.endswith(".png")
    assert (Path(settings.MEDIA_ROOT) / image.file.name).read_bytes() == data
    with PILImage.open(Path(settings.MEDIA_ROOT) / image.thumbnail.name) as thumb:
        assert max(thumb.size) <= settings.THUMBNAIL_SIZE


def test_several_files_form_a_batch_and_one_wake_message(logged_in_client, user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post_images(
            logged_in_client,
            upload("a.jpg", image_bytes("JPEG")),
            upload("b.webp", image_bytes("WEBP"), "image/webp"),
            upload("c.gif", image_bytes("GIF"), "image/gif"),
        )
    assert response.status_code == 302
    batch = Batch.objects.get()
    assert sorted(batch.images.values_list("format", flat=True)) == ["GIF", "JPEG", "WEBP"]
    assert len(callbacks) == 1


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"])
def test_every_allowed_format_is_accepted(logged_in_client, fmt):
    response = post_images(logged_in_client, upload(f"x.{fmt.lower()}", image_bytes(fmt)))
    assert response.status_code == 302
    assert Image.objects.get().format == fmt


def test_type_comes_from_content_not_name(logged_in_client):
    response = post_images(logged_in_client, upload("really-a-png.txt", image_bytes("PNG"), "text/plain"))
    assert response.status_code == 302
    assert Image.objects.get().format == "PNG"


def test_exif_orientation_is_applied(logged_in_client):
    response = post_images(logged_in_client, upload("portrait.jpg", jpeg_with_orientation(size=(80, 40))))
    assert response.status_code == 302
    image = Image.objects.get()
    assert (image.width, image.height) == (40, 80)


def truncated_jpeg() -> bytes:
    data = image_bytes("JPEG", size=(256, 256), color=(1, 2, 3), quality=95)
    return data[: len(data) // 2]


def gzip_bytes() -> bytes:
    import gzip

    return gzip.compress(b"not an image" * 100)


def ico_bytes() -> bytes:
    return image_bytes("ICO", size=(32, 32))


BAD_FILES = [
    ("notes.jpg", lambda: b"just some text, not an image\n" * 20, "Not a supported image"),
    ("cut.jpg", truncated_jpeg, "damaged or truncated"),
    ("bomb.png", lambda: png_bomb(20000, 20000), "megapixels"),
    ("empty.jpg", lambda: b"", "empty"),
    ("icon.ico", ico_bytes, "is an icon (ICO), which is not accepted"),
    ("archive.gz", gzip_bytes, "Not a supported image"),
]


@pytest.mark.parametrize("name, make, reason", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_file_is_refused_with_its_reason_and_nothing_is_stored(logged_in_client, settings, name, make, reason):
    response = post_images(logged_in_client, upload(name, make()))
    assert response.status_code == 400
    errors = response.context["form"].errors["images"]
    assert any(error.startswith(f"{name}:") and reason in error for error in errors), errors
    assert not Image.objects.exists() and not Batch.objects.exists()
    assert stored_files(settings) == []


def test_oversize_file_is_refused_while_streaming(logged_in_client, settings):
    settings.MAX_UPLOAD_BYTES = 50_000
    big = image_bytes("BMP", size=(200, 200))  # ~120 KB
    response = post_images(logged_in_client, upload("huge.bmp", big, "image/bmp"))
    assert response.status_code == 400
    errors = response.context["form"].errors["images"]
    assert any(e.startswith("huge.bmp:") and "larger than" in e for e in errors), errors
    assert not Image.objects.exists()
    assert stored_files(settings) == []


def test_request_body_over_the_total_limit_gets_413_before_reading(logged_in_client, settings):
    settings.MAX_UPLOAD_BYTES = 1000
    settings.MAX_FILES_PER_UPLOAD = 2
    response = post_images(logged_in_client, upload("a.bmp", os.urandom(3 * 1024 * 1024)))
    assert response.status_code == 413
    assert b"at most 2 files" in response.content


def test_refused_files_do_not_stop_the_good_ones(logged_in_client, settings):
    response = post_images(
        logged_in_client,
        upload("good-1.jpg", image_bytes("JPEG")),
        upload("bad.jpg", b"nope"),
        upload("good-2.png", image_bytes("PNG"), "image/png"),
    )
    assert response.status_code == 302  # post/redirect/get: the refusals come as notices
    assert sorted(Image.objects.values_list("original_filename", flat=True)) == ["good-1.jpg", "good-2.png"]
    notices = [str(m) for m in logged_in_client.get(response["Location"]).context["messages"]]
    assert notices[0] == "2 images queued for captioning."
    assert len(notices) == 2 and notices[1].startswith("bad.jpg was not stored:")
    assert len(stored_files(settings)) == 4  # two originals, two thumbnails


def test_too_many_files_are_refused_as_a_whole(logged_in_client, settings):
    settings.MAX_FILES_PER_UPLOAD = 2
    files = [upload(f"{i}.jpg", image_bytes("JPEG")) for i in range(3)]
    response = post_images(logged_in_client, *files)
    assert response.status_code == 400
    assert "at most 2" in response.context["form"].errors["images"][0]
    assert not Image.objects.exists()
    assert stored_files(settings) == []


def test_no_file_gives_a_form_error(logged_in_client):
    response = post_images(logged_in_client)
    assert response.status_code == 400
    assert "at least one image" in response.context["form"].errors["images"][0]


def test_bad_generation_params_are_a_form_error(logged_in_client):
    response = post_images(logged_in_client, upload("a.jpg", image_bytes("JPEG")), num_beams=0)
    assert response.status_code == 400
    assert "num_beams" in response.context["form"].errors
    assert not Image.objects.exists()


def test_params_are_stored_with_the_image(logged_in_client):
    post_images(logged_in_client, upload("a.jpg", image_bytes("JPEG")), num_beams=5, max_length=20)
    params = Image.objects.get().params
    assert params["num_beams"] == 5 and params["max_length"] == 20
