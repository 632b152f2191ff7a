"""Alt text written into the files: one image, a selection or a batch downloaded with IPTC Alt Text
(Accessibility) in every language the image has, read back with ExifTool (a reader independent of
the exiv2 library that writes), the pixels and the other metadata unchanged, the stored original
untouched; GIF and BMP with an XMP sidecar; the library missing -> 503 naming it."""

import csv
import hashlib
import io
import json
import shutil
import subprocess
import sys
import zipfile

import pytest
from django.urls import reverse
from PIL import Image as PILImage
from PIL import ImageCms

from captions.models import Caption, Image
from captions.services.editing import caption_human_set
from captions.services.submission import batch_submit
from tests.images import upload

EXIFTOOL = shutil.which("exiftool")
needs_exiftool = pytest.mark.skipif(
    EXIFTOOL is None, reason="ExifTool (Debian libimage-exiftool-perl) is the independent reader of these tests")

ENGLISH = "A red square on a plain background"
JAPANESE = "無地の背景に赤い四角形"
ARABIC = "مربع أحمر على خلفية سادة 🟥"
LONG = ("A long alt text of exactly two hundred and fifty characters, with an emoji 📷 and accents é à ü, "
        "written to check that nothing is cut: ")
LONG = (LONG + "x" * 250)[:250]


def original_bytes(fmt: str) -> bytes:
    """A file as a camera or an editor writes it: EXIF (Make, Model) and an sRGB ICC profile."""
    image = PILImage.new("RGB", (40, 30), (200, 30, 30))
    for x in range(40):  # some structure, so a re-encode would show in the pixels
        image.putpixel((x, x % 30), (x * 6, 255 - x * 6, 17))
    exif = PILImage.Exif()
    exif[0x010F] = "TestCam"  # Make
    exif[0x0110] = "Model 7"  # Model
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    buffer = io.BytesIO()
    extra = {} if fmt in ("GIF", "BMP") else {"exif": exif.tobytes(), "icc_profile": icc}
    if fmt == "GIF":
        image = image.convert("P")
    image.save(buffer, format=fmt, **extra)
    return buffer.getvalue()


def zip_of(members: dict[str, bytes]):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return upload("photos.zip", buffer.getvalue(), "application/zip")


def exiftool(path) -> dict:
    out = subprocess.run([EXIFTOOL, "-j", "-G1", "-a", "-charset", "iptc=UTF8", str(path)],
                         capture_output=True, check=True, timeout=60)
    return json.loads(out.stdout)[0]


def pixels(data: bytes) -> tuple:
    with PILImage.open(io.BytesIO(data)) as image:
        image.load()
        return image.mode, image.size, image.tobytes()


def caption_in(image: Image, language: str, text: str, **extra) -> Caption:
    return Caption.objects.create(image=image, text=text, language=language, style="alt", **extra)


@pytest.fixture
def web(client, user):
    client.force_login(user)
    return client


def uploaded(user, name: str, data: bytes) -> Image:
    result = batch_submit(owner=user, files=[upload(name, data)])
    return result.accepted[0]


def with_languages(image: Image, user) -> Image:
    """Captions in Japanese and Arabic, then the current one in English corrected by a person."""
    caption_in(image, "ja", JAPANESE)
    caption_in(image, "ar", ARABIC)
    model = caption_in(image, "en", "a red square", needs_review=True)
    Image.objects.filter(pk=image.pk).update(current_caption=model, status=Image.Status.DONE)
    image.refresh_from_db()
    caption_human_set(image=image, text=ENGLISH, created_by=user, based_on=model)
    image.refresh_from_db()
    return image


@needs_exiftool
@pytest.mark.parametrize("fmt,name", [("JPEG", "photo.jpg"), ("PNG", "photo.png"), ("WEBP", "photo.webp"), ("TIFF", "photo.tiff")])
def test_a_downloaded_image_carries_its_alt_text_in_every_language_and_nothing_else_changes(web, user, tmp_path, fmt, name):
    original = original_bytes(fmt)
    image = with_languages(uploaded(user, name, original), user)
    stored_before = image.file.open("rb").read()

    response = web.get(reverse("captions:image_download", args=[image.public_id]))
    assert response.status_code == 200
    assert response["Content-Type"] == f"image/{fmt.lower()}"
    assert f'filename="{name}"' in response["Content-Disposition"]
    data = response.content
    path = tmp_path / name
    path.write_bytes(data)

    tags = exiftool(path)
    assert tags["XMP-iptcCore:AltTextAccessibility"] == ENGLISH  # x-default: the current caption
    assert tags["XMP-iptcCore:AltTextAccessibility-en"] == ENGLISH
    assert tags["XMP-iptcCore:AltTextAccessibility-ja"] == JAPANESE
    assert tags["XMP-iptcCore:AltTextAccessibility-ar"] == ARABIC
    assert tags["XMP-dc:Description"] == ENGLISH  # on by default
    assert tags["IFD0:Make"] == "TestCam" and tags["IFD0:Model"] == "Model 7"  # EXIF kept
    assert tags.get("ICC-header:ProfileClass") or tags.get("ICC_Profile:ProfileClass") or any(
        key.startswith("ICC") for key in tags)  # the ICC profile kept

    assert pixels(data) == pixels(original)  # bit for bit
    with PILImage.open(io.BytesIO(data)) as copy, PILImage.open(io.BytesIO(original)) as first:
        assert copy.info.get("icc_profile") == first.info.get("icc_profile")
    assert image.file.open("rb").read() == stored_before  # the stored original is never changed
    assert hashlib.sha256(stored_before).hexdigest() == image.sha256


