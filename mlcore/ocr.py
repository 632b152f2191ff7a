"""Text in images (OCR) with Tesseract's trained models, through pytesseract (which runs the
``tesseract`` program: a separate process, killed at the time limit, so a pathological image can
neither hang the caller nor grow its memory).

    from mlcore.ocr import read_text, ocr_status
    result = read_text(pil_image, languages="eng+deu", timeout_s=20)
    result.text, result.confidence, result.language, result.ms

Pure Python (no Django, no torch). The image is downscaled to at most ``max_side`` pixels on its
longer side first (bounded time and memory), and converted to greyscale.
"""

from __future__ import annotations

import functools
import re
import time
import unicodedata
from dataclasses import dataclass

from .errors import MLCoreError

__all__ = ["OcrResult", "OcrUnavailable", "OcrFailed", "ocr_status", "read_text", "installed_languages",
           "character_error_rate", "alt_text_with_ocr"]

#: a word Tesseract is at least this sure of (0..100) counts toward the text
MIN_WORD_CONFIDENCE = 60
#: "substantial confident text": at least this many confident words and this mean confidence
SUBSTANTIAL_WORDS = 3
SUBSTANTIAL_CONFIDENCE = 0.75


class OcrUnavailable(MLCoreError):
    """Tesseract (the program or the asked language data) is not installed."""


class OcrFailed(MLCoreError):
    """Tesseract ran past its time limit or failed on this image."""


@dataclass(frozen=True)
class OcrResult:
    text: str  # the confident words, in reading order, lines kept
    confidence: float  # mean word confidence of the kept words, 0..1 (0 without text)
    language: str  # BCP 47 guess of the text's language ("" without text)
    words: int
    ms: float

    @property
    def substantial(self) -> bool:
        return self.words >= SUBSTANTIAL_WORDS and self.confidence >= SUBSTANTIAL_CONFIDENCE


def _use(command: str) -> None:
    import pytesseract

    pytesseract.pytesseract.tesseract_cmd = command or "tesseract"


@functools.lru_cache(maxsize=8)
def _tesseract_version(command: str = "tesseract") -> str:
    import pytesseract

    _use(command)
    try:
        return str(pytesseract.get_tesseract_version())
    except Exception as error:  # noqa: BLE001 - TesseractNotFoundError, OSError: said by ocr_status
        raise OcrUnavailable(f"Tesseract is not installed ({error}); install tesseract-ocr") from None


@functools.lru_cache(maxsize=8)
def installed_languages(command: str = "tesseract") -> frozenset[str]:
    import pytesseract

    _tesseract_version(command)
    _use(command)
    try:
        return frozenset(pytesseract.get_languages(config=""))
    except Exception:  # noqa: BLE001
        return frozenset()


def ocr_status(languages: str = "eng", command: str = "tesseract") -> tuple[bool, str]:
    """(True, "Tesseract 5.x, languages eng+deu") or (False, why not: the program or the data missing)."""
    try:
        version = _tesseract_version(command)
    except OcrUnavailable as error:
        return False, str(error)
    wanted = [code for code in languages.split("+") if code]
    missing = [code for code in wanted if code not in installed_languages(command)]
    usable = [code for code in wanted if code in installed_languages(command)]
    if not usable:
        return False, f"Tesseract {version} has none of the language data {languages} (install tesseract-ocr-<lang>)"
    note = f"; missing language data: {', '.join(missing)}" if missing else ""
    return True, f"Tesseract {version}, languages {'+'.join(usable)}{note}"


def _usable(languages: str, command: str) -> str:
    usable = [code for code in languages.split("+") if code in installed_languages(command)]
    if not usable:
        raise OcrUnavailable(f"none of the OCR language data {languages} is installed")
    return "+".join(usable)


