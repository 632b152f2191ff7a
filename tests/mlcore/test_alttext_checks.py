"""The alt-text checker's rules (mlcore.alttext.check_alt_text), each in several languages, and the
one validation of a request's purpose, context and action."""

import pytest

from mlcore import GenerationParams
from mlcore.alttext import IPTC_MAX_CHARS, RULES, TARGET_CHARS, check_alt_request, check_alt_text
from mlcore.errors import InvalidParams


def rules(text, **kw) -> list[str]:
    return [f.rule for f in check_alt_text(text, **kw)]


GOOD = [
    "A golden retriever runs along a sandy beach at sunset.",
    "Ein Golden Retriever läuft bei Sonnenuntergang am Sandstrand entlang.",
    "Un golden retriever court sur une plage de sable au coucher du soleil.",
    "Un golden retriever corre por una playa de arena al atardecer.",
    "夕暮れの砂浜を走るゴールデンレトリバー。",
    "日落时在沙滩上奔跑的金毛猎犬。",
]


@pytest.mark.parametrize("text", GOOD)
def test_good_alt_text_passes_every_rule(text):
    assert rules(text, filename="IMG_2041.JPG") == []


def test_every_rule_has_severity_explanation_and_link():
    assert set(RULES) == {
        "redundant_opener", "over_target", "over_iptc_max", "file_name", "repeated_words", "all_caps",
        "file_extension", "empty_informative", "missing_ocr_text", "placeholder", "emoji_only",
    }
    for rule in RULES.values():
        assert rule.severity in ("error", "warning", "info")
        assert len(rule.explanation) > 20 and rule.link.startswith("https://")
    finding = check_alt_text("Image of a dog.")[0]
    assert finding.to_dict()["link"] == RULES["redundant_opener"].link


@pytest.mark.parametrize("text", [
    "Image of a dog on a beach.", "A picture of a dog.", "photo of two cats", "Graphic of sales by month.",
    "Bild von einem Hund am Strand.", "Foto eines Hundes.", "Image d'un chien sur la plage.",
    "Photo de deux chats.", "Imagen de un perro en la playa.", "Foto de dos gatos.",
    "Immagine di un cane sulla spiaggia.", "Imagem de um cão na praia.", "Afbeelding van een hond.",
    "この画像は海辺の犬です。", "写真：浜辺の犬", "图片显示海滩上的狗。",
])
def test_redundant_opener_in_every_language(text):
    assert "redundant_opener" in rules(text)


@pytest.mark.parametrize("text", ["Imagine a dog.", "Photographers on a beach.", "Bildhauer bei der Arbeit.",
                                  "写真家が海辺にいる。"])
def test_words_that_only_start_like_an_opener_pass(text):
    assert "redundant_opener" not in rules(text)


def test_length_target_and_iptc_maximum():
    at_target = "A dog " + "x" * (TARGET_CHARS - 7) + "."
    assert len(at_target) == TARGET_CHARS and "over_target" not in rules(at_target)
    over_target = "A " + "very " * 24 + "long."  # 127 characters
    assert "over_target" in rules(over_target) and "over_iptc_max" not in rules(over_target)
    long_de = "Ein Hund " + "läuft weiter " * 25
    assert len(long_de) > IPTC_MAX_CHARS
    found = rules(long_de)
    assert "over_iptc_max" in found and "over_target" not in found
    long_ja = "海辺を走る犬" * 45  # 270 characters
    assert "over_iptc_max" in rules(long_ja)


@pytest.mark.parametrize("text,filename", [
    ("IMG_2041", "IMG_2041.JPG"), ("DSC01234.jpg", "x.png"), ("PXL_20240101_101010123", "a.jpg"),
    ("holiday beach 2024", "holiday_beach-2024.jpeg"), ("Urlaub Strand", "urlaub-strand.jpg"),
    ("Screenshot 2024-03-01 at 10.15.22", "s.png"), ("3f2a9c7d1e", "3f2a9c7d1e.webp"),
])
def test_file_name_or_camera_name_as_alt(text, filename):
    assert "file_name" in rules(text, filename=filename)