@needs_exiftool
def test_legacy_fields_and_a_250_character_alt_text_with_emoji(web, user, tmp_path):
    image = uploaded(user, "long.jpg", original_bytes("JPEG"))
    caption = caption_in(image, "en", LONG)
    Caption.objects.create(image=image, text="A long description: the chart's three bars …", language="en", style="extended")
    Image.objects.filter(pk=image.pk).update(current_caption=caption, status=Image.Status.DONE)

    response = web.get(reverse("captions:image_download", args=[image.public_id]),
                       {"legacy_fields": "1", "dc_description": "0"})
    path = tmp_path / "long.jpg"
    path.write_bytes(response.content)
    tags = exiftool(path)
    assert len(LONG) == 250 and tags["XMP-iptcCore:AltTextAccessibility"] == LONG
    assert "XMP-dc:Description" not in tags  # switched off for this download
    assert tags["IFD0:ImageDescription"] == LONG
    assert tags["IPTC:Caption-Abstract"] == LONG
    assert tags["IPTC:CodedCharacterSet"] == "UTF8"
    # an extended description (style "extended") goes to Extended Description, not to the alt text
    assert tags["XMP-iptcCore:ExtDescrAccessibility"] == "A long description: the chart's three bars …"


@needs_exiftool
def test_a_batch_zip_embeds_in_file_formats_and_puts_a_sidecar_beside_gif_and_bmp(web, user, tmp_path):
    files = {
        "trip/day 1/a.jpg": original_bytes("JPEG"),
        "trip/day 2/a.jpg": original_bytes("JPEG"),
        "anim.gif": original_bytes("GIF"),
        "scan.bmp": original_bytes("BMP"),
        "pending.png": original_bytes("PNG"),
    }
    result = batch_submit(owner=user, files=[zip_of(files)])
    by_name = {i.original_filename: i for i in Image.objects.filter(batch=result.batch)}
    for name in ("trip/day 1/a.jpg", "trip/day 2/a.jpg", "anim.gif", "scan.bmp"):
        caption = caption_in(by_name[name], "en", f"alt of {name}")
        Image.objects.filter(pk=by_name[name].pk).update(current_caption=caption, status=Image.Status.DONE)

    response = web.get(reverse("captions:batch_export", args=[result.batch.pk]), {"format": "zip"})
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert response.streaming
    assert f'filename="batch-{result.batch.pk}-alt-text.zip"' in response["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert archive.testzip() is None
    names = archive.namelist()
    assert names == ["trip/day 1/a.jpg", "trip/day 2/a.jpg", "anim.gif", "anim.gif.xmp", "scan.bmp", "scan.bmp.xmp",
                     "pending.png"]

    for name in ("anim.gif", "scan.bmp"):
        assert archive.read(name) == files[name]  # no XMP in these formats: the bytes as uploaded
        sidecar = tmp_path / (name + ".xmp")
        sidecar.write_bytes(archive.read(name + ".xmp"))
        tags = exiftool(sidecar)
        assert tags["XMP-iptcCore:AltTextAccessibility"] == f"alt of {name}"
    jpeg = tmp_path / "a.jpg"
    jpeg.write_bytes(archive.read("trip/day 2/a.jpg"))
    assert exiftool(jpeg)["XMP-iptcCore:AltTextAccessibility"] == "alt of trip/day 2/a.jpg"
    assert archive.read("pending.png") == files["pending.png"]  # no caption yet: as uploaded

    reviewed = web.get(reverse("captions:batch_export", args=[result.batch.pk]), {"format": "zip", "reviewed_only": "1"})
    archive = zipfile.ZipFile(io.BytesIO(b"".join(reviewed.streaming_content)))
    assert "pending.png" not in archive.namelist()
    assert "pending.png: left out (no reviewed caption yet)" in archive.read("export-notes.txt").decode()


def test_same_names_are_made_unique_and_no_member_leaves_its_folder(user, web):
    archive = zip_of({"x/a.jpg": original_bytes("JPEG"), "x/A.jpg": original_bytes("JPEG")})
    result = batch_submit(owner=user, files=[upload("a.jpg", original_bytes("JPEG")), upload("a.jpg", original_bytes("JPEG")), archive])
    Image.objects.filter(batch=result.batch, original_filename="x/A.jpg").update(original_filename="../x/a.jpg")
    response = web.get(reverse("captions:batch_export", args=[result.batch.pk]), {"format": "zip"})
    members = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).namelist()
    assert len(members) == len({m.lower() for m in members}) == 4
    assert members[:2] == ["a.jpg", "a (2).jpg"]
    assert {"x/a.jpg", "x/a (2).jpg"} <= set(members)
    assert all(not m.startswith("/") and ".." not in m.split("/") for m in members)


