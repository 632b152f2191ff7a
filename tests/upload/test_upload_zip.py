"""The web upload form takes .zip archives of images the way the API's batches endpoint does
(new-user trial: a .zip was refused as "Not a supported image"): the members are checked like
uploaded files, unsafe or damaged ones refused by name, the accepted images form one batch, and
an archive has its own size limit. Through the plain form post and the page script's JSON path."""

import zipfile

import pytest
from django.urls import reverse

from captions.models import Batch, Image
from tests.api.test_batches import make_zip
from tests.images import image_bytes, upload

pytestmark = pytest.mark.django_db

JSON = {"HTTP_ACCEPT": "application/json"}


def post(client, *files, headers=None, **fields):
    return client.post(reverse("captions:upload"), {"images": list(files), **fields}, **(headers or {}))


def names() -> list[str]:
    return sorted(Image.objects.values_list("original_filename", flat=True))


def archive(**members) -> bytes:
    return make_zip({name.replace("__", "/"): data for name, data in members.items()})


def test_a_zip_through_the_plain_form_becomes_one_batch_and_its_bad_members_are_named(logged_in_client, user):
    data = archive(**{"a.jpg": image_bytes("JPEG"), "trip__b.png": image_bytes("PNG"), "notes.txt": b"no image"})
    response = post(logged_in_client, upload("photos.zip", data, "application/zip"), upload("c.webp", image_bytes("WEBP")),
                    num_beams="2")
    assert response.status_code == 302 and response["Location"] == reverse("captions:gallery")
    assert names() == ["a.jpg", "c.webp", "trip/b.png"]
    batch = Batch.objects.get()
    assert set(Image.objects.values_list("batch_id", flat=True)) == {batch.pk} and batch.owner == user
    assert all(params["num_beams"] == 2 for params in Image.objects.values_list("params", flat=True))
    page = logged_in_client.get(response["Location"]).content.decode()
    assert "3 images queued for captioning." in page
    assert "notes.txt was not stored: " in page  # the member, by its path in the archive


def test_a_zip_through_the_json_path_lists_member_refusals(logged_in_client):
    data = archive(**{"a.jpg": image_bytes("JPEG"), "b.jpg": b"\xff\xd8 broken"})
    response = post(logged_in_client, upload("one.zip", data, "application/zip"), headers=JSON)
    assert response.status_code == 202
    body = response.json()
    assert len(body["images"]) == 1 and [r["filename"] for r in body["refused"]] == ["b.jpg"]
    assert body["batch"] is not None and body["images"][0]["filename"] == "a.jpg"
    assert names() == ["a.jpg"]


def test_a_zip_with_nothing_usable_is_a_400_naming_each_member(logged_in_client):
    response = post(logged_in_client, upload("bad.zip", archive(**{"x.txt": b"text"}), "application/zip"), headers=JSON)
    assert response.status_code == 400
    assert response.json()["errors"]["files"] == ["x.txt: Not a supported image: accepted formats are JPEG, PNG, WebP, GIF, BMP, TIFF, AVIF and HEIC/HEIF."]
    damaged = post(logged_in_client, upload("damaged.zip", b"PK\x03\x04 not really", "application/zip"))
    assert damaged.status_code == 400 and "damaged.zip" in damaged.content.decode()
    assert not Image.objects.exists()


def test_the_same_limits_as_the_api(logged_in_client, settings):
    settings.MAX_UPLOAD_BYTES = 30_000
    settings.BATCH_MAX_ZIP_BYTES = 200_000
    members = {f"{i}.bmp": image_bytes("BMP", size=(70, 70), color=(i * 40, 0, 0)) for i in range(4)}  # ~15 KB each
    data = make_zip(members, compression=zipfile.ZIP_STORED)
    assert 30_000 < len(data) < 200_000  # over the per-image limit, under the archive's
    assert post(logged_in_client, upload("ok.zip", data, "application/zip"), headers=JSON).json()["images"].__len__() == 4
    settings.BATCH_MAX_ZIP_BYTES = 40_000
    response = post(logged_in_client, upload("big.zip", data, "application/zip"), headers=JSON)
    assert response.status_code == 413 and response.json()["code"] == "too_large"  # as the API answers
    assert response.json()["errors"]["files"][0].startswith("big.zip: The archive is larger than the 0.0381")
    settings.BATCH_MAX_ZIP_BYTES = 200_000
    settings.MAX_FILES_PER_UPLOAD = 3  # the members count against the files of one upload
    response = post(logged_in_client, upload("many.zip", data, "application/zip"), headers=JSON)
    assert response.status_code == 400 and "at most 3" in response.json()["errors"]["images"][0]
    assert Image.objects.count() == 4


def test_the_form_says_it_takes_zip_archives(logged_in_client, settings):
    page = logged_in_client.get(reverse("captions:gallery")).content.decode()
    assert 'accept="image/*,.zip,application/zip"' in page
    assert ".zip archives of them (up to 100 MiB each)" in page
    assert f'data-max-zip-bytes="{settings.BATCH_MAX_ZIP_BYTES}"' in page
