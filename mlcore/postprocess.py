"""Caption clean-up: a small ordered pipeline of named rules, each a plain str -> str function.

    >>> postprocess("arafed there is a a dog dog on the grass")
    'A dog on the grass.'

Every rule is total: any string in (including "" and random-weight gibberish) gives a string out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

__all__ = [
    "Rule",
    "RULES",
    "DEFAULT_RULES",
    "postprocess",
    "strip_artifacts",
    "strip_filler_openers",
    "collapse_repeats",
    "fix_spacing",
    "fix_articles",
    "capitalise",
    "end_with_full_stop",
    "repeated_ngram_ratio",
    "GrammarCorrector",
]

Rule = Callable[[str], str]

# BLIP's well-known artefacts ("arafed", "araffe", "arafly", "arrafed", ...): words built on "ar(r)af".
_ARTIFACT_RE = re.compile(r"\bar+af+\w*\b", re.IGNORECASE)
_FILLER_RE = re.compile(
    r"^\s*(?:(?:there|here)\s+(?:is|are)\s+|this\s+is\s+|it\s+is\s+|"
    r"(?:an?\s+)?(?:image|picture|photo(?:graph)?)\s+of\s+(?=an?\b|the\b|\w+s\b|two|three|several|some|many))",
    re.IGNORECASE,
)


def strip_artifacts(text: str) -> str:
    """Remove BLIP's nonsense words ("arafed", "araffe", ...)."""
    return _ARTIFACT_RE.sub(" ", text)


def strip_filler_openers(text: str) -> str:
    """'there is a dog ...' -> 'a dog ...'; 'there are two cats' -> 'two cats'."""
    prev = None
    while prev != text:
        prev = text
        text = _FILLER_RE.sub("", text, count=1)
    return text


def _words(text: str) -> list[str]:
    return text.split()


def collapse_repeats(text: str, max_n: int = 4) -> str:
    """Collapse immediately repeated words and n-grams (n <= max_n): 'a dog a dog' -> 'a dog'."""
    words = _words(text)
    changed = True
    while changed:
        changed = False
        for n in range(1, max_n + 1):
            i = 0
            while i + 2 * n <= len(words):
                if [w.lower() for w in words[i : i + n]] == [w.lower() for w in words[i + n : i + 2 * n]]:
                    # drop the second copy; look again from the kept copy
                    words = words[: i + n] + words[i + 2 * n :]
                    changed = True
                    continue
                i += 1
    return " ".join(words)


_PUNCT_SPACE_RE = re.compile(r"\s+([.,;:!?%)])")
_OPEN_SPACE_RE = re.compile(r"([(])\s+")
_APOS_RE = re.compile(r"\s*'\s*(s|t|re|ve|ll|d|m)\b", re.IGNORECASE)
_HYPHEN_RE = re.compile(r"(\w)\s+-\s+(\w)")
_MULTI_PUNCT_RE = re.compile(r"([.,;:!?])(?:\s*[.,;:!?])+")
_LEADING_PUNCT_RE = re.compile(r"^[\s.,;:!?'\"\-#]+")


def fix_spacing(text: str) -> str:
    """Normalise whitespace and the spacing WordPiece decoding leaves around punctuation."""
    text = text.replace("[UNK]", " ").replace("<unk>", " ")
    text = " ".join(text.split())
    text = _APOS_RE.sub(lambda m: "'" + m.group(1), text)
    text = _HYPHEN_RE.sub(r"\1-\2", text)
    text = _PUNCT_SPACE_RE.sub(r"\1", text)
    text = _OPEN_SPACE_RE.sub(r"\1", text)
    text = _MULTI_PUNCT_RE.sub(r"\1", text)
    text = _LEADING_PUNCT_RE.sub("", text)
    return text.strip()


_AN_EXCEPTIONS = ("hour", "honest", "honor", "honour", "heir", "herb")
_A_EXCEPTIONS = ("one", "once", "uni", "use", "usu", "user", "euro", "eu", "ewe", "ufo", "u.", "u-")
_ARTICLE_RE = re.compile(r"\b(a|an|A|An|AN)\s+([A-Za-z][\w'-]*)")


def _wants_an(word: str) -> bool:
    w = word.lower()
    if w.startswith(_AN_EXCEPTIONS):
        return True
    if w.startswith(_A_EXCEPTIONS):
        return False
    return w[0] in "aeiou"