def test_a_single_gif_downloads_as_a_zip_with_its_sidecar(web, user):
    image = uploaded(user, "anim.gif", original_bytes("GIF"))
    caption = caption_in(image, "ja", JAPANESE)
    Image.objects.filter(pk=image.pk).update(current_caption=caption, status=Image.Status.DONE)
    response = web.get(reverse("captions:image_download", args=[image.public_id]))
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert archive.namelist() == ["anim.gif", "anim.gif.xmp"]
    assert JAPANESE in archive.read("anim.gif.xmp").decode("utf-8")


def test_without_the_metadata_library_the_download_is_a_503_naming_it_and_csv_still_works(web, user, monkeypatch):
    image = uploaded(user, "photo.jpg", original_bytes("JPEG"))
    monkeypatch.setitem(sys.modules, "pyexiv2", None)  # as on a server where it is not installed
    response = web.get(reverse("captions:image_download", args=[image.public_id]))
    assert response.status_code == 503 and "pyexiv2" in response.content.decode()
    response = web.get(reverse("captions:batch_export", args=[image.batch_id]), {"format": "zip"})
    assert response.status_code == 503 and "pyexiv2" in response.content.decode()
    through_api = web.get(reverse("api:batch-export", args=[image.batch_id]), {"format": "zip"})
    assert through_api.status_code == 503 and "pyexiv2" in through_api.json()["detail"]
    assert through_api.json()["code"] == "tool_missing"
    assert web.get(reverse("captions:batch_export", args=[image.batch_id]), {"format": "csv"}).status_code == 200


def test_bad_export_options_are_a_400_naming_them(web, user):
    image = uploaded(user, "photo.jpg", original_bytes("JPEG"))
    response = web.get(reverse("captions:batch_export", args=[image.batch_id]), {"format": "zip", "legacy_fields": "maybe"})
    assert response.status_code == 400 and "legacy_fields" in response.content.decode()
    response = web.get(reverse("captions:image_download", args=[image.public_id]), {"dc_description": "2"})
    assert response.status_code == 400 and "dc_description" in response.content.decode()
    response = web.get(reverse("captions:batch_export", args=[image.batch_id]), {"format": "xlsx"})
    assert response.status_code == 400 and "csv, json, html, report, zip" in response.content.decode()
    through_api = web.get(reverse("api:batch-export", args=[image.batch_id]), {"format": "zip", "bom": "maybe"})
    assert through_api.status_code == 400 and "bom" in through_api.json()["errors"]


def test_another_users_image_is_not_downloadable(client, make_user, user):
    image = uploaded(user, "photo.jpg", original_bytes("JPEG"))
    client.force_login(make_user("eve@example.com"))
    assert client.get(reverse("captions:image_download", args=[image.public_id])).status_code == 404


def test_html_downloads_as_html_and_csv_has_a_bom_option_and_rounded_confidence(web, user):
    image = uploaded(user, "=sum(A1).jpg", original_bytes("JPEG"))
    caption = caption_in(image, "en", "-1 dogs", confidence=0.123456789012345)
    Image.objects.filter(pk=image.pk).update(current_caption=caption, status=Image.Status.DONE)
    url = reverse("captions:batch_export", args=[image.batch_id])

    html = web.get(url, {"format": "html"})
    assert html["Content-Type"] == "text/html; charset=utf-8"
    assert html["Content-Disposition"].endswith('-alt-text.html"')

    plain = web.get(url, {"format": "csv"}).content
    with_bom = web.get(url, {"format": "csv", "bom": "1"}).content
    assert not plain.startswith(b"\xef\xbb\xbf") and with_bom == b"\xef\xbb\xbf" + plain
    row = next(csv.DictReader(io.StringIO(with_bom.decode("utf-8-sig"))))
    assert row["filename"] == "'=sum(A1).jpg" and row["caption"] == "'-1 dogs"
    assert row["confidence"] == "0.123"
    assert json.loads(web.get(url, {"format": "json"}).content)[0]["confidence"] == 0.123
