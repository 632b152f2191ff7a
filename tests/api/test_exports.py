"""Exports through the API: the table of formats in the schema, one image with its alt text
embedded, and the export of a selection (ids or the image list's filters) with the website's limit."""

import io
import shutil
import subprocess
import zipfile

import pytest
from django.urls import reverse

from captions import exports
from captions.models import Caption, Image
from captions.services.bulk import BULK_LIMIT
from captions.services.submission import batch_submit
from tests.api.conftest import assert_error_format
from tests.images import image_bytes, upload


def captioned(user, name: str, text: str, fmt="JPEG", language="en") -> Image:
    image = batch_submit(owner=user, files=[upload(name, image_bytes(fmt, color=(len(name) * 7 % 255, 3, 3)))]).accepted[0]
    caption = Caption.objects.create(image=image, text=text, language=language)
    Image.objects.filter(pk=image.pk).update(current_caption=caption, status=Image.Status.DONE)
    return image


def test_the_schema_reads_the_one_table_of_formats(api):
    schema = api.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    for path in ("/api/v1/batches/{batch_id}/export/", "/api/v1/images/export/"):
        operation = schema["paths"][path]["get"]
        parameter = next(p for p in operation["parameters"] if p["name"] == "format")
        assert set(parameter["schema"]["enum"]) == set(exports.EXPORT_FORMATS)
        media_types = set(operation["responses"]["200"]["content"])
        assert media_types == {f.media_type.split(";")[0] for f in exports.EXPORT_FORMATS.values()}


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="ExifTool is the independent reader")
def test_one_image_with_its_alt_text_embedded(api, user, tmp_path):
    image = captioned(user, "café.jpg", "Un chien sur la plage 🐕", language="fr")
    response = api.get(reverse("api:image-download", args=[image.public_id]))
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert "filename*=utf-8''caf%C3%A9.jpg" in response["Content-Disposition"]
    path = tmp_path / "x.jpg"
    path.write_bytes(response.content)
    out = subprocess.run(["exiftool", "-s3", "-XMP-iptcCore:AltTextAccessibility-fr", str(path)],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == "Un chien sur la plage 🐕"
    assert_error_format(api.get(reverse("api:image-download", args=[image.public_id]), {"format": "zip"}), 400, field="format")


def test_a_selection_by_ids_or_by_filters(api, user, other_user):
    first = captioned(user, "a.jpg", "first")
    second = captioned(user, "b.png", "second", fmt="PNG")
    third = captioned(user, "c.jpg", "third")
    Image.objects.filter(pk=third.pk).update(status=Image.Status.FAILED)
    theirs = captioned(other_user, "z.jpg", "not yours")
    url = reverse("api:images-export")

    by_ids = api.get(url + f"?format=json&ids={first.public_id}&ids={second.public_id}&ids={theirs.public_id}")
    assert by_ids.status_code == 200
    assert [row["caption"] for row in by_ids.json()] == ["first", "second"]  # another user's: absent

    by_filter = api.get(url, {"format": "zip", "batch": second.batch_id})
    archive = zipfile.ZipFile(io.BytesIO(b"".join(by_filter.streaming_content)))
    assert archive.namelist() == ["b.png"]
    assert by_filter["Content-Disposition"] == 'attachment; filename="selection-alt-text.zip"'

    every = api.get(url, {"format": "csv", "status": "failed"})
    assert every.content.decode().count("\n") == 2  # header + one row
    found = api.get(url, {"format": "json", "search": "second"}).json()
    assert [row["filename"] for row in found] == ["b.png"]

    assert_error_format(api.get(url, {"format": "pdf"}), 400, field="format")
    many = "&".join(f"ids={first.public_id}" for _ in range(101))  # more than a URL should carry
    assert_error_format(api.get(f"{url}?{many}"), 400, field="ids")
    assert_error_format(api.get(url, {"ids": "not-a-uuid"}), 400, field="ids.0")


def test_a_selection_above_the_websites_limit_is_refused(api, user):
    image = captioned(user, "a.jpg", "one")
    fields = {f.attname: getattr(image, f.attname) for f in Image._meta.concrete_fields
              if f.attname not in ("id", "public_id", "current_caption_id")}
    Image.objects.bulk_create([Image(**fields) for _ in range(BULK_LIMIT)])  # rows only: refused before any file is read
    body = assert_error_format(api.get(reverse("api:images-export"), {"format": "zip"}), 400)
    assert f"{BULK_LIMIT + 1} images are selected; at most {BULK_LIMIT}" in body["detail"]


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="ExifTool is the independent reader")
@pytest.mark.parametrize("query, dc_written", [({}, True), ({"dc_description": "0"}, False), ({"dc_description": "1"}, True)])
def test_api_downloads_follow_the_sites_defaults_unless_the_query_names_an_option(
        api, user, tmp_path, settings, query, dc_written):
    settings.ALT_TEXT_EMBED_DC_DESCRIPTION = True
    image = captioned(user, "dog.jpg", "A dog on a beach")
    response = api.get(reverse("api:image-download", args=[image.public_id]), query)
    assert response.status_code == 200
    path = tmp_path / "x.jpg"
    path.write_bytes(response.content)
    out = subprocess.run(["exiftool", "-s3", "-XMP-dc:Description", str(path)],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert (out == "A dog on a beach") is dc_written, out
