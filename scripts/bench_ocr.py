"""Character error rate and time per image of the site's OCR (mlcore.ocr.read_text: Tesseract with
its real trained models) on images of text this script renders: several fonts, sizes, small
rotations, noise and blur, English and German (umlauts, ß); Japanese where a Japanese font and the
jpn data are installed. Prints one line per condition and the overall figures (JSON with --json).

    .venv/bin/python scripts/bench_ocr.py            # ~1-3 s per image on a shared CPU
    .venv/bin/python scripts/bench_ocr.py --quick    # one sentence per condition
"""

import argparse
import glob
import json
import os
import random
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from PIL import Image, ImageDraw, ImageFilter, ImageFont  # noqa: E402

from mlcore.ocr import character_error_rate, installed_languages, ocr_status, read_text  # noqa: E402

SENTENCES = {
    "en": ["Emergency exit only", "Fresh bread baked daily", "Open Monday to Friday 9am to 5pm",
           "Platform 4 for trains to Oxford", "Total due: 42.50 EUR"],
    "de": ["Bäckerei Müller frisches Brot", "Ausgang nur im Notfall", "Öffnungszeiten: Montag bis Freitag",
           "Straße gesperrt wegen Bauarbeiten", "Grüße aus Köln"],
    "ja": ["非常口", "本日のおすすめ", "営業時間 午前九時から"],
}
FONTS = {
    "DejaVuSans": "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "DejaVuSerif": "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
    "LiberationSans": "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "DejaVuSansMono": "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
}
CONDITIONS = [  # name, font size (px), rotation (degrees), noise (0..1), blur radius
    ("clean-32px", 32, 0, 0.0, 0),
    ("small-16px", 16, 0, 0.0, 0),
    ("large-64px", 64, 0, 0.0, 0),
    ("rotated-3deg", 32, 3, 0.0, 0),
    ("rotated-8deg", 32, 8, 0.0, 0),
    ("noise-10pct", 32, 0, 0.10, 0),
    ("blur-1px", 32, 0, 0.0, 1),
]


def _japanese_font() -> str | None:
    for pattern in ("/usr/share/fonts/**/*CJK*.tt[cf]", "/usr/share/fonts/**/*Gothic*.tt[cf]",
                    "/usr/share/fonts/**/*ipa*.ttf", "/usr/share/fonts/**/*Takao*.ttf"):
        found = glob.glob(pattern, recursive=True)
        if found:
            return found[0]
    return None


def render(text: str, font_path: str, size: int, rotation: float, noise: float, blur: int, seed: int) -> Image.Image:
    font = ImageFont.truetype(font_path, size)
    left, top, right, bottom = font.getbbox(text)
    picture = Image.new("L", (right - left + size * 2, bottom - top + size * 2), 255)
    ImageDraw.Draw(picture).text((size - left, size - top), text, font=font, fill=0)
    if rotation:
        picture = picture.rotate(rotation, expand=True, fillcolor=255, resample=Image.BICUBIC)
    if blur:
        picture = picture.filter(ImageFilter.GaussianBlur(blur))
    if noise:
        rng = random.Random(seed)
        pixels = picture.load()
        width, height = picture.size
        for _ in range(int(width * height * noise)):
            pixels[rng.randrange(width), rng.randrange(height)] = rng.choice((0, 255))
    return picture.convert("RGB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one sentence per language and condition")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    ok, status = ocr_status("eng+deu+jpn")
    if not ok:
        print(status, file=sys.stderr)
        return 1
    languages = {"en": "eng", "de": "deu"}
    fonts = {name: path for name, path in FONTS.items() if os.path.exists(path)}
    jp_font = _japanese_font()
    if jp_font and "jpn" in installed_languages():
        languages["ja"] = "jpn"
    rows = []
    for lang, tess in languages.items():
        sentences = SENTENCES[lang][: 1 if args.quick else None]
        for condition, size, rotation, noise, blur in CONDITIONS:
            for font_name, font_path in ({"jp": jp_font} if lang == "ja" else fonts).items():
                for index, sentence in enumerate(sentences):
                    picture = render(sentence, font_path, size, rotation, noise, blur, seed=index)
                    result = read_text(picture, languages=tess, timeout_s=30)
                    rows.append({"language": lang, "condition": condition, "font": font_name,
                                 "cer": character_error_rate(sentence, result.text), "ms": result.ms})
    summary = {}
    for key in sorted({(r["language"], r["condition"]) for r in rows}):
        group = [r for r in rows if (r["language"], r["condition"]) == key]
        summary[f"{key[0]}/{key[1]}"] = {
            "images": len(group), "mean_cer": round(statistics.mean(r["cer"] for r in group), 4),
            "median_ms": round(statistics.median(r["ms"] for r in group), 1)}
    overall = {"images": len(rows), "mean_cer": round(statistics.mean(r["cer"] for r in rows), 4),
               "median_ms": round(statistics.median(r["ms"] for r in rows), 1), "tesseract": status,
               "japanese": "measured" if "ja" in languages else "not measured: no Japanese font installed"}
    if args.json:
        print(json.dumps({"conditions": summary, "overall": overall}, indent=2))
    else:
        print(f"{'language/condition':28} {'images':>6} {'CER':>7} {'median ms':>10}")
        for name, figures in summary.items():
            print(f"{name:28} {figures['images']:>6} {figures['mean_cer']:>7.3f} {figures['median_ms']:>10.1f}")
        print(f"{'overall':28} {overall['images']:>6} {overall['mean_cer']:>7.3f} {overall['median_ms']:>10.1f}")
        print(overall["tesseract"], "·", "Japanese", overall["japanese"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
