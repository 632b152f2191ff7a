"""Caption styles and languages (mlcore.styles) and their GenerationParams fields."""

import pytest

from mlcore import GenerationParams, InvalidParams
from mlcore.styles import (
    InvalidLanguage,
    InvalidStyle,
    UnknownStyle,
    check_language,
    get_style,
    language_name,
    register_style,
    strip_preamble,
    tags_of,
    truncate_at_word,
    unregister_style,
)


@pytest.mark.parametrize("tag,canon", [
    ("en", "en"), ("EN", "en"), ("pt-br", "pt-BR"), ("zh-hans", "zh-Hans"), ("zh-Hant-TW", "zh-Hant-TW"),
    ("es-419", "es-419"), ("sr-Latn-RS", "sr-Latn-RS"), ("de-CH-1996", "de-CH-1996"), ("en_GB", "en-GB"),
    ("x-klingon", "x-klingon"), ("gsw", "gsw"),
])
def test_valid_language_tags_are_canonicalised(tag, canon):
    assert check_language(tag) == canon


@pytest.mark.parametrize("tag", ["", "   ", "e", "english!", "en-", "-en", "en--GB", "123", "en-GB-x", 5, None,
                                 "a" * 40, "en GB", "zh-Hans-CN-"])
def test_invalid_language_tags_are_refused(tag):
    with pytest.raises(InvalidLanguage) as exc:
        check_language(tag)
    assert exc.value.field == "language"


def test_language_names_for_prompts():
    assert language_name("de") == "German"
    assert language_name("pt-BR") == "Brazilian Portuguese"
    assert language_name("zh-Hans") == "Simplified Chinese"
    assert language_name("tlh") == "the language with BCP 47 tag tlh"


@pytest.mark.parametrize("raw,clean", [
    ("The image shows a dog on the grass.", "a dog on the grass."),
    ("This image depicts two cats sleeping", "two cats sleeping"),
    ("In this picture, a man rides a bike", "a man rides a bike"),
    ("Sure! Here is the alt text: A red bus", "A red bus"),
    ("The photo is of a bridge at night", "a bridge at night"),
    ("In the image we can see a beach", "a beach"),
    ("Alt text: A child", "A child"),
    ("A dog runs", "A dog runs"),
    ("Imagery of war is hard", "Imagery of war is hard"),
])
def test_preambles_are_removed(raw, clean):
    assert strip_preamble(raw) == clean


def test_banned_openings_with_articles():
    banned = ("image of", "picture of")
    assert strip_preamble("An image of a bridge", banned) == "a bridge"
    assert strip_preamble("picture of two dogs", banned) == "two dogs"
    assert strip_preamble("Pictures of home", banned) == "Pictures of home"


def test_truncate_at_word_boundary():
    text = "A very long caption about a dog running across a wide green field in the afternoon sun"
    cut = truncate_at_word(text, 30)
    assert len(cut) <= 30 and text.startswith(cut) and text[len(cut)] == " "
    assert truncate_at_word("Supercalifragilistic", 5) == "Super"
    assert truncate_at_word("short", 30) == "short"
    para = "One sentence here. Another sentence that goes on and on and on."
    assert truncate_at_word(para, 40, prefer_sentence=True) == "One sentence here."


def test_alt_style_finish():
    alt = get_style("alt")
    assert alt.finish("The image shows an image of a dog on grass") == "A dog on grass."
    assert alt.finish("A dog runs. It is happy. The sun shines.") == "A dog runs."
    long = "a dog " + "running very fast across the big field " * 10
    out = alt.finish(long)
    assert len(out) <= 125 and out.endswith(".") and " " in out
    assert not out[:-1].endswith((" ", ","))


def test_description_and_tags_styles():
    desc = get_style("description")
    out = desc.finish("This image depicts a busy street. Cars pass by. " * 60)
    assert len(out) <= 1200 and out.endswith(".") and out.startswith("A busy street.")
    tags = get_style("tags")
    assert tags.finish("Keywords: Dog, grass; DOG\n- park, 'sunny'.") == "dog, grass, park, sunny"
    assert tags_of("1. cat\n2. sofa\n3. Cat") == ["cat", "sofa"]
    assert tags_of("") == []


