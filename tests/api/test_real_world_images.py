"""Real-world photos through the upload API, the zip batch, the web form and the worker, and the
issue-9 guarantee: one image loader, so serving, evaluation and training see identical pixels."""

import io
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from django.urls import reverse
from PIL import Image as PILImage

from captions import inference
from captions.models import Image
from mlcore.images import captioner_target_size, load_image
from mlcore.metrics import evaluate
from mlcore.predictors.base import Captioner, RawCandidate
from mlcore.training.datasets import open_image
from mlcore.training.hf_finetune import _open as finetune_open
from tests.api.conftest import run_worker_once
from tests.api.test_batches import filenames, post_batch, zip_upload
from tests.images import image_bytes, upload

pytestmark = pytest.mark.django_db

IMAGES = "/api/v1/images/"


def encode(image, fmt, **save_args) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save_args)
    return buffer.getvalue()


def broken_exif_jpeg(size=(80, 40)) -> bytes:
    """Orientation 6 plus XResolution stored as ASCII "72": ImageOps.exif_transpose raises TypeError."""
    entries = [
        struct.pack(">HHI", 0x0112, 3, 1) + struct.pack(">H", 6) + b"\0\0",
        struct.pack(">HHI", 0x011A, 2, 3) + b"72\0\0",
    ]
    ifd = struct.pack(">H", len(entries)) + b"".join(entries) + struct.pack(">I", 0)
    exif = b"Exif\0\0MM\0\x2a" + struct.pack(">I", 8) + ifd
    return encode(PILImage.new("RGB", size, (10, 120, 200)), "JPEG", exif=exif)


def mpo_bytes(size=(64, 48)) -> bytes:
    """What phones and cameras write: a JPEG with an MPF header and a second picture."""
    first, second = PILImage.new("RGB", size, (220, 20, 20)), PILImage.new("RGB", size, (20, 20, 220))
    data = encode(first, "MPO", save_all=True, append_images=[second])
    assert PILImage.open(io.BytesIO(data)).format == "MPO"
    return data


def png16_ramp(size=(256, 64)) -> bytes:
    width, height = size
    values = np.tile(np.linspace(0, 65535, width), (height, 1)).astype("<u2")
    image = PILImage.frombytes("I;16", size, values.tobytes())
    return encode(image, "PNG")


def strip_png() -> bytes:
    return encode(PILImage.new("L", (100_000, 1)), "PNG")


