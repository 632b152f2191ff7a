"""mlcore.ocr with Tesseract's real models: rendered text read back, a time limit that kills a run
that takes too long, a missing program said plainly, and the read text put into alt text."""

import random

import pytest
from PIL import Image, ImageDraw, ImageFont

from mlcore.ocr import (
    OcrFailed,
    OcrUnavailable,
    alt_text_with_ocr,
    character_error_rate,
    ocr_status,
    read_text,
)

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def rendered(text: str, size: int = 36) -> Image.Image:
    font = ImageFont.truetype(FONT, size)
    left, top, right, bottom = font.getbbox(text)
    picture = Image.new("RGB", (right - left + 2 * size, bottom - top + 2 * size), "white")
    ImageDraw.Draw(picture).text((size - left, size - top), text, font=font, fill="black")
    return picture


@pytest.mark.parametrize("text,languages,language", [
    ("Emergency exit only", "eng", "en"),
    ("Bäckerei Müller – frisches Brot und Grüße", "deu", "de"),
])
def test_rendered_text_is_read_back(text, languages, language):
    result = read_text(rendered(text), languages=languages)
    assert character_error_rate(text, result.text) < 0.1, result.text
    assert result.confidence > 0.7 and result.words >= 3 and result.substantial
    assert result.language == language


def test_a_blank_image_has_no_text():
    result = read_text(Image.new("RGB", (200, 100), "white"), languages="eng")
    assert (result.text, result.words, result.confidence, result.substantial) == ("", 0, 0.0, False)


def test_a_run_past_the_time_limit_is_stopped():
    rng = random.Random(1)
    noisy = Image.new("L", (2400, 2400), 255)
    pixels = noisy.load()
    for _ in range(400_000):
        pixels[rng.randrange(2400), rng.randrange(2400)] = 0
    with pytest.raises(OcrFailed, match="stopped after"):
        read_text(noisy, languages="eng+deu", timeout_s=0.05)


def test_a_missing_tesseract_is_said_plainly():
    ok, why = ocr_status("eng", command="/nonexistent/tesseract")
    assert not ok and "not installed" in why
    with pytest.raises(OcrUnavailable):
        read_text(rendered("x"), command="/nonexistent/tesseract")
    ok, why = ocr_status("xxx")
    assert not ok and "language data" in why


def test_the_read_text_goes_into_the_alt_text_quoted_and_trimmed():
    assert alt_text_with_ocr("A door.", "EXIT", purpose="text") == ("“EXIT”", "")
    assert alt_text_with_ocr("A shop front.", "Bäckerei Müller", purpose="informative") == (
        "A shop front, reading “Bäckerei Müller”.", "")
    long_text = " ".join(["word"] * 100)
    alt, rest = alt_text_with_ocr("A poster.", long_text, purpose="text", limit=250)
    assert len(alt) <= 250 and alt.startswith("“word") and alt.endswith("…”")
    assert rest == f"Text in the image: “{long_text}”"
    assert character_error_rate("abc", "abd") == pytest.approx(1 / 3)
