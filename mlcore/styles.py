"""Caption styles (a named prompt plus limits) and caption languages (BCP 47 tags).

Pure Python: importing this module does not import torch or transformers.

    from mlcore.styles import get_style, register_style, check_language
    style = get_style("alt")                       # built-ins: alt (default), description, tags
    style.prompt_for("de")                         # the prompt sent to a vision-language model
    style.finish("The image shows a dog on grass") # -> "A dog on grass."
    register_style("museum", "Describe this artwork for a museum label in {language}.", max_chars=300)

A style's ``kind`` decides the post-processing:

* ``sentence``: one sentence; chat preambles ("The image shows", "In this picture, ...") and the
  banned openings are removed, the text is cut at a word boundary to ``max_chars`` and ends with a
  full stop. (WCAG / WebAIM practice: alt text short, no "image of" / "picture of", since screen
  readers already announce an image; 125 characters is the common limit of screen-reader chunks.)
* ``paragraph``: the same clean-up, several sentences allowed, cut to ``max_chars`` at a sentence
  boundary when there is one, else a word boundary.
* ``tags``: comma / semicolon / newline separated keywords -> a deduplicated lowercase list
  (``tags_of``; a sentence instead of keywords gives its content words); the caption text is the
  list joined with ", ".

Errors: ``UnknownStyle`` (no such style), ``InvalidLanguage`` (not a BCP 47 tag), ``InvalidStyle``
(a bad custom style definition). ``UnsupportedStyle`` is raised by captioners that cannot follow a
prompt (BLIP, GIT, ViT-GPT2, in-house) for any style but ``alt``.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

from .errors import FailureKind, InvalidParams, MLCoreError

__all__ = [
    "CaptionStyle",
    "STYLES",
    "DEFAULT_STYLE",
    "DEFAULT_LANGUAGE",
    "UnknownStyle",
    "UnsupportedStyle",
    "InvalidLanguage",
    "InvalidStyle",
    "get_style",
    "register_style",
    "unregister_style",
    "style_names",
    "check_language",
    "language_name",
    "strip_preamble",
    "truncate_at_word",
    "tags_of",
]

DEFAULT_STYLE = "alt"
DEFAULT_LANGUAGE = "en"


class UnknownStyle(InvalidParams):
    """No style of that name is registered (``field='style'``)."""

    def __init__(self, name: str):
        self.name = name
        super().__init__("style", f"unknown caption style {name!r}; known: {', '.join(style_names())}")


class UnsupportedStyle(InvalidParams):
    """The captioner cannot produce this style or language (e.g. BLIP asked for ``tags``)."""

    kind = FailureKind.UNSUPPORTED_STYLE

    def __init__(self, model_id: str, field_name: str, value: str, supported: set[str] | frozenset[str],
                 reason: str = "it takes no prompt"):
        self.model_id = model_id
        self.value = value
        self.supported = frozenset(supported)
        what = "caption style" if field_name == "style" else "language"
        super().__init__(
            field_name,
            f"{model_id} cannot write the {what} {value!r} ({reason}); it supports: "
            f"{', '.join(sorted(self.supported))}. Use a vision-language model (e.g. smolvlm-256m, "
            "qwen2.5-vl-3b) or an openai: engine for other styles and languages",
        )


class InvalidLanguage(InvalidParams):
    """Not a syntactically valid BCP 47 language tag (``field='language'``)."""

    def __init__(self, value: object, why: str = "not a BCP 47 language tag (e.g. en, de, pt-BR, zh-Hans)"):
        self.value = value
        super().__init__("language", f"{value!r} is {why}")


class InvalidStyle(MLCoreError, ValueError):
    """A custom style definition is unusable (bad name, empty prompt, limits out of range)."""


# -- languages ------------------------------------------------------------------------------
# The BCP 47 grammar, the IANA subtag registry and language names come from langcodes (its names
# from the language_data package, shipped with it: no network).

# Region / script subtags a prompt names as an adjective ("Brazilian Portuguese", "Simplified
# Chinese"): how people ask a writer for a variant. Others are named as langcodes names them.
_REGION_ADJECTIVES = {"BR": "Brazilian", "PT": "European", "US": "American", "GB": "British", "MX": "Mexican",
                      "CA": "Canadian", "AU": "Australian", "CH": "Swiss", "AT": "Austrian"}
_SCRIPT_ADJECTIVES = {"Hans": "Simplified", "Hant": "Traditional", "Latn": "Latin-script", "Cyrl": "Cyrillic"}


def check_language(tag: object) -> str:
    """Validate a BCP 47 tag and return it in canonical case ('pt-br' -> 'pt-BR', 'ZH-hans' -> 'zh-Hans').

    Raises InvalidLanguage for a non-string, an empty string, more than 35 characters (RFC 5646
    section 4.4.1's minimum buffer), or a tag that is not well-formed or uses a subtag the IANA
    registry does not hold (langcodes.tag_is_valid). "_" is taken for "-"."""
    import langcodes

    if not isinstance(tag, str):
        raise InvalidLanguage(tag, f"a {type(tag).__name__}, not a language tag string")
    value = tag.strip().replace("_", "-")
    if not value:
        raise InvalidLanguage(tag, "empty")
    if len(value) > 35:
        raise InvalidLanguage(tag, "longer than 35 characters")
    if not langcodes.tag_is_valid(value):
        primary = value.split("-")[0]
        if primary.isalpha() and len(primary) >= 4:  # a name ("english", "Deutsch"), not a code
            raise InvalidLanguage(tag, "not a BCP 47 language tag: a language is named by its code of 2 or 3 "
                                       f"letters{_code_hint(primary)}, e.g. en, de, pt-BR")
        raise InvalidLanguage(tag)
    return langcodes.Language.get(value, normalize=False).to_tag()


def _code_hint(name: str) -> str:
    """" ('en' for English)" when `name` is a language's name in English or in itself."""
    import langcodes

    try:
        found = langcodes.find(name)
    except LookupError:
        return ""
    return f" ('{found.language}' for {found.language_name('en')})"


def language_name(tag: str) -> str:
    """A readable English name for prompts: 'de' -> 'German', 'pt-BR' -> 'Brazilian Portuguese',
    'zh-Hans' -> 'Simplified Chinese', 'es-419' -> 'Spanish (Latin America)'; a tag langcodes has
    no name for -> 'the language with BCP 47 tag xx'."""
    import langcodes

    tag = check_language(tag)
    parsed = langcodes.Language.get(tag, normalize=False)
    if not parsed.language or not parsed.has_name_data():
        return f"the language with BCP 47 tag {tag}"
    base = parsed.language_name("en")
    adjective = _SCRIPT_ADJECTIVES.get(parsed.script or "") or _REGION_ADJECTIVES.get(parsed.territory or "")
    if adjective:
        return f"{adjective} {base}"
    if parsed.script or parsed.territory:
        return langcodes.Language.make(language=parsed.language, script=parsed.script,
                                       territory=parsed.territory).display_name("en")
    return base


# -- post-processing helpers ----------------------------------------------------------------

# Chat-model openers that carry no information ("The image shows ...", "In this picture, ...",
# "Sure! Here is a description: ..."). Applied repeatedly at the start of the text only.
_PREAMBLE_RE = re.compile(
    r"""^\s*(?:
        (?:sure|certainly|of\s+course|okay|ok)[!,.]?\s*(?:here\s+(?:is|are)\b[^:\n]*[:.]\s*)? |
        here\s+(?:is|are)\s+(?:an?\s+|the\s+)?(?:\w+\s+){0,3}?(?:description|caption|alt\s+text|tags|keywords)\b[^:\n]*[:.]\s* |
        (?:alt(?:ernative)?\s+text|caption|description|tags|keywords)\s*:\s* |
        (?:in\s+)?(?:this|the)\s+(?:image|picture|photo(?:graph)?|scene|illustration)\s*,\s* |
        (?:this|the)\s+(?:image|picture|photo(?:graph)?|scene|illustration)\s+
            (?:shows|depicts|features|displays|portrays|presents|captures|contains|is\s+of|is\s+showing)\s*:?\s* |
        (?:this|the)\s+(?:image|picture|photo(?:graph)?)\s+(?:is\s+)?(?:a\s+)?(?:close-up\s+)?of\s+ |
        (?:in\s+)?(?:this|the)\s+(?:image|picture|photo(?:graph)?)\s+(?:we\s+(?:can\s+)?see|there\s+(?:is|are))\s* |
        (?:we\s+can\s+see|I\s+can\s+see|I\s+see)\s+
    )""",
    re.IGNORECASE | re.VERBOSE,
)


def strip_preamble(text: str, banned_openings: tuple[str, ...] = ()) -> str:
    """Remove chat preambles and banned openings from the start of ``text`` (repeatedly).

    'The image shows a dog.' -> 'a dog.'; 'In this picture, two cats sleep' -> 'two cats sleep';
    with banned ('image of',): 'An image of a bridge' -> 'a bridge'."""
    banned = tuple(b.strip().lower() for b in banned_openings if b.strip())
    prev = None
    while prev != text:
        prev = text
        text = _PREAMBLE_RE.sub("", text, count=1)
        low = text.lstrip().lower()
        for b in banned:
            for art in ("", "a ", "an ", "the "):
                opener = art + b
                if low.startswith(opener) and (len(low) == len(opener) or not low[len(opener)].isalnum()):
                    text = text.lstrip()[len(opener):].lstrip(" ,:;-")
                    break
            else:
                continue
            break
    return text.strip()


def truncate_at_word(text: str, max_chars: int, prefer_sentence: bool = False) -> str:
    """Cut ``text`` to at most ``max_chars`` characters at a word boundary (never mid-word; a single
    word longer than the limit is cut hard). With ``prefer_sentence``, cut after the last full
    sentence that fits when there is one. Trailing commas/colons are dropped."""
    text = text.strip()
    if max_chars <= 0 or len(text) <= max_chars:
        return text
    head = text[: max_chars + 1]
    if prefer_sentence:
        ends = [m.end() for m in re.finditer(r"[.!?](?=\s|$)", head[:max_chars])]
        if ends and ends[-1] >= max_chars // 3:
            return head[: ends[-1]].strip()
    cut = head.rfind(" ")
    cut_text = head[:cut] if cut > 0 else text[:max_chars]
    return cut_text.rstrip(" ,;:-\u2013\u2014")


# Words that carry no keyword on their own (English: articles, pronouns, prepositions, auxiliaries,
# and the "this image shows" vocabulary of chat models). Used only when a model answers the tags
# style with a sentence instead of keywords.
_STOP_WORDS = frozenset(
    """a an the this that these those there here it its it's they them their he she his her we you i
    of in on at to from by for with without into onto over under above below near behind beside
    between across along around through up down out off about against among inside outside upon
    and or but nor so as than then also too very just some any each every all both few more most
    other such no not only own same is are was were be been being am has have had having do does
    did can could will would shall should may might must which who whom whose what where when why
    how while if because image picture photo photograph scene illustration shows showing show
    depicts depicting displays displaying features featuring visible see seen appears appear
    keywords tags""".split()  # noqa: SIM905 - a word list reads better as words
)
_MAX_TAG_WORDS = 4  # a longer piece is a sentence, not a keyword


def _words(text: str) -> list[str]:
    return re.findall(r"[^\W_](?:[\w'-]*[^\W_])?", text)


def tags_of(text: str, max_tags: int = 30) -> list[str]:
    """'Dog, grass; Dog\\n- park.' -> ['dog', 'grass', 'park']: split on commas, semicolons, newlines
    and bullets, strip quotes/hash signs/numbering and leading articles, lowercase, deduplicate in
    order, at most ``max_tags``.

    A model that ignores the format and answers with a sentence still gives keywords: a piece of
    more than four words (or 60 characters) is split on " and "; a part still that long gives its
    content words (stop-words dropped, order kept). Nothing usable (only stop-words) -> []."""
    out: list[str] = []

    def add(tag: str) -> None:
        if tag and tag not in out and len(out) < max_tags:
            out.append(tag)

    def short(tag: str) -> bool:
        return len(tag) <= 60 and len(tag.split()) <= _MAX_TAG_WORDS

    def keyword(tag: str) -> str:
        """A short piece without its leading articles; '' when it is only stop-words."""
        words = tag.split()
        while words and words[0] in ("a", "an", "the"):
            words.pop(0)
        return " ".join(words) if any(w.strip("'-") not in _STOP_WORDS for w in words) else ""

    for part in re.split(r"[,;\n|]|\s[-\u2022*]\s", text):
        tag = re.sub(r"^\s*(?:[-\u2022*#]|\d+[.)])\s*", "", part)
        tag = tag.strip().strip("\"'`#.!").strip().lower()
        tag = re.sub(r"\s+", " ", tag)
        if short(tag):
            add(keyword(tag))
            continue
        for piece in re.split(r"\s+and\s+", tag):
            piece = piece.strip().strip("\"'`#.!:").strip()
            if short(piece):
                add(keyword(piece))
            else:
                for word in _words(piece):
                    if word not in _STOP_WORDS:
                        add(word)
        if len(out) >= max_tags:
            break
    return out


# -- styles ---------------------------------------------------------------------------------

_KINDS = ("sentence", "paragraph", "tags")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_COMMON_BANNED = ("image of", "picture of", "photo of", "photograph of")


@dataclass(frozen=True)
class CaptionStyle:
    """A named prompt plus limits.

    name: [a-z][a-z0-9_-]{0,39}. prompt: the instruction for a vision-language model; ``{language}``
    is replaced by the language's English name (``language_name``). max_chars: hard limit of the
    caption text in characters (0 = none). kind: sentence | paragraph | tags. banned_openings:
    openings removed from the start (case-insensitive, with an optional article).
    token_budget: the least max_new_tokens a model gets for this style (a paragraph needs more than
    GenerationParams.max_length's default); the effective budget is max(params.max_length, token_budget).
    florence_task: the Florence-2 task token used for this style (Florence-2 takes no free prompt).
    """

    name: str
    prompt: str
    max_chars: int = 0
    kind: str = "sentence"
    banned_openings: tuple[str, ...] = _COMMON_BANNED
    token_budget: int = 0
    florence_task: str = "<CAPTION>"
    builtin: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise InvalidStyle(f"style name must match [a-z][a-z0-9_-]{{0,39}}, got {self.name!r}")
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise InvalidStyle(f"style {self.name!r}: the prompt must be a non-empty string")
        if len(self.prompt) > 2000:
            raise InvalidStyle(f"style {self.name!r}: the prompt is longer than 2000 characters")
        try:
            self.prompt.format(language="English", context="", purpose="")
        except (KeyError, IndexError, ValueError) as exc:
            raise InvalidStyle(
                f"style {self.name!r}: the prompt may use only the placeholders {{language}}, {{context}} "
                f"and {{purpose}} "
                f"(write {{{{ and }}}} for braces): {exc}"
            ) from None
        if self.kind not in _KINDS:
            raise InvalidStyle(f"style {self.name!r}: kind must be one of {', '.join(_KINDS)}, got {self.kind!r}")
        if isinstance(self.max_chars, bool) or not isinstance(self.max_chars, int) or not 0 <= self.max_chars <= 5000:
            raise InvalidStyle(f"style {self.name!r}: max_chars must be an integer 0..5000, got {self.max_chars!r}")
        if isinstance(self.token_budget, bool) or not isinstance(self.token_budget, int) or not (
            0 <= self.token_budget <= 1024
        ):
            raise InvalidStyle(f"style {self.name!r}: token_budget must be 0..1024, got {self.token_budget!r}")
        object.__setattr__(self, "banned_openings", tuple(self.banned_openings))

    def prompt_for(self, language: str = DEFAULT_LANGUAGE, *, purpose: str = "informative", context: str = "",
                   action: str = "") -> str:
        """The exact prompt for ``language`` (a BCP 47 tag; InvalidLanguage when malformed) and the
        request's purpose and context (mlcore.alttext): the template's ``{context}`` and
        ``{purpose}`` become sentences a model can follow ("" for no context / informative); a
        template without those placeholders gets the sentences appended, so every style carries
        them and a request without them sends the template's words unchanged."""
        from .alttext import prompt_guidance

        context_words, purpose_words = prompt_guidance(purpose, context, action)
        text = self.prompt.format(language=language_name(language), context=context_words, purpose=purpose_words)
        extra = [w for w, slot in ((purpose_words, "{purpose}"), (context_words, "{context}"))
                 if w and slot not in self.prompt]
        if not extra and "{context}" not in self.prompt and "{purpose}" not in self.prompt:
            return text
        return " ".join(" ".join([text, *extra]).split())

    def prompt_for_params(self, params) -> str:
        """prompt_for with a GenerationParams' language, purpose, context and action."""
        return self.prompt_for(params.language, purpose=params.purpose, context=params.context, action=params.action)

    def max_new_tokens(self, params_max_length: int) -> int:
        return max(int(params_max_length), self.token_budget)

    def finish(self, text: str) -> str:
        """Style post-processing of an already cleaned caption (see the module docstring)."""
        if self.kind == "tags":
            tags = tags_of(strip_preamble(text, ()))
            joined = ", ".join(tags)
            if self.max_chars and len(joined) > self.max_chars:
                kept: list[str] = []
                for t in tags:
                    if len(", ".join(kept + [t])) > self.max_chars:
                        break
                    kept.append(t)
                joined = ", ".join(kept)
            return joined
        text = strip_preamble(text, self.banned_openings)
        text = re.sub(r"\s+", " ", text).strip()
        if self.kind == "sentence":
            m = re.search(r"[.!?](?=\s+[A-Z])", text)
            if m:  # one sentence: keep the first
                text = text[: m.end()]
        if text:
            text = text[0].upper() + text[1:]
        limit = self.max_chars
        if limit and len(text) > limit:
            text = truncate_at_word(text, limit - 1, prefer_sentence=self.kind == "paragraph")
        if text and text[-1] not in ".!?":
            text = text.rstrip(" ,;:-") + "."
        return text

    def to_dict(self) -> dict:
        return {"name": self.name, "prompt": self.prompt, "max_chars": self.max_chars, "kind": self.kind,
                "banned_openings": list(self.banned_openings), "token_budget": self.token_budget,
                "builtin": self.builtin}


STYLES: dict[str, CaptionStyle] = {}
_LOCK = threading.Lock()


def _builtin(**kw) -> CaptionStyle:
    s = CaptionStyle(builtin=True, **kw)
    STYLES[s.name] = s
    return s


_builtin(
    name="alt",
    prompt=(
        "Write alt text for this image in {language}: one short sentence, at most 125 characters, "
        "saying what matters to a person who cannot see it. Do not start with 'image of' or "
        "'picture of'. Answer with the alt text only."
    ),
    max_chars=125,
    kind="sentence",
    token_budget=0,
    florence_task="<CAPTION>",
)
_builtin(
    name="description",
    prompt=(
        "Describe this image in detail in {language}, in one paragraph: the main subjects, what they "
        "are doing, the setting, colours, any visible text, and the mood. Answer with the description only."
    ),
    max_chars=1200,
    kind="paragraph",
    token_budget=200,
    florence_task="<MORE_DETAILED_CAPTION>",
)
_builtin(
    name="tags",
    prompt=(
        "List 5 to 15 keywords in {language} for this image (objects, people, place, activity, colours), "
        "comma-separated, lowercase. Answer with the keywords only."
    ),
    max_chars=400,
    kind="tags",
    banned_openings=(),
    token_budget=60,
    florence_task="<CAPTION>",
)
BUILTIN_STYLES = frozenset(STYLES)


def register_style(
    name: str,
    prompt: str,
    max_chars: int = 0,
    kind: str = "sentence",
    *,
    banned_openings: tuple[str, ...] | None = None,
    token_budget: int | None = None,
    replace: bool = True,
) -> CaptionStyle:
    """Add (or replace) a custom style at runtime; the host passes what staff defined in its admin.

    Built-in styles cannot be replaced (InvalidStyle). ``token_budget`` defaults to ~1 token per 4
    characters of ``max_chars`` (at most 400), or 0 without a limit. Thread-safe; process-wide."""
    if name in BUILTIN_STYLES:
        raise InvalidStyle(f"{name!r} is a built-in style and cannot be redefined")
    if token_budget is None:
        token_budget = min(400, (max_chars + 3) // 4) if max_chars else 0
    style = CaptionStyle(
        name=name, prompt=prompt, max_chars=max_chars, kind=kind,
        banned_openings=_COMMON_BANNED if banned_openings is None else tuple(banned_openings),
        token_budget=token_budget,
        florence_task="<MORE_DETAILED_CAPTION>" if kind == "paragraph" else "<CAPTION>",
    )
    with _LOCK:
        if not replace and name in STYLES:
            raise InvalidStyle(f"style {name!r} already exists")
        STYLES[name] = style
    return style


def unregister_style(name: str) -> None:
    """Remove a custom style (a no-op when absent). Built-ins stay."""
    if name in BUILTIN_STYLES:
        raise InvalidStyle(f"{name!r} is a built-in style and cannot be removed")
    with _LOCK:
        STYLES.pop(name, None)


def style_names() -> list[str]:
    return sorted(STYLES)


def get_style(name: str | CaptionStyle | None) -> CaptionStyle:
    """The style called ``name`` (None -> 'alt'); a CaptionStyle is returned as it is. UnknownStyle otherwise."""
    if isinstance(name, CaptionStyle):
        return name
    if name is None or name == "":
        name = DEFAULT_STYLE
    style = STYLES.get(name) if isinstance(name, str) else None
    if style is None:
        raise UnknownStyle(str(name))
    return style
