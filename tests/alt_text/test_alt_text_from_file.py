"""Alt text read on upload: IPTC Alt Text (every language), Extended Description, dc:description,
IPTC-IIM Caption-Abstract (by its coded character set), EXIF ImageDescription and XPComment become
captions with source "file" (the alt text by default; the model's caption a suggestion); device
boilerplate is ignored; broken metadata is a note on the image, never a refused upload or a 500.
A file exported by captionsite uploads again with its alt text."""

import io
import zipfile

import pyexiv2
import pytest
from django.urls import reverse
from PIL import Image as PILImage
from PIL.PngImagePlugin import PngInfo

from captions.models import Caption, Image
from captions.services.submission import batch_submit, image_submit
from tests.api.conftest import run_worker_once
from tests.images import image_bytes, upload

XMP_HEAD = ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
            'xmlns:Iptc4xmpCore="http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/">')
XMP_TAIL = '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'


def with_metadata(fmt="JPEG", *, xmp=None, exif=None, iptc=None, raw_xmp: bytes | None = None) -> bytes:
    """A file with metadata written by exiv2 (xmp/exif/iptc: pyexiv2 dicts), or a raw XMP packet
    put in by Pillow as it is (for packets exiv2 would refuse to write)."""
    buffer = io.BytesIO()
    image = PILImage.new("RGB", (32, 24), (10, 200, 30))
    extra = {}
    if raw_xmp is not None:  # a PNG iTXt chunk, as Photoshop and exiftool write XMP into PNG
        extra["pnginfo"] = PngInfo()
        extra["pnginfo"].add_itxt("XML:com.adobe.xmp", raw_xmp.decode("utf-8", errors="replace"))
    image.save(buffer, format=fmt, **extra)
    data = buffer.getvalue()
    if xmp or exif or iptc:
        with pyexiv2.ImageData(data) as editor:
            if xmp:
                editor.modify_xmp(xmp)
            if exif:
                editor.modify_exif(exif)
            if iptc:
                editor.modify_iptc(iptc)
            data = editor.get_bytes()
    return data


def file_captions(image: Image) -> dict[tuple[str, str], str]:
    return {(c.language, c.style): c.text for c in Caption.objects.filter(image=image, source=Caption.Source.FILE)}


def current(image: Image) -> Caption | None:
    image.refresh_from_db()
    return image.current_caption


def submitted(user, data: bytes, name="photo.jpg", **options) -> Image:
    result = image_submit(owner=user, files=[upload(name, data)], **options)
    assert not result.refused, result.refused
    return result.accepted[0]


def test_iptc_alt_text_in_every_language_becomes_the_alt_text_and_survives_the_model(user, tiny_model, client):
    data = with_metadata(xmp={
        "Xmp.iptc.AltTextAccessibility": {'lang="x-default"': "A green field", 'lang="en"': "A green field",
                                          'lang="ja"': "緑の野原", 'lang="ar"': "حقل أخضر 🌱"},
        "Xmp.iptc.ExtDescrAccessibility": {'lang="x-default"': "A long description of a field of grass."},
        "Xmp.dc.description": {'lang="x-default"': "not used: the alt text comes first"},
    })
    image = submitted(user, data)
    assert file_captions(image) == {("en", "alt"): "A green field", ("ja", "alt"): "緑の野原", ("ar", "alt"): "حقل أخضر 🌱",
                                    ("en", "extended"): "A long description of a field of grass."}
    assert current(image).text == "A green field" and current(image).source == "file"

    run_worker_once()  # the model captions it too: a suggestion, the file's alt text stays
    image.refresh_from_db()
    assert image.status == Image.Status.DONE
    assert current(image).source == "file"
    assert Caption.objects.filter(image=image, source=Caption.Source.MODEL).count() == 1

    client.force_login(user)
    page = client.get(reverse("captions:image_detail", args=[image.public_id])).content.decode()
    assert "A green field" in page and "From the file" in page and "IPTC Alt Text (Accessibility)" in page


def test_compare_lets_the_model_caption_and_keeps_the_files_text_in_the_history(user, tiny_model):
    data = with_metadata(xmp={"Xmp.dc.description": {'lang="x-default"': "A photo of a meadow"}})
    image = submitted(user, data, file_alt_text="compare")
    assert current(image) is None and file_captions(image) == {("en", "alt"): "A photo of a meadow"}
    run_worker_once()
    assert current(image).source == "model"
    assert Caption.objects.get(image=image, source="file").details["file_field"] == "XMP dc:description"


def test_off_reads_nothing_and_a_bad_choice_is_refused_before_anything_is_stored(user, settings):
    data = with_metadata(xmp={"Xmp.dc.description": {'lang="x-default"': "A photo of a meadow"}})
    assert file_captions(submitted(user, data, file_alt_text="off")) == {}
    settings.ALT_TEXT_FROM_FILE = "off"
    assert file_captions(submitted(user, data)) == {}
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        image_submit(owner=user, files=[upload("a.jpg", data)], file_alt_text="maybe")
    assert Image.objects.filter(owner=user).count() == 2


@pytest.mark.parametrize("fields,expected,field_name", [
    ({"iptc": {"Iptc.Envelope.CharacterSet": "\x1b%G", "Iptc.Application2.Caption": "Ein Hund im Schnee – öäü"}},
     "Ein Hund im Schnee – öäü", "IPTC-IIM Caption-Abstract"),
    ({"exif": {"Exif.Image.ImageDescription": "Une tour au coucher du soleil"}},
     "Une tour au coucher du soleil", "EXIF ImageDescription"),
    ({"exif": {"Exif.Image.XPComment": "窓辺の猫"}}, "窓辺の猫", "EXIF XPComment"),
])
def test_each_older_field_is_read(user, fields, expected, field_name):
    image = submitted(user, with_metadata(**fields))
    caption = Caption.objects.get(image=image, source="file")
    assert caption.text == expected and caption.details["file_field"] == field_name


