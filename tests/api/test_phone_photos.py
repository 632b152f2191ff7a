"""Phone, camera and scanner photos through the upload API and the worker's decode: colour
profiles in the thumbnail and the model's input, AVIF and HEIC, big photos (in a child process when
they cannot be decoded at reduced size), panoramas, and the loader's version in the cache key."""

import io
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from captions import inference
from captions.models import Image
from captions.services.worker import caption_cache_key
from mlcore import images as mlimages
from mlcore.colour import matrix_profile
from mlcore.params import GenerationParams
from tests.images import upload

pytestmark = pytest.mark.django_db
IMAGES = "/api/v1/images/"
PROPHOTO = matrix_profile("prophoto", ("gamma", 1.8), "ProPhoto RGB")
P3 = matrix_profile("display-p3", ("srgb",), "Display P3")


def encode(image, fmt, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def close(actual, expected, tolerance=5):
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def thumbnail_of(image: Image) -> PILImage.Image:
    with default_storage.open(image.thumbnail.name, "rb") as handle:
        return PILImage.open(io.BytesIO(handle.read())).convert("RGB")


def test_thumbnail_and_model_input_show_the_colours_a_browser_shows(api):
    data = encode(PILImage.new("RGB", (800, 600), (160, 67, 34)), "JPEG", quality=95, icc_profile=PROPHOTO)
    response = api.post(IMAGES, {"files": [upload("prophoto.jpg", data)]}, format="multipart")
    assert response.status_code == 202, response.json()
    image = Image.objects.get()
    thumb = thumbnail_of(image)
    assert close(thumb.getpixel((thumb.width // 2, thumb.height // 2)), (232, 29, 31)), thumb.getpixel((10, 10))
    pixels = inference.load_image_for_model(image)
    assert close(pixels.getpixel((400, 300)), (232, 29, 31))


@pytest.mark.parametrize(("fmt", "extension"), [("AVIF", "avif"), ("HEIF", "heic")])
def test_avif_and_heic_uploads_are_stored_as_they_are(api, fmt, extension):
    data = encode(PILImage.new("RGB", (120, 80), (234, 51, 35)), fmt, quality=90, icc_profile=P3)
    response = api.post(IMAGES, {"files": [upload(f"IMG_0001.{extension.upper()}", data, f"image/{extension}")]},
                        format="multipart")
    assert response.status_code == 202, response.json()
    image = Image.objects.get()
    assert image.format == fmt and image.file.name.endswith(f".{extension}")
    assert close(thumbnail_of(image).getpixel((60, 40)), (255, 0, 0), 10)


def test_a_48_megapixel_phone_photo_is_accepted_and_the_limit_is_a_setting(api, settings):
    data = encode(PILImage.new("RGB", (8000, 6000), (90, 120, 150)), "JPEG", quality=80)
    response = api.post(IMAGES, {"files": [upload("48mp.jpg", data)]}, format="multipart")
    assert response.status_code == 202, response.json()
    assert Image.objects.get().width == 8000
    settings.MAX_IMAGE_PIXELS = 40_000_000
    response = api.post(IMAGES, {"files": [upload("48mp-again.jpg", data)]}, format="multipart")
    assert response.status_code == 400
    assert "the limit is 40 megapixels" in response.json()["refused"][0]["reason"]


def test_images_without_reduced_decoding_are_decoded_in_a_child_process(api, settings):
    settings.DECODE_IN_PROCESS_MAX_PIXELS = 1_000_000
    picture = PILImage.new("RGB", (2400, 1600), (234, 51, 35))
    picture.paste((20, 20, 240), (0, 0, 1200, 1600))
    data = encode(picture, "PNG", icc_profile=P3)
    header = mlimages.header_of(data)
    assert mlimages.decoded_pixels(*header, 400) > settings.DECODE_IN_PROCESS_MAX_PIXELS
    response = api.post(IMAGES, {"files": [upload("big.png", data, "image/png"), upload("broken.png", data[:3000], "image/png")]},
                        format="multipart")
    assert response.status_code == 202, response.json()
    assert [r["filename"] for r in response.json()["refused"]] == ["broken.png"]
    image = Image.objects.get()
    assert (image.width, image.height) == (2400, 1600)
    thumb = thumbnail_of(image)
    assert max(thumb.size) == settings.THUMBNAIL_SIZE
    assert close(thumb.getpixel((thumb.width * 3 // 4, thumb.height // 2)), (255, 0, 0), 6)
    assert inference.load_image_for_model(image).size[0] <= 2400


def test_panoramas_are_accepted_up_to_the_configured_aspect_ratio(api, settings):
    panorama = encode(PILImage.new("RGB", (6000, 100), (30, 160, 90)), "PNG")
    response = api.post(IMAGES, {"files": [upload("pano.png", panorama, "image/png")]}, format="multipart")
    assert response.status_code == 202, response.json()
    settings.MAX_IMAGE_ASPECT_RATIO = 20
    response = api.post(IMAGES, {"files": [upload("pano2.png", panorama, "image/png")]}, format="multipart")
    assert response.status_code == 400
    assert "more than 20 times the other" in response.json()["refused"][0]["reason"]


def test_a_jpeg_missing_its_end_marker_is_accepted(api):
    data = encode(PILImage.effect_noise((300, 200), 50).convert("RGB"), "JPEG", quality=90)
    response = api.post(IMAGES, {"files": [upload("samsung-panorama.jpg", data[:-2])]}, format="multipart")
    assert response.status_code == 202, response.json()


def test_the_loaders_version_is_part_of_the_caption_cache_key(api, monkeypatch):
    response = api.post(IMAGES, {"files": [upload("a.png", encode(PILImage.new("RGB", (40, 30)), "PNG"), "image/png")]},
                        format="multipart")
    assert response.status_code == 202
    image = Image.objects.get()

    class Captioner:
        model_id, model_version = "test/model", "1"

    before = caption_cache_key(image=image, captioner=Captioner(), params=GenerationParams())
    assert before == caption_cache_key(image=image, captioner=Captioner(), params=GenerationParams())
    monkeypatch.setattr(mlimages, "LOADER_VERSION", mlimages.LOADER_VERSION + 1)
    assert caption_cache_key(image=image, captioner=Captioner(), params=GenerationParams()) != before


def test_the_docs_page_lists_every_accepted_format_and_limit():
    text = (Path(__file__).resolve().parents[2] / "docs" / "formats.md").read_text(encoding="utf-8")
    for fmt in mlimages.ALLOWED_FORMATS:
        assert mlimages.FORMAT_NAMES[fmt] in text
    for variable in ("MAX_IMAGE_PIXELS", "MAX_IMAGE_ASPECT_RATIO", "MAX_UPLOAD_BYTES", "DECODE_IN_PROCESS_MAX_PIXELS",
                     "MAX_PIXELS_PER_REQUEST", "BATCH_MAX_ZIP_BYTES", "MAX_FILES_PER_UPLOAD"):
        assert variable in text


def test_a_decoding_child_over_its_memory_limit_is_a_refusal_not_a_crash(api, settings):
    settings.DECODE_IN_PROCESS_MAX_PIXELS = 1_000_000
    settings.DECODE_CHILD_MAX_BYTES = 600 * 1024 * 1024
    big = encode(PILImage.new("RGB", (15000, 10000), (20, 40, 60)), "PNG")  # 150 MP: 450 MB of pixels
    small = encode(PILImage.new("RGB", (2000, 1000), (20, 40, 60)), "PNG")  # in a child too, within the limit
    response = api.post(IMAGES, {"files": [upload("huge.png", big, "image/png"), upload("fine.png", small, "image/png")]},
                        format="multipart")
    assert response.status_code == 202, response.json()
    refused = response.json()["refused"]
    assert [r["filename"] for r in refused] == ["huge.png"] and "resources" in refused[0]["reason"]
    assert list(Image.objects.values_list("original_filename", flat=True)) == ["fine.png"]
