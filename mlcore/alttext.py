"""Alt text fit for its purpose: the purpose and context of a caption request, the prompt words
they add for models that take a prompt, and the alt-text quality checker.

Pure Python (no Django, no torch). The one home of:

- ``PURPOSES`` and ``check_alt_request``: the validation of ``purpose``, ``context`` and
  ``action`` (what a functional image does), called by ``GenerationParams`` and so by every way
  a caption is requested;
- ``prompt_guidance``: what a prompt template's ``{context}`` and ``{purpose}`` become;
- ``check_alt_text``: the named quality rules (``RULES``), each with a severity, a plain-words
  explanation and a guideline link.

Purposes follow the W3C WAI alt decision tree: informative (the default: say what matters),
decorative (no model call; the alt text is empty, ``alt=""``), functional (a link or button: say
what it does), complex (a short alt text plus an extended description), text (an image of text:
the alt text is the text).
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass

from .errors import InvalidParams

__all__ = [
    "PURPOSES", "DEFAULT_PURPOSE", "MAX_CONTEXT_CHARS", "MAX_ACTION_CHARS", "TARGET_CHARS", "IPTC_MAX_CHARS",
    "check_alt_request", "prompt_guidance", "Finding", "Rule", "RULES", "check_alt_text",
]

#: purpose -> plain-words label
PURPOSES: dict[str, str] = {
    "informative": "Informative: says what matters in the image",
    "decorative": "Decorative: adds nothing; empty alt text (alt=\"\")",
    "functional": "Functional: a link or button; says what it does",
    "complex": "Complex (chart, map, document, artwork): short alt text plus an extended description",
    "text": "Image of text: the alt text is the text",
}
DEFAULT_PURPOSE = "informative"
MAX_CONTEXT_CHARS = 2000
MAX_ACTION_CHARS = 300
TARGET_CHARS = 125
IPTC_MAX_CHARS = 250

# Control characters (C0 but tab and line breaks, DEL, C1) and the other invisible formatting ones
# that have no business in text meant for a prompt or a page.
_CONTROL_OK = {"\n", "\r", "\t"}
#: the same rule as a regular expression (for API schemas): no control character but tab and line breaks
PLAIN_TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"


def _control_chars(text: str) -> list[str]:
    return [ch for ch in text if ch not in _CONTROL_OK and unicodedata.category(ch) in ("Cc", "Cs")]


def _clean_text(field: str, value: object, limit: int, errors: dict[str, str]) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        errors[field] = f"must be text, got {type(value).__name__}"
        return ""
    if len(value) > limit * 4:  # far over the limit: not worth normalising
        errors[field] = f"is {len(value)} characters long; at most {limit} are allowed"
        return ""
    bad = _control_chars(value)
    if bad:
        errors[field] = f"contains a control character ({bad[0].encode('unicode_escape').decode()}); write plain text"
        return ""
    # one space between words, paragraphs kept as single newlines
    lines = [" ".join(line.split()) for line in value.splitlines()]
    cleaned = "\n".join(line for line in lines if line).strip()
    if len(cleaned) > limit:
        errors[field] = f"is {len(cleaned)} characters long; at most {limit} are allowed"
        return ""
    return cleaned


def check_alt_request(purpose: object = DEFAULT_PURPOSE, context: object = "", action: object = "") -> tuple[str, str, str]:
    """(purpose, context, action), cleaned: purpose one of PURPOSES ("" -> informative); context
    (where the image appears: page title, paragraph, product, keywords) and action (what a
    functional image's link or button does) plain text of at most MAX_CONTEXT_CHARS /
    MAX_ACTION_CHARS characters once whitespace is collapsed, no control characters.
    Raises InvalidParams naming every field at fault."""
    errors: dict[str, str] = {}
    if purpose in (None, ""):
        purpose = DEFAULT_PURPOSE
    if not isinstance(purpose, str) or purpose not in PURPOSES:
        errors["purpose"] = f"must be one of {', '.join(PURPOSES)}, got {purpose!r}"
    context = _clean_text("context", context, MAX_CONTEXT_CHARS, errors)
    action = _clean_text("action", action, MAX_ACTION_CHARS, errors)
    if purpose != "functional":
        action = ""  # what a link does means nothing for another purpose
    if errors:
        raise InvalidParams.of(errors)
    return purpose, context, action


_PURPOSE_WORDS = {
    "informative": "",
    "decorative": "The image is decorative.",
    "functional": (
        "The image is a link or button: the alt text must say what it does or where it leads, "
        "not what it looks like."
    ),
    "complex": (
        "The image is complex (a chart, map, diagram, document or artwork): give its main point in "
        "the short alt text; the details belong in a separate long description."
    ),
    "text": "The image is mostly text: the alt text must be that text, word for word.",
}


def prompt_guidance(purpose: str = DEFAULT_PURPOSE, context: str = "", action: str = "") -> tuple[str, str]:
    """(what ``{context}`` becomes, what ``{purpose}`` becomes) in a style's prompt template:
    sentences a model can follow, "" for the default (no context, informative)."""
    context_words = f"The image appears in this context: {context}" if context else ""
    if context_words and context_words[-1] not in ".!?":
        context_words += "."
    purpose_words = _PURPOSE_WORDS.get(purpose, "")
    if purpose == "functional" and action:
        purpose_words += f" It does this: {action}" + ("" if action[-1] in ".!?" else ".")
    return context_words, purpose_words


# --- the checker ------------------------------------------------------------------------------

_WAI = "https://www.w3.org/WAI/tutorials/images/"
_DECISION_TREE = "https://www.w3.org/WAI/tutorials/images/decision-tree/"
_IPTC = "https://www.iptc.org/std/photometadata/documentation/userguide/#_accessibility"
_WCAG_111 = "https://www.w3.org/WAI/WCAG22/Understanding/non-text-content.html"


@dataclass(frozen=True)
class Rule:
    name: str
    severity: str  # "error" | "warning" | "info"
    explanation: str
    link: str


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str
    message: str
    link: str

    def to_dict(self) -> dict:
        return {"rule": self.rule, "severity": self.severity, "message": self.message, "link": self.link}


RULES: dict[str, Rule] = {r.name: r for r in (
    Rule("redundant_opener", "warning",
         "Screen readers already say it is an image: do not start with \"image of\", \"picture of\", \"photo of\" or the like.",
         _WAI + "informative/"),
    Rule("over_target", "info",
         f"Longer than the {TARGET_CHARS}-character target: keep alt text short; put details in an extended description.",
         _WAI + "tips/"),
    Rule("over_iptc_max", "error",
         f"Longer than the IPTC maximum of {IPTC_MAX_CHARS} characters: it will be cut off; shorten it and move details to the extended description.",
         _IPTC),
    Rule("file_name", "error",
         "The alt text is a file name or a camera's automatic name: it tells a person nothing about the image.",
         _WAI + "tips/"),
    Rule("repeated_words", "warning",
         "A word is repeated right after itself: a screen reader reads it twice.",
         _WAI + "tips/"),
    Rule("all_caps", "warning",
         "Written in capital letters: some screen readers spell such words letter by letter, and it reads as shouting.",
         _WAI + "tips/"),
    Rule("file_extension", "warning",
         "Ends with a file extension (.jpg, .png, ...): probably a file name, not a description.",
         _WAI + "tips/"),
    Rule("empty_informative", "error",
         "Empty, but the image is informative: only a decorative image may have empty alt text.",
         _DECISION_TREE),
    Rule("missing_ocr_text", "error",
         "The image is text (or holds clearly readable text) but the alt text does not contain it.",
         _WAI + "textual/"),
    Rule("placeholder", "error",
         "A placeholder such as \"alt\", \"image\" or \"untitled\" is not alt text.",
         _WCAG_111),
    Rule("emoji_only", "error",
         "Only emoji or symbols: screen readers read their names, which rarely describe the image.",
         _WCAG_111),
)}

# "image of" in the languages captions are written in (mlcore.styles.LANGUAGE_NAMES' main ones),
# with and without an article; matched at the start, case-insensitively.
_OPENERS = {
    "en": r"(an?\s+|the\s+)?(image|picture|photo|photograph|graphic|illustration|screenshot|pic)\s+(of|showing|shows)\b",
    "de": r"(ein|eine|das|der)?\s*(bild|foto|fotografie|grafik|abbildung|aufnahme)\s+(von|vom|einer?|eines|mit|zeigt)\b",
    "fr": r"(une?\s+|l['’]\s*)?(image|photo|photographie|illustration|graphique)\s+(de|d['’]|du|des|montrant)",
    "es": r"(una?\s+|la\s+)?(imagen|foto|fotograf[ií]a|gr[aá]fico|ilustraci[oó]n)\s+(de|del|que muestra)\b",
    "it": r"(un['’]?\s*|una\s+|l['’]\s*)?(immagine|foto|fotografia|grafica|illustrazione)\s+(di|del|della|che mostra)\b",
    "pt": r"(uma?\s+|a\s+)?(imagem|foto|fotografia|gr[aá]fico|ilustra[cç][aã]o)\s+(de|do|da|mostrando)\b",
    "nl": r"(een\s+|de\s+|het\s+)?(afbeelding|foto|plaatje|beeld|grafiek)\s+(van|met)\b",
    "ja": r"(この)?(画像|写真|イラスト|図)(は|の|：|:)",
    "zh": r"(这是)?(一张|一幅)?(图片|照片|图像|插图)(显示|中|：|:)?",
}
_OPENER_RE = re.compile(r"^\s*(?:" + "|".join(f"(?:{p})" for p in _OPENERS.values()) + ")", re.IGNORECASE)

_PLACEHOLDERS = {
    "alt", "alt text", "image", "img", "picture", "photo", "untitled", "untitled image", "no description",
    "description", "placeholder", "graphic", "spacer", "logo", "icon", "banner", "null", "none", "n/a", "todo",
    "bild", "foto", "ohne titel", "unbenannt", "sans titre", "imagen", "sin título", "immagine", "senza titolo",
    "imagem", "sem título", "afbeelding", "naamloos", "画像", "写真", "無題", "图片", "无标题",
}
_EXTENSIONS = ("jpg", "jpeg", "png", "gif", "webp", "tif", "tiff", "bmp", "heic", "heif", "avif", "svg", "raw",
               "cr2", "nef", "arw", "dng")
_EXTENSION_RE = re.compile(r"\.(" + "|".join(_EXTENSIONS) + r")\s*[.!?]?\s*$", re.IGNORECASE)
# Camera and phone automatic names: IMG_1234, DSC01234, DSCN1234, PXL_20240101_..., P1010001,
# GOPR0001, Screenshot 2024-01-01 at ..., WhatsApp Image ..., a bare number or hash.
_CAMERA_RE = re.compile(
    r"^\s*(img|dsc[nf]?|dcim|pxl|gopr|gp|mvimg|sam|p\d{3}|photo|image|screenshot|screen shot|whatsapp image|"
    r"signal-\d|pict?)[\s_-]*[\d_ -]{3,}.*$|^\s*[\da-f_-]{6,}\s*$",
    re.IGNORECASE,
)
_WORD_RE = re.compile(r"\w+", re.UNICODE)


def _stem(name: str) -> str:
    base = os.path.basename(name or "")
    stem, _ext = os.path.splitext(base)
    return re.sub(r"[\s_\-.]+", " ", stem).strip().lower()


def _is_emoji_or_symbol(ch: str) -> bool:
    return unicodedata.category(ch) in ("So", "Sk", "Sm", "Mn", "Cf") or ch in "\ufe0f\u200d"


def _normal(text: str) -> str:
    return " ".join(_WORD_RE.findall(unicodedata.normalize("NFKC", text).casefold()))


def _finding(rule: str, message: str = "") -> Finding:
    r = RULES[rule]
    return Finding(rule, r.severity, message or r.explanation, r.link)


def check_alt_text(
    text: str,
    *,
    purpose: str = DEFAULT_PURPOSE,
    filename: str = "",
    ocr_text: str = "",
    ocr_confident: bool = False,
) -> list[Finding]:
    """The rules ``text`` breaks (RULES), in RULES' order. ``purpose`` decorative expects empty
    text (and checks nothing else); ``filename`` is the image's file name (its stem as alt text is
    flagged); ``ocr_text`` is text read from the image, checked for when the purpose is ``text``
    or ``ocr_confident`` says the image holds substantial confident text."""
    text = (text or "").strip()
    if purpose == "decorative":
        return []
    found: list[Finding] = []
    if not text:
        if purpose in ("informative", "complex", "text", "functional"):
            found.append(_finding("empty_informative"))
        if (purpose == "text" or ocr_confident) and ocr_text.strip():
            found.append(_finding("missing_ocr_text"))
        return found
    normal = _normal(text)
    letters = [ch for ch in text if ch.isalpha()]
    if _OPENER_RE.match(text):
        found.append(_finding("redundant_opener"))
    if len(text) > IPTC_MAX_CHARS:
        found.append(_finding("over_iptc_max", f"{len(text)} characters; the IPTC maximum is {IPTC_MAX_CHARS}."))
    elif len(text) > TARGET_CHARS:
        found.append(_finding("over_target", f"{len(text)} characters; aim for {TARGET_CHARS} or fewer."))
    stem = _stem(filename)
    bare = text.rstrip(" .!?")
    if (stem and normal == _normal(stem)) or _CAMERA_RE.match(bare) or (
        _EXTENSION_RE.search(text) and " " not in bare.strip()
    ):
        found.append(_finding("file_name"))
    words = normal.split()
    repeated = next((a for a, b in zip(words, words[1:], strict=False) if a == b and not a.isdigit()), None)
    if repeated:
        found.append(_finding("repeated_words", f"\"{repeated}\" is repeated right after itself."))
    cased = [ch for ch in letters if ch.upper() != ch.lower()]  # scripts with case only
    if len(cased) >= 6 and all(ch.isupper() for ch in cased):
        found.append(_finding("all_caps"))
    if _EXTENSION_RE.search(text):
        found.append(_finding("file_extension"))
    if (purpose == "text" or ocr_confident) and ocr_text.strip():
        wanted = _normal(ocr_text)
        if wanted and wanted not in normal:
            found.append(_finding("missing_ocr_text"))
    if normal in _PLACEHOLDERS or unicodedata.normalize("NFKC", bare).casefold() in _PLACEHOLDERS:
        found.append(_finding("placeholder"))
    if not letters and not any(ch.isdigit() for ch in text) and any(_is_emoji_or_symbol(ch) for ch in text):
        found.append(_finding("emoji_only"))
    order = list(RULES)
    return sorted(found, key=lambda f: order.index(f.rule))