def _guess_language(text: str) -> str:
    """A coarse guess by script and letters (Tesseract does not say which of its models read a word)."""
    if not text:
        return ""
    if any(unicodedata.name(ch, "").startswith(("CJK", "HIRAGANA", "KATAKANA")) for ch in text):
        return "ja"
    lowered = text.lower()
    german = sum(lowered.count(ch) for ch in "äöüß") + len(re.findall(r"\b(der|die|das|und|nicht|mit)\b", lowered))
    return "de" if german >= 2 else "en"


def read_text(image, *, languages: str = "eng", timeout_s: float = 20.0, max_side: int = 2500,
              command: str = "tesseract") -> OcrResult:
    """The confident text in `image` (a PIL image). OcrUnavailable when Tesseract (`command`) or
    every asked language is missing; OcrFailed when it runs past `timeout_s` (its process is
    killed) or fails."""
    import pytesseract

    _tesseract_version(command)
    langs = _usable(languages, command)
    _use(command)
    started = time.perf_counter()
    picture = image.convert("L")
    if max(picture.size) > max_side:
        picture.thumbnail((max_side, max_side))
    try:
        data = pytesseract.image_to_data(picture, lang=langs, timeout=timeout_s, output_type=pytesseract.Output.DICT)
    except RuntimeError as error:  # pytesseract's "Tesseract process timeout"
        raise OcrFailed(f"OCR stopped after {timeout_s:g} s: {error}") from None
    except pytesseract.TesseractError as error:
        raise OcrFailed(f"OCR failed: {error}") from None
    lines: dict[tuple, list[str]] = {}
    confidences = []
    for index, word in enumerate(data.get("text", [])):
        word = (word or "").strip()
        try:
            conf = float(data["conf"][index])
        except (TypeError, ValueError):
            conf = -1.0
        if not word or conf < MIN_WORD_CONFIDENCE:
            continue
        key = (data["block_num"][index], data["par_num"][index], data["line_num"][index])
        lines.setdefault(key, []).append(word)
        confidences.append(conf / 100.0)
    joiner = "" if langs == "jpn" else " "
    text = "\n".join(joiner.join(words) for words in lines.values()).strip()
    return OcrResult(
        text=text,
        confidence=round(sum(confidences) / len(confidences), 4) if confidences else 0.0,
        language=_guess_language(text),
        words=len(confidences),
        ms=round((time.perf_counter() - started) * 1000, 1),
    )


def character_error_rate(reference: str, hypothesis: str) -> float:
    """Levenshtein distance between the two texts (whitespace runs as one space) over the
    reference's length; 0 is perfect."""
    ref, hyp = " ".join(reference.split()), " ".join(hypothesis.split())
    if not ref:
        return 0.0 if not hyp else 1.0
    previous = list(range(len(hyp) + 1))
    for i, a in enumerate(ref, start=1):
        current = [i]
        for j, b in enumerate(hyp, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a != b)))
        previous = current
    return previous[-1] / len(ref)


def alt_text_with_ocr(caption: str, ocr_text: str, *, purpose: str, limit: int = 250) -> tuple[str, str]:
    """(alt text, the rest for the extended description) with the read text in it, quoted: for
    purpose ``text`` the alt text is the text; otherwise the caption followed by what it reads.
    Trimmed at a word to ``limit`` characters; the whole text then goes to the description."""
    from .styles import truncate_at_word

    flat = " ".join(ocr_text.split())
    if not flat:
        return caption, ""
    full = f"“{flat}”" if purpose == "text" else f"{caption.rstrip(' .')}, reading “{flat}”."
    if len(full) <= limit:
        return full, ""
    if purpose == "text":
        short = f"“{truncate_at_word(flat, limit - 3).rstrip(' .,;:')}…”"
    else:
        room = limit - len(caption.rstrip(" .")) - len(", reading “…”.")
        short = (f"{caption.rstrip(' .')}, reading “{truncate_at_word(flat, room).rstrip(' .,;:')}…”."
                 if room > 20 else caption)
    return short, f"Text in the image: “{flat}”"