def fix_articles(text: str) -> str:
    """Drop doubled articles ('a a', 'a the') and choose 'a'/'an' by the next word's sound."""
    text = re.sub(r"\b(an?|the)\s+(?:an?|the)\b(?=\s)", r"\1", text, flags=re.IGNORECASE)

    def repl(m: re.Match) -> str:
        art, word = m.group(1), m.group(2)
        want = "an" if _wants_an(word) else "a"
        if art[0].isupper():
            want = want.capitalize()
        return f"{want} {word}"

    return _ARTICLE_RE.sub(repl, text)


def capitalise(text: str) -> str:
    """Upper-case the first letter (leaves the rest alone)."""
    for i, ch in enumerate(text):
        if ch.isalpha():
            return text[:i] + ch.upper() + text[i + 1 :]
    return text


def end_with_full_stop(text: str) -> str:
    """End with exactly one full stop ('?' and '!' are kept); empty stays empty."""
    text = text.rstrip()
    if not any(ch.isalnum() for ch in text):
        return ""
    if text.endswith(("?", "!")):
        return text
    return re.sub(r"[\s.,;:\-]+$", "", text) + "."


RULES: dict[str, Rule] = {
    "strip_artifacts": strip_artifacts,
    "strip_filler_openers": strip_filler_openers,
    "collapse_repeats": collapse_repeats,
    "fix_spacing": fix_spacing,
    "fix_articles": fix_articles,
    "capitalise": capitalise,
    "end_with_full_stop": end_with_full_stop,
}

DEFAULT_RULES: tuple[str, ...] = (
    "fix_spacing",
    "strip_artifacts",
    "fix_spacing",
    "strip_filler_openers",
    "collapse_repeats",
    "fix_articles",
    "fix_spacing",
    "capitalise",
    "end_with_full_stop",
)


def postprocess(
    text: str,
    rules: Sequence[str | Rule] = DEFAULT_RULES,
    grammar: GrammarCorrector | None = None,
) -> str:
    """Run ``rules`` in order (names from RULES or callables); optional grammar correction last."""
    if text is None:
        return ""
    out = str(text)
    for rule in rules:
        fn = RULES[rule] if isinstance(rule, str) else rule
        out = fn(out)
    if grammar is not None and out:
        out = end_with_full_stop(capitalise(fix_spacing(grammar.correct([out])[0])))
    return out


def repeated_ngram_ratio(text: str, n: int = 2) -> float:
    """Share of n-grams (n words) that are repeats of an earlier n-gram in the same text: 0 = none."""
    words = [w.lower().strip(".,;:!?") for w in text.split()]
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)


class GrammarCorrector:
    """Optional grammar correction with a transformers text2text (seq2seq) model. Off by default.

    ``GrammarCorrector("path/or/hub-id", prefix="grammar: ")``; loaded lazily on first use.
    """

    def __init__(self, model_id: str, prefix: str = "", device: str = "cpu", max_new_tokens: int = 64):
        self.model_id = model_id
        self.prefix = prefix
        self.device = device
        self.max_new_tokens = max_new_tokens
        self._model = None
        self._tokenizer = None

    def _load(self) -> None:
        if self._model is not None:
            return
        from .errors import ModelLoadError
        from .hfutils import hub_kwargs

        try:
            from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

            kw = hub_kwargs()
            self._tokenizer = AutoTokenizer.from_pretrained(self.model_id, **kw)
            self._model = AutoModelForSeq2SeqLM.from_pretrained(self.model_id, **kw).to(self.device).eval()
        except Exception as exc:  # noqa: BLE001 - reported with the fix
            raise ModelLoadError(f"could not load grammar model {self.model_id!r}: {exc}", self.model_id) from exc

    def correct(self, texts: Iterable[str]) -> list[str]:
        import torch

        texts = list(texts)
        if not texts:
            return []
        self._load()
        enc = self._tokenizer([self.prefix + t for t in texts], return_tensors="pt", padding=True).to(self.device)
        with torch.inference_mode():
            out = self._model.generate(**enc, max_new_tokens=self.max_new_tokens, num_beams=1, do_sample=False)
        fixed = self._tokenizer.batch_decode(out, skip_special_tokens=True)
        # Never let the corrector blank a caption out.
        return [f.strip() or t for f, t in zip(fixed, texts, strict=False)]