def test_repeated_words_in_several_languages():
    assert "repeated_words" in rules("A dog dog runs on the beach.")
    assert "repeated_words" in rules("Ein Hund läuft läuft am Strand.")
    assert "repeated_words" in rules("Un chien court sur la la plage.")
    assert "repeated_words" not in rules("Room 101 101 is closed.")  # numbers may repeat
    assert "repeated_words" not in rules("A dog runs, a dog sleeps.")


def test_all_caps_only_where_the_script_has_case():
    assert "all_caps" in rules("A DOG RUNS ON THE BEACH.")
    assert "all_caps" in rules("EIN HUND LÄUFT AM STRAND.")
    assert "all_caps" not in rules("NASA logo on a white wall.")
    assert "all_caps" not in rules("海辺を走る犬。")


@pytest.mark.parametrize("text", ["Beach at sunset.jpg", "strand.PNG", "diagram.svg.", "雪の山.jpeg"])
def test_ends_with_a_file_extension(text):
    assert "file_extension" in rules(text)


def test_empty_alt_only_for_decorative_images():
    assert rules("", purpose="informative") == ["empty_informative"]
    assert rules("   ", purpose="functional") == ["empty_informative"]
    assert rules("", purpose="decorative") == []
    assert rules("A dog.", purpose="decorative") == []  # decorative: nothing else is checked


def test_missing_ocr_text_for_images_of_text():
    sign = "Bäckerei Müller – frisches Brot"
    assert "missing_ocr_text" in rules("A shop sign above a door.", purpose="text", ocr_text=sign)
    assert "missing_ocr_text" not in rules(f"Shop sign: “{sign}”.", purpose="text", ocr_text=sign)
    assert "missing_ocr_text" in rules("Un panneau.", ocr_text="SORTIE DE SECOURS", ocr_confident=True)
    assert "missing_ocr_text" not in rules("Un panneau.", ocr_text="SORTIE DE SECOURS", ocr_confident=False)
    assert "missing_ocr_text" in rules("", purpose="text", ocr_text="出口")


@pytest.mark.parametrize("text", ["alt", "Image", "untitled", "Untitled image.", "Bild", "Ohne Titel",
                                  "sans titre", "imagen", "無題", "图片", "n/a"])
def test_placeholders(text):
    assert "placeholder" in rules(text)


@pytest.mark.parametrize("text", ["🐶🏖️", "😀", "❤️ ❤️", "★★★"])
def test_emoji_only(text):
    assert "emoji_only" in rules(text)


def test_emoji_with_words_passes():
    assert "emoji_only" not in rules("A dog on a beach 🐶")


# --- the request's purpose, context and action ---------------------------------------------------


def test_request_fields_are_cleaned():
    assert check_alt_request("", "  Product   page:\n\n Alpine 40 L  ", "") == ("informative", "Product page:\nAlpine 40 L", "")
    assert check_alt_request("functional", "", "Open the cart") == ("functional", "", "Open the cart")
    assert check_alt_request("informative", "", "Open the cart") == ("informative", "", "")  # only for links
    assert check_alt_request("text", "Line one\r\nLine two", "")[1] == "Line one\nLine two"  # a form's line breaks
    params = GenerationParams(purpose="complex", context="Annual report, page 4")
    assert params.to_dict()["purpose"] == "complex" and params.context == "Annual report, page 4"


@pytest.mark.parametrize("purpose,context,action,field", [
    ("ornamental", "", "", "purpose"),
    (3, "", "", "purpose"),
    ("informative", "x" * 1_000_000, "", "context"),
    ("informative", "x" * 2001, "", "context"),
    ("informative", "Shop\x00page", "", "context"),
    ("informative", "Shop\x1bpage", "", "context"),
    ("informative", "Shop\x85page", "", "context"),
    ("informative", ["a list"], "", "context"),
    ("functional", "", "a" * 301, "action"),
])
def test_bad_request_fields_are_refused_by_name(purpose, context, action, field):
    with pytest.raises(InvalidParams) as error:
        GenerationParams(purpose=purpose, context=context, action=action)
    assert field in error.value.errors