def test_tags_from_a_sentence_keep_the_content_words():
    """A VLM that ignores the comma format and answers with a sentence still gives keywords."""
    sentence = "A brown dog is running across a green field of grass under the blue sky"
    assert tags_of(sentence) == ["brown", "dog", "running", "green", "field", "grass", "blue", "sky"]
    assert get_style("tags").finish("The image shows " + sentence + ".") == (
        "brown, dog, running, green, field, grass, blue, sky"
    )
    # " and " separates keywords of a long piece; a short comma-separated tag keeps its words
    assert tags_of("black and white, a very long line of text that tells about a cat and a sofa and a lamp") == [
        "black and white", "long", "line", "text", "tells", "cat", "sofa", "lamp",
    ]
    assert tags_of("a wooden table and two red chairs standing in a sunny garden") == [
        "wooden table", "two", "red", "chairs", "standing", "sunny", "garden",
    ]
    assert tags_of("dog; cat\na small brown puppy sleeping on the warm kitchen floor near the oven") == [
        "dog", "cat", "small", "brown", "puppy", "sleeping", "warm", "kitchen", "floor", "oven",
    ]
    many = " ".join(f"word{i}" for i in range(100))
    assert len(tags_of(many, max_tags=15)) == 15
    assert tags_of("the of and a, is .") == []  # nothing usable: an empty list, never a made-up word


def test_custom_styles_register_and_validate():
    try:
        s = register_style("museum-label", "Write a museum label for this artwork in {language}.", max_chars=60)
        assert get_style("museum-label") is s and s.token_budget == 15
        assert s.prompt_for("fr") == "Write a museum label for this artwork in French."
        p = GenerationParams(style="museum-label", language="fr")
        assert p.style == "museum-label" and "museum-label" in p.cache_key()
        assert len(s.finish("word " * 50)) <= 60
    finally:
        unregister_style("museum-label")
    with pytest.raises(UnknownStyle):
        get_style("museum-label")
    for bad in [dict(name="Bad Name", prompt="x"), dict(name="ok", prompt=""), dict(name="ok", prompt="{lang}"),
                dict(name="ok", prompt="x", max_chars=-1), dict(name="ok", prompt="x", kind="poem"),
                dict(name="alt", prompt="x")]:
        with pytest.raises(InvalidStyle):
            register_style(**bad)


def test_generation_params_style_and_language():
    p = GenerationParams()
    assert (p.style, p.language) == ("alt", "en")
    p = GenerationParams.from_dict({"style": "tags", "language": "pt-br"})
    assert (p.style, p.language) == ("tags", "pt-BR")
    assert p.cache_key() != GenerationParams(style="tags").cache_key()
    assert GenerationParams.from_dict(p.to_dict()) == p
    with pytest.raises(InvalidParams) as exc:
        GenerationParams(style="haiku")
    assert exc.value.field == "style"
    with pytest.raises(InvalidParams) as exc:
        GenerationParams(language="english please")
    assert exc.value.field == "language"


