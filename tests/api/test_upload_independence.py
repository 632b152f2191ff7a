"""Every file of a request is independent (any exception refuses only its
file, logged), and file names survive: empty, Latin-1 in the multipart header, legacy code pages
in zip archives."""

import io
import logging
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from captions.models import Image
from captions.services.submission import INTERNAL_ERROR_REASON
from tests.images import image_bytes, upload

pytestmark = pytest.mark.django_db

BOUNDARY = "----captionsite-test-boundary"


def multipart(parts: list[tuple[str, bytes, bytes]], fields: dict | None = None) -> bytes:
    """A hand-built multipart body: (field name, raw filename bytes, content) per file part."""
    body = b""
    for name, value in (fields or {}).items():
        body += (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").encode()
    for field, filename, content in parts:
        body += (
            f"--{BOUNDARY}\r\n".encode()
            + f'Content-Disposition: form-data; name="{field}"; filename="'.encode() + filename + b'"\r\n'
            + b"Content-Type: application/octet-stream\r\n\r\n" + content + b"\r\n"
        )
    return body + f"--{BOUNDARY}--\r\n".encode()


def post_raw(client, url: str, body: bytes):
    return client.generic("POST", url, body, content_type=f"multipart/form-data; boundary={BOUNDARY}")


def stored_files_exist(image: Image) -> bool:
    root = Path(image.file.storage.location)
    return (root / image.file.name).is_file() and (root / image.thumbnail.name).is_file()


# --- Any exception on one file ---------------------------------------------------------------------


def test_an_unexpected_exception_on_one_file_refuses_only_that_file(api, settings, caplog):
    settings.UPLOAD_IMAGE_VALIDATORS = ["tests.upload.upload_hooks.explode_on_boom"]
    files = [upload("a.jpg", image_bytes("JPEG")), upload("boom.png", image_bytes("PNG")), upload("c.jpg", image_bytes("JPEG"))]
    with caplog.at_level(logging.ERROR, logger="captions.services.submission"):
        response = api.post("/api/v1/images/", {"files": files}, format="multipart")
    assert response.status_code == 202, response.content
    body = response.json()
    assert [image["filename"] for image in body["images"]] == ["a.jpg", "c.jpg"]
    assert body["refused"] == [{"filename": "boom.png", "reason": INTERNAL_ERROR_REASON}]
    records = [r for r in caplog.records if "boom.png" in r.getMessage()]
    assert records and records[0].exc_info and records[0].exc_info[0] is ZeroDivisionError
    assert Image.objects.count() == 2 and all(stored_files_exist(image) for image in Image.objects.all())
    media = Path(settings.MEDIA_ROOT)
    assert len(list((media / "images").rglob("*.*"))) == 2  # nothing left of the refused file
    assert not any(p.is_file() for p in (media / ".staging").rglob("*"))


def test_the_only_file_failing_unexpectedly_is_a_400_with_its_reason_not_a_500(api, settings):
    settings.UPLOAD_IMAGE_VALIDATORS = ["tests.upload.upload_hooks.explode_on_boom"]
    response = api.post("/api/v1/images/", {"files": [upload("boom.jpg", image_bytes("JPEG"))]}, format="multipart")
    assert response.status_code == 400
    assert response.json()["refused"] == [{"filename": "boom.jpg", "reason": INTERNAL_ERROR_REASON}]
    assert not Image.objects.exists()


def test_a_zip_member_failing_unexpectedly_refuses_only_that_member(api, settings):
    settings.UPLOAD_IMAGE_VALIDATORS = ["tests.upload.upload_hooks.explode_on_boom"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("one.jpg", image_bytes("JPEG"))
        archive.writestr("boom.jpg", image_bytes("JPEG"))
        archive.writestr("two.png", image_bytes("PNG"))
    response = api.post("/api/v1/batches/", {"files": [upload("p.zip", buffer.getvalue(), "application/zip")]}, format="multipart")
    assert response.status_code == 202
    assert response.json()["refused"] == [{"filename": "boom.jpg", "reason": INTERNAL_ERROR_REASON}]
    assert sorted(Image.objects.values_list("original_filename", flat=True)) == ["one.jpg", "two.png"]


def test_the_web_form_refuses_the_failing_file_and_keeps_the_others(logged_in_client, settings):
    settings.UPLOAD_IMAGE_VALIDATORS = ["tests.upload.upload_hooks.explode_on_boom"]
    response = logged_in_client.post(
        "/upload/", {"images": [upload("boom.jpg", image_bytes("JPEG")), upload("ok.jpg", image_bytes("JPEG"))]}, follow=True
    )
    assert response.redirect_chain and response.status_code == 200
    assert "boom.jpg was not stored" in response.content.decode()
    assert list(Image.objects.values_list("original_filename", flat=True)) == ["ok.jpg"]


def test_a_validator_refusal_gives_its_own_reason(api, settings):
    settings.UPLOAD_IMAGE_VALIDATORS = ["tests.upload.upload_hooks.refuse_on_nsfw"]
    files = [upload("nsfw.jpg", image_bytes("JPEG")), upload("fine.jpg", image_bytes("JPEG"))]
    response = api.post("/api/v1/images/", {"files": files}, format="multipart")
    assert response.status_code == 202
    assert response.json()["refused"] == [{"filename": "nsfw.jpg", "reason": "Refused by the content policy."}]


# --- File names in the multipart header ------------------------------------------------------------


@pytest.mark.parametrize(
    "raw_name, stored",
    [
        (b"caf\xe9.png", "café.png"),  # Latin-1, as old clients send it
        ("café.png".encode(), "café.png"),  # UTF-8, as browsers send it
        (b"\xc5\xbd\xe9\xe8.png", "Ε½ιθ.png"),  # no language's name: still kept, never dropped
        ("Größe & Maße.png".encode("cp1252"), "Größe & Maße.png"),
        ("写真 旅行.png".encode("cp932"), "写真 旅行.png"),  # raw Shift_JIS, as old Japanese clients send
        ("猫咪照片.png".encode("gbk"), "猫咪照片.png"),
        ("кошка на диване.png".encode("cp1251"), "кошка на диване.png"),
        ("Φωτογραφία.png".encode("cp1253"), "Φωτογραφία.png"),
        ("תמונה משפחתית.png".encode("cp1255"), "תמונה משפחתית.png"),
        (b"say %22cheese%22.png", 'say "cheese".png'),  # Chromium escapes '"' as %22
    ],
)
def test_legacy_and_utf8_file_names_are_kept_in_the_api(api, raw_name, stored):
    body = multipart([("files", raw_name, image_bytes("PNG")), ("files", b"plain.jpg", image_bytes("JPEG"))])
    response = post_raw(api, "/api/v1/images/", body)
    assert response.status_code == 202, response.content
    assert response.json()["refused"] == []
    assert sorted(Image.objects.values_list("original_filename", flat=True)) == sorted([stored, "plain.jpg"])


def test_a_latin1_file_name_is_kept_by_the_web_form(logged_in_client):
    body = multipart([("images", b"caf\xe9.png", image_bytes("PNG"))])
    response = post_raw(logged_in_client, "/upload/", body)
    assert response.status_code == 302
    assert list(Image.objects.values_list("original_filename", flat=True)) == ["café.png"]


def test_an_empty_file_name_gets_a_generated_name(api):
    body = multipart([("files", b"", image_bytes("PNG")), ("files", b"named.jpg", image_bytes("JPEG"))])
    response = post_raw(api, "/api/v1/images/", body)
    assert response.status_code == 202, response.content
    assert sorted(Image.objects.values_list("original_filename", flat=True)) == ["named.jpg", "unnamed-1.png"]
    assert all(stored_files_exist(image) for image in Image.objects.all())


def test_an_empty_file_name_alone_is_stored_too(api):
    response = post_raw(api, "/api/v1/images/", multipart([("files", b"", image_bytes("JPEG"))]))
    assert response.status_code == 202, response.content
    assert Image.objects.get().original_filename == "unnamed-1.jpg"


def test_an_empty_unnamed_part_is_an_empty_file_input_not_a_file(logged_in_client):
    """What a browser sends for a file input left empty: no file, the usual form error."""
    response = post_raw(logged_in_client, "/upload/", multipart([("images", b"", b"")]))
    assert response.status_code == 400
    assert not Image.objects.exists()


def test_an_unnamed_file_that_is_not_an_image_is_refused_by_its_generated_name(api):
    response = post_raw(api, "/api/v1/images/", multipart([("files", b"", b"not an image"), ("files", b"ok.jpg", image_bytes("JPEG"))]))
    assert response.status_code == 202
    assert response.json()["refused"][0]["filename"] == "unnamed-1"


# --- Zip member names in legacy code pages ---------------------------------------------------------


def legacy_zip(names: list[str], encoding: str) -> bytes:
    """A zip as Windows' built-in archiver writes it: names in the OEM code page, no UTF-8 flag."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index in range(len(names)):
            info = zipfile.ZipInfo(f"placeholder{index}.jpg")
            archive.writestr(info, image_bytes("JPEG", color=(index * 40 % 256, 90, 30)))
    # Rewrite each placeholder (local header and central directory) with the encoded name.
    out = buffer.getvalue()
    for index, name in enumerate(names):
        placeholder = f"placeholder{index}.jpg".encode()
        encoded = name.encode(encoding)
        out = _rename(out, placeholder, encoded)
    with zipfile.ZipFile(io.BytesIO(out)) as check:
        assert all(not (info.flag_bits & 0x800) for info in check.infolist())
    return out


def _rename(data: bytes, old: bytes, new: bytes) -> bytes:
    """Rebuild the archive with `old` renamed to the raw bytes `new` (lengths may differ)."""
    import struct

    out = bytearray()
    central = bytearray()
    offsets = {}
    position = 0
    while data[position:position + 4] == b"PK\x03\x04":
        (_, _, flags, method, mtime, mdate, crc, csize, usize, nlen, elen) = struct.unpack("<IHHHHHIIIHH", data[position:position + 30])
        name = data[position + 30:position + 30 + nlen]
        start = position + 30 + nlen + elen
        payload = data[start:start + csize]
        new_name = new if name == old else name
        offsets[name] = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags & ~0x800, method, mtime, mdate, crc, csize, usize, len(new_name), 0)
        out += new_name + payload
        position = start + csize
    cd_start = len(out)
    count = 0
    while data[position:position + 4] == b"PK\x01\x02":
        fields = list(struct.unpack("<IHHHHHHIIIHHHHHII", data[position:position + 46]))
        nlen, elen, clen = fields[10], fields[11], fields[12]
        name = data[position + 46:position + 46 + nlen]
        new_name = new if name == old else name
        fields[3] &= ~0x800
        fields[10], fields[11], fields[12] = len(new_name), 0, 0
        fields[16] = offsets[name]
        central += struct.pack("<IHHHHHHIIIHHHHHII", *fields) + new_name
        position += 46 + nlen + elen + clen
        count += 1
    out += central
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(central), cd_start, 0)
    return bytes(out)


@pytest.mark.parametrize(
    "names, encoding",
    [
        (["Фото на море.jpg", "кот на диване.jpg"], "cp866"),  # Russian Windows
        (["Привет.jpg"], "cp866"),
        (["Müller Straße.jpg", "Ñandú.jpg"], "cp437"),  # US Windows
        (["café crème.jpg", "déjà vu.jpg"], "cp850"),  # Western European Windows
        (["Łódź zima.jpg", "Kraków rynek.jpg"], "cp852"),  # Central European Windows
        (["año nuevo.jpg"], "utf-8"),  # macOS/Linux tools: UTF-8 without the flag
        (["写真/旅行の思い出.jpg", "猫の写真.jpg"], "cp932"),  # Japanese Windows
        (["スクリーンショット 2024-05-01.jpg"], "cp932"),
        (["照片/我的旅行.jpg", "猫咪照片.jpg"], "gbk"),  # Simplified Chinese Windows
        (["屏幕截图 2024.jpg"], "gbk"),
        (["照片/我的旅行.jpg", "貓咪照片.jpg"], "big5"),  # Traditional Chinese Windows
        (["螢幕擷取畫面.jpg"], "big5"),
        (["사진/여행 추억.jpg", "고양이 사진.jpg"], "cp949"),  # Korean Windows
        (["스크린샷 2024.jpg"], "cp949"),
        (["Фотографии/отпуск летом.jpg", "Снимок экрана.jpg"], "cp1251"),  # ANSI Cyrillic (7-Zip, WinRAR)
        (["Größe.jpg", "Résumé 2024.jpg", "Ærø.jpg"], "cp1252"),  # ANSI Western
        (["Φωτογραφίες/διακοπές.jpg", "Στιγμιότυπο οθόνης.jpg"], "cp1253"),  # Greek
        (["Φωτογραφίες/διακοπές.jpg", "γάτα.jpg"], "cp737"),  # Greek OEM
        (["תמונות/חופשה בקיץ.jpg", "ירושלים שלום.jpg"], "cp1255"),  # Hebrew
        (["תמונות/חופשה בקיץ.jpg", "חתול.jpg"], "cp862"),  # Hebrew OEM
    ],
)
def test_zip_member_names_in_legacy_code_pages_are_decoded(api, names, encoding):
    archive = legacy_zip(names, encoding)
    response = api.post("/api/v1/batches/", {"files": [upload("photos.zip", archive, "application/zip")]}, format="multipart")
    assert response.status_code == 202, response.content
    assert sorted(Image.objects.values_list("original_filename", flat=True)) == sorted(names)


def unicode_path_zip(entries: list[tuple[bytes, str, bool]]) -> bytes:
    """A zip as WinZip and Info-ZIP write it: the name in the local code page (here '?' for the
    letters it lacks) and the UTF-8 name in an Info-ZIP Unicode Path extra field (0x7075), whose
    CRC-32 is that of the raw name (``good_crc`` False: a name changed after the field was written)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index, (raw, utf8_name, good_crc) in enumerate(entries):
            info = zipfile.ZipInfo(raw.decode("ascii"))
            crc = zlib.crc32(raw) if good_crc else zlib.crc32(raw + b"x")
            field = b"\x01" + struct.pack("<I", crc) + utf8_name.encode()
            info.extra = struct.pack("<HH", 0x7075, len(field)) + field
            archive.writestr(info, image_bytes("JPEG", color=(index * 60 % 256, 90, 30)))
    return buffer.getvalue()


def test_the_unicode_path_extra_field_gives_the_name(api):
    archive = unicode_path_zip([
        (b"??????.jpg", "東京タワー.jpg", True),
        (b"Fotos/??.jpg", "Fotos/Кот.jpg", True),
        (b"renamed.jpg", "old name.jpg", False),  # the field no longer matches: the raw name is kept
    ])
    response = api.post("/api/v1/batches/", {"files": [upload("u.zip", archive, "application/zip")]}, format="multipart")
    assert response.status_code == 202, response.content
    assert sorted(Image.objects.values_list("original_filename", flat=True)) == sorted(
        ["東京タワー.jpg", "Fotos/Кот.jpg", "renamed.jpg"])


def test_an_empty_zip_is_named_in_the_answer(api):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo("empty folder/"), b"")
    empty = io.BytesIO()
    zipfile.ZipFile(empty, "w").close()
    for name, data in (("folders.zip", buffer.getvalue()), ("nothing.zip", empty.getvalue())):
        response = api.post("/api/v1/batches/", {"files": [upload(name, data, "application/zip"),
                                                           upload("a.jpg", image_bytes("JPEG"))]}, format="multipart")
        assert response.status_code == 202, response.content
        refused = response.json()["refused"]
        assert [r["filename"] for r in refused] == [name] and "holds no files" in refused[0]["reason"]


def test_zip_member_refusals_use_the_decoded_name(api):
    archive = legacy_zip(["Фото/../побег.jpg", "Фото/кот.jpg"], "cp866")
    response = api.post("/api/v1/batches/", {"files": [upload("p.zip", archive, "application/zip")]}, format="multipart")
    assert response.status_code == 202
    assert response.json()["refused"][0]["filename"] == "p.zip/Фото/../побег.jpg"
    assert list(Image.objects.values_list("original_filename", flat=True)) == ["Фото/кот.jpg"]  # folder decoded and kept