def test_iim_without_a_character_set_is_read_as_latin_1(user):
    buffer = io.BytesIO()
    PILImage.new("RGB", (16, 16)).save(buffer, format="JPEG")
    with pyexiv2.ImageData(buffer.getvalue()) as editor:  # as older software writes it: Latin-1, no 1:90
        editor.modify_iptc({"Iptc.Application2.Caption": "Café au lait"}, encoding="latin-1")
        data = editor.get_bytes()
    assert b"Caf\xe9 au lait" in data
    image = submitted(user, data)
    assert file_captions(image) == {("en", "alt"): "Café au lait"}


@pytest.mark.parametrize("boilerplate", ["OLYMPUS DIGITAL CAMERA", "SONY DSC", "DCIM\\100MEDIA", "   ", "IMG_1234.JPG",
                                         "DSC01234", "---"])
def test_device_boilerplate_is_ignored(user, boilerplate):
    image = submitted(user, with_metadata(exif={"Exif.Image.ImageDescription": boilerplate}))
    assert file_captions(image) == {} and current(image) is None


def xmp_packet(body: str) -> bytes:
    return (XMP_HEAD + body + XMP_TAIL).encode("utf-8")


BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10))
                  + b']><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
                  + b"<rdf:Description>&lol9;</rdf:Description></rdf:RDF></x:xmpmeta>")


@pytest.mark.parametrize("raw,note", [
    (xmp_packet("<dc:description><rdf:Alt><rdf:li xml:lang='x-default'>cut")[:-60], "incomplete"),
    (BILLION_LAUGHS, "entities"),
    (xmp_packet("<dc:description><rdf:Alt><rdf:li xml:lang='x-default'>" + "a" * (10 * 2**20) + "</rdf:li></rdf:Alt></dc:description>"),
     "too large"),
    (xmp_packet("<dc:description><rdf:Alt><rdf:li xml:lang='x-default'>open</rdf:Alt></dc:description>"), "not well-formed"),
])
def test_broken_xmp_is_ignored_with_a_note_and_the_upload_is_kept(user, client, raw, note, settings):
    settings.MAX_UPLOAD_BYTES = 20 * 2**20
    image = submitted(user, with_metadata("PNG", raw_xmp=raw), name="broken.png")
    assert file_captions(image) == {}
    image.refresh_from_db()
    assert note in image.file_metadata_note
    client.force_login(user)
    page = client.get(reverse("captions:image_detail", args=[image.public_id]))
    assert page.status_code == 200 and note in page.content.decode()


def test_invalid_utf8_and_wrong_types_in_exif_are_ignored_with_a_note(user):
    exif = PILImage.Exif()
    exif[0x010E] = b"\xff\xfe broken \xc3"  # ImageDescription: not UTF-8
    exif[0x9C9C] = 12345  # XPComment: a number instead of UTF-16 bytes
    buffer = io.BytesIO()
    PILImage.new("RGB", (16, 16)).save(buffer, format="JPEG", exif=exif.tobytes())
    image = submitted(user, buffer.getvalue())
    assert file_captions(image) == {}
    image.refresh_from_db()
    assert "not valid UTF-8" in image.file_metadata_note and "XPComment" in image.file_metadata_note


def test_a_zip_upload_and_the_api_read_it_too(user, api_client_for):
    data = with_metadata(xmp={"Xmp.iptc.AltTextAccessibility": {'lang="x-default"': "A bridge at night"}})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("folder/bridge.jpg", data)
    result = batch_submit(owner=user, files=[upload("photos.zip", buffer.getvalue(), "application/zip")])
    assert current(result.accepted[0]).text == "A bridge at night"

    api = api_client_for(user)
    response = api.post("/api/v1/images/", {"files": [upload("b.jpg", data)], "file_alt_text": "compare"}, format="multipart")
    assert response.status_code == 202, response.content
    image = Image.objects.get(public_id=response.json()["images"][0]["id"])
    assert current(image) is None and file_captions(image) == {("en", "alt"): "A bridge at night"}
    bad = api.post("/api/v1/images/", {"files": [upload("c.jpg", data)], "file_alt_text": "sometimes"}, format="multipart")
    assert bad.status_code == 400 and "file_alt_text" in bad.json()["errors"]


def test_a_file_exported_by_captionsite_uploads_again_with_its_alt_text(user, make_user, client):
    first = submitted(user, image_bytes("JPEG"))
    caption = Caption.objects.create(image=first, text="Ein roter Apfel", language="de")
    Image.objects.filter(pk=first.pk).update(current_caption=caption, status=Image.Status.DONE)
    client.force_login(user)
    exported = client.get(reverse("captions:image_download", args=[first.public_id])).content

    other = make_user("bo@example.com")
    again = submitted(other, exported, name="apple.jpg")
    assert file_captions(again) == {("de", "alt"): "Ein roter Apfel"}
    assert current(again).text == "Ein roter Apfel" and current(again).source == "file"


@pytest.fixture
def api_client_for():
    from rest_framework.test import APIClient

    from tests.api.conftest import bearer

    def make(user):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=bearer(user))
        return client

    return make
