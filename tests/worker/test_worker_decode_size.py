"""The worker decodes stored photos at the model's input size (JPEG draft mode), never at full
size: its memory stays flat whatever the photo size. Timings per phase come back in the summary."""

import io

import pytest
from PIL import Image as PILImage
from PIL import ImageDraw

import mlcore
from captions import inference
from captions.models import Image
from captions.services.results import WorkerRunSummary
from captions.services.submission import image_submit
from captions.services.worker import caption_pending_run
from mlcore.images import captioner_target_size
from tests.images import upload

pytestmark = pytest.mark.django_db(transaction=True)


def large_jpeg(colour, size=(4000, 3000)) -> bytes:
    """A 12 MP photo-like JPEG (gradient + shapes), distinct per colour."""
    photo = PILImage.linear_gradient("L").resize(size).convert("RGB")
    draw = ImageDraw.Draw(photo)
    draw.ellipse([size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2], fill=colour)
    draw.rectangle([size[0] // 2, size[1] // 2, size[0] - 10, size[1] - 10], fill=colour[::-1])
    out = io.BytesIO()
    photo.save(out, "JPEG", quality=90)
    return out.getvalue()


def rss_kib(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/self/status")


def reset_peak_rss() -> None:
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def test_the_worker_reads_a_phone_photo_at_the_models_size(user, tiny_model):
    captioner = mlcore.load_captioner(tiny_model)
    image = image_submit(owner=user, files=[upload("big.jpg", large_jpeg((200, 30, 30)))]).accepted[0]

    pixels = inference.load_image_for_model(image, captioner)

    target = captioner_target_size(captioner)
    assert image.width == 4000 and image.height == 3000
    assert target <= min(pixels.size) < 2 * target  # not 4000x3000
    assert pixels.size[0] / pixels.size[1] == pytest.approx(4 / 3, rel=0.05)
    full = inference.load_image_for_model(image)  # without a captioner: full size, as before
    assert full.size == (4000, 3000)


@pytest.mark.slow
def test_worker_memory_stays_flat_for_large_photos(user, tiny_model):
    # warm up: the model is loaded and a batch of the same size run (kernels and buffers for its
    # shapes) before memory is measured
    warm = [upload(f"small{i}.jpg", large_jpeg((70 * i, 100, 220 - 70 * i), size=(64, 48))) for i in range(3)]
    image_submit(owner=user, files=warm)
    assert caption_pending_run().captioned == 3
    files = [upload(f"phone{i}.jpg", large_jpeg((60 * i, 250 - 60 * i, 90))) for i in range(3)]
    image_submit(owner=user, files=files)  # the upload check decodes in full: not measured
    before = rss_kib("VmRSS")
    reset_peak_rss()

    summary = caption_pending_run()

    growth_mib = (rss_kib("VmHWM") - before) / 1024
    assert summary.captioned == 3, list(Image.objects.values_list("error", flat=True))
    # one 4000x3000 RGB image decoded in full is 34 MiB; at the model's size it is a few KiB
    assert growth_mib < 20, f"peak RSS grew by {growth_mib:.1f} MiB while captioning three 12 MP photos"
    for phase in ("claim_ms", "read_ms", "decode_ms", "preprocess_ms", "generate_ms", "record_ms"):
        assert summary.timings_ms.get(phase, -1) >= 0, phase
    assert summary.timings_ms["generate_ms"] > 0 and summary.timings_ms["decode_ms"] > 0


def test_run_summaries_add_their_timings_and_compare_by_counts():
    a = WorkerRunSummary(captioned=1, timings_ms={"decode_ms": 2.0})
    b = WorkerRunSummary(captioned=2, failed=1, timings_ms={"decode_ms": 3.0, "record_ms": 1.0})

    total = a + b

    assert total == WorkerRunSummary(captioned=3, failed=1)
    assert total.timings_ms == {"decode_ms": 5.0, "record_ms": 1.0}
    assert a.timings_ms == {"decode_ms": 2.0}  # operands unchanged