def test_real_world_photos_are_stored_and_only_the_strip_is_refused(api, settings):
    response = api.post(
        IMAGES,
        {"files": [
            upload("camera.jpg", mpo_bytes()),
            upload("rotated.jpg", broken_exif_jpeg()),
            upload("scan.png", png16_ramp(), "image/png"),
            upload("strip.png", strip_png(), "image/png"),
            upload("plain.jpg", image_bytes("JPEG")),
        ]},
        format="multipart",
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert sorted(i["filename"] for i in body["images"]) == ["camera.jpg", "plain.jpg", "rotated.jpg", "scan.png"]
    (refusal,) = body["refused"]
    assert refusal["filename"] == "strip.png"
    assert "100000x1" in refusal["reason"] and "extreme proportions" in refusal["reason"]

    images = {i.original_filename: i for i in Image.objects.all()}
    assert images["camera.jpg"].format == "JPEG"
    assert (images["rotated.jpg"].width, images["rotated.jpg"].height) == (40, 80)  # EXIF 6 applied
    with PILImage.open(Path(settings.MEDIA_ROOT) / images["scan.png"].thumbnail.name) as thumb:
        grey = np.asarray(thumb.convert("L"))
    assert grey.min() <= 5 and grey.max() >= 250  # the 16-bit ramp's thumbnail is not white


def test_a_zip_of_camera_files_is_stored_whole(api):
    archive = zip_upload({"a.jpg": mpo_bytes(), "b.jpg": broken_exif_jpeg(), "c.jpg": image_bytes("JPEG")})
    response = post_batch(api, archive)
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["refused"] == []
    assert filenames(body["batch"]) == ["a.jpg", "b.jpg", "c.jpg"]


def test_the_web_form_accepts_an_mpo(logged_in_client):
    response = logged_in_client.post(reverse("captions:upload"), {"images": [upload("dsc.jpg", mpo_bytes())]})
    assert response.status_code == 302
    assert Image.objects.get().format == "JPEG"


def test_the_worker_captions_real_world_photos(api, tiny_model):
    response = api.post(
        IMAGES,
        {"files": [upload("camera.jpg", mpo_bytes()), upload("rotated.jpg", broken_exif_jpeg()),
                   upload("scan.png", png16_ramp(), "image/png")]},
        format="multipart",
    )
    assert response.status_code == 202
    run_worker_once()
    assert sorted(Image.objects.values_list("status", flat=True)) == [Image.Status.DONE] * 3


# --- identical pixels through serving, evaluation and training ----------------------------


def rotated_transparent_png() -> tuple[bytes, np.ndarray]:
    """A PNG with alpha whose EXIF says 'rotate' (orientation 6), and the pixels it must give:
    upright, transparent areas white."""
    upright = PILImage.new("RGBA", (60, 40), (200, 40, 40, 255))
    upright.paste((0, 0, 0, 0), (0, 0, 30, 20))  # transparent top-left quarter (black underneath)
    upright.paste((20, 160, 20, 128), (30, 20, 60, 40))  # half-transparent green bottom-right
    stored = upright.transpose(PILImage.Transpose.ROTATE_90)  # what the camera wrote
    exif = PILImage.Exif()
    exif[0x0112] = 6
    data = encode(stored, "PNG", exif=exif.tobytes())
    expected = PILImage.new("RGB", upright.size, (255, 255, 255))
    expected.paste(upright, mask=upright.getchannel("A"))
    return data, np.asarray(expected)


class RecordingCaptioner(Captioner):
    """A complete Captioner that answers one fixed caption and keeps the pixels it was given."""

    model_id = "recording"

    def __init__(self):
        super().__init__()
        self.seen: list[np.ndarray] = []

    def generate_raw(self, images, params):
        self.seen.extend(np.asarray(image).copy() for image in images)
        return [[RawCandidate("a red square", -0.5)] for _ in images], {"preprocess_ms": 0.0, "generate_ms": 0.0}


def test_a_rotated_transparent_image_gives_identical_pixels_everywhere(api, tmp_path, tiny_blip_dir):
    data, expected = rotated_transparent_png()
    response = api.post(IMAGES, {"files": [upload("photo.png", data, "image/png")]}, format="multipart")
    assert response.status_code == 202
    image = Image.objects.get()

    # serving: what the worker feeds the model (with and without the captioner's target size)
    import mlcore

    blip = mlcore.load_captioner(tiny_blip_dir)
    served = np.asarray(inference.load_image_for_model(image))
    served_for_blip = np.asarray(inference.load_image_for_model(image, blip))

    # evaluation: mlcore.metrics.evaluate over a COCO file naming the same bytes
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "photo.png").write_bytes(data)
    annotations = tmp_path / "ann.json"
    annotations.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "photo.png"}],
        "annotations": [{"image_id": 1, "caption": "a red square"}],
    }))
    recorder = RecordingCaptioner()
    evaluate(recorder, str(annotations), str(tmp_path / "img"), out_json=str(tmp_path / "out.json"), progress=False)
    (evaluated,) = recorder.seen

    # training: the dataset loader of fine-tuning and of the in-house training
    trained = np.asarray(open_image(str(tmp_path / "img" / "photo.png")))
    (finetuned,) = [np.asarray(i) for i in finetune_open([str(tmp_path / "img" / "photo.png")], blip.image_processor)]

    assert expected.shape == (40, 60, 3)
    for name, pixels in {"served": served, "served_for_blip": served_for_blip, "evaluated": evaluated,
                         "trained": trained, "finetuned": finetuned}.items():
        assert np.array_equal(pixels, expected), name


def test_large_photos_get_the_same_reduced_pixels_on_every_path(tmp_path, settings):
    photo = PILImage.new("RGB", (3000, 2000), (30, 90, 160))
    photo.paste((240, 240, 240), (0, 0, 1500, 1000))
    path = tmp_path / "big.jpg"
    path.write_bytes(encode(photo, "JPEG", quality=90))

    class Need:
        image_processor = type("P", (), {"size": {"height": 384, "width": 384}})()

    target = captioner_target_size(Need())
    served = load_image(path.read_bytes(), max_pixels=settings.MAX_IMAGE_PIXELS, target_size=target).image
    trained = open_image(str(path), target_size=target)
    assert 384 <= min(served.size) < 768
    assert np.array_equal(np.asarray(served), np.asarray(trained))


def test_caption_folder_captions_camera_files_and_skips_the_strip(tmp_path, tiny_blip_dir):
    import csv
    from io import StringIO

    from django.core.management import call_command

    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "camera.jpg").write_bytes(mpo_bytes())
    (folder / "rotated.jpg").write_bytes(broken_exif_jpeg())
    (folder / "scan.png").write_bytes(png16_ramp())
    (folder / "strip.png").write_bytes(strip_png())
    out = tmp_path / "captions.csv"
    call_command("caption_folder", str(folder), "--out", str(out), "--model", tiny_blip_dir,
                 "--params", "num_beams=1,max_length=8", stdout=StringIO(), stderr=StringIO())
    with out.open(newline="", encoding="utf-8") as handle:
        rows = {row["file"]: row for row in csv.DictReader(handle)}
    assert {name: row["status"] for name, row in rows.items()} == {
        "camera.jpg": "ok", "rotated.jpg": "ok", "scan.png": "ok", "strip.png": "skipped"}
    assert "extreme proportions" in rows["strip.png"]["reason"]