def test_spec_capabilities_without_loading(tiny_blip_dir, tmp_path, monkeypatch):
    from mlcore.capabilities import check_spec_style, spec_capabilities
    from mlcore.registry import REGISTRY, VLM_REGISTRY
    from mlcore.styles import UnsupportedStyle

    monkeypatch.setenv("MLCORE_HF_CACHE", str(tmp_path))  # an empty cache: nothing can be read
    assert spec_capabilities("blip-base").styles == {"alt"}
    assert spec_capabilities(tiny_blip_dir).languages == {"en"}
    assert spec_capabilities("smolvlm-256m").styles is None and spec_capabilities("smolvlm-256m").known
    assert spec_capabilities("florence-2-base").styles == {"alt", "description"}
    assert spec_capabilities("openai:http://h/v1#m").styles is None
    assert spec_capabilities("some-org/unknown-model").known is False
    assert spec_capabilities("fallback:smolvlm-256m|blip-base").styles is None
    assert spec_capabilities("ensemble:smolvlm-256m,blip-base").styles == {"alt"}
    assert all(spec_capabilities(n).known for n in VLM_REGISTRY) and set(VLM_REGISTRY) <= set(REGISTRY)
    check_spec_style("smolvlm-256m", GenerationParams(style="tags", language="ja"))
    with pytest.raises(UnsupportedStyle) as exc:
        check_spec_style("blip-base", GenerationParams(style="tags"))
    assert exc.value.field == "style"
    with pytest.raises(UnsupportedStyle) as exc:
        check_spec_style("florence-2-base", GenerationParams(language="de"))
    assert exc.value.field == "language"
    # An ensemble writes what every member can; the refusal names the member(s) that cannot.
    with pytest.raises(UnsupportedStyle) as exc:
        check_spec_style("ensemble:smolvlm-256m,blip-base", GenerationParams(style="tags"))
    assert exc.value.field == "style" and "its member blip-base cannot" in exc.value.message
    with pytest.raises(UnsupportedStyle) as exc:
        check_spec_style("ensemble:blip-base,smolvlm-256m,florence-2-base", GenerationParams(language="fr"))
    assert exc.value.field == "language" and "its members blip-base, florence-2-base cannot" in exc.value.message


@pytest.mark.parametrize("tag, hint", [("english", "'en' for English"), ("Deutsch", "'de' for German"),
                                       ("francais", "'fr' for French"), ("klingon", "2 or 3 letters"),
                                       ("engl", "2 or 3 letters"), ("english-GB", "'en' for English")])
def test_a_language_name_is_refused_with_the_code_to_use(tag, hint):
    with pytest.raises(InvalidLanguage) as exc:
        check_language(tag)
    assert hint in exc.value.message


def test_styles_engines_and_capabilities_import_without_torch():
    import subprocess
    import sys

    code = ("import sys, mlcore, mlcore.styles, mlcore.capabilities, mlcore.engines, "
            "mlcore.predictors.openai_engine, mlcore.predictors.fallback; "
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("tag", ["xx", "en-JJ", "de-Abcd", "zz-Latn"])
def test_a_tag_of_the_right_shape_with_unregistered_subtags_is_refused(tag):
    with pytest.raises(InvalidLanguage) as exc:
        check_language(tag)
    assert exc.value.field == "language" and "not a BCP 47 language tag" in exc.value.message


@pytest.mark.parametrize("tag, name", [("es-419", "Spanish (Latin America)"), ("fr-CA", "Canadian French"),
                                       ("gsw", "Swiss German"), ("sr-Latn-RS", "Latin-script Serbian"),
                                       ("nb", "Norwegian Bokmål"), ("sw", "Swahili"), ("x-klingon",
                                       "the language with BCP 47 tag x-klingon")])
def test_language_names_come_from_the_language_registry(tag, name):
    assert language_name(tag) == name


def test_language_tags_and_names_need_no_network():
    """langcodes' names ship in language_data: a process without sockets names and checks tags."""
    import subprocess
    import sys

    code = ("import socket\n"
            "def refuse(*a, **k): raise OSError('no network here')\n"
            "socket.socket = refuse; socket.create_connection = refuse; socket.getaddrinfo = refuse\n"
            "from mlcore.styles import check_language, language_name\n"
            "print(check_language('pt-br'), language_name('pt-BR'), language_name('ja'))\n"
            "try:\n    check_language('english')\nexcept Exception as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.splitlines() == [
        "pt-BR Brazilian Portuguese Japanese",
        "language: 'english' is not a BCP 47 language tag: a language is named by its code of 2 or 3 letters "
        "('en' for English), e.g. en, de, pt-BR",
    ]
