"""Full-text search over an image's file name and the text of its captions (the model's, the
reused and the human ones: an owner's correction is a human caption), one query language for
both databases.

- SQLite: an FTS5 table `captions_image_fts` (rowid = Image.id; columns `filename`, `captions`),
  kept in sync by triggers (migration captions.0006_image_search). On SQLite a later migration
  that alters captions_image or captions_caption (a table remake) wraps its operations in
  sqlite_triggers_suspend() / sqlite_triggers_restore() from that migration (see 0007).
- PostgreSQL: `Image.search_document`, a tsvector ('simple' configuration) with a GIN index, kept
  in sync by triggers of the same migration; queried with django.contrib.postgres.search.

A user's query never reaches either engine as syntax: it is cut into words (letters and digits,
any script), at most MAX_TERMS of them, each matched as a word prefix, all required (AND). So
`"`, `*`, `NEAR(`, `:`, `&`, `!` and the like are separators, not operators, and no query can
raise a syntax error (no 500)."""

import re
import unicodedata

MAX_TERMS = 12
MAX_TERM_LENGTH = 64
MAX_QUERY_LENGTH = 200

_WORD = re.compile(r"[^\W_]+", re.UNICODE)  # letters and digits; "_" separates, as both tokenizers do


def search_terms(query: str) -> list[str]:
    """The words of a query, lower-cased and without accents, in order, without repeats: at most MAX_TERMS words of
    at most MAX_TERM_LENGTH characters. [] when the query has no word at all."""
    terms: list[str] = []
    # Accents go (NFKD, then the combining marks dropped), as they go from the indexed text.
    folded = "".join(
        ch for ch in unicodedata.normalize("NFKD", (query or "")[:MAX_QUERY_LENGTH].lower())
        if not unicodedata.combining(ch)
    )
    for word in _WORD.findall(folded):
        word = word[:MAX_TERM_LENGTH]
        if word not in terms:
            terms.append(word)
        if len(terms) == MAX_TERMS:
            break
    return terms


def fts5_match(terms: list[str]) -> str:
    """An FTS5 MATCH expression: every term a quoted string with a prefix star ("dog"* "run"*),
    implicitly ANDed. Quotes inside a term are doubled (the terms have none, but the rule keeps
    this safe for any string)."""
    return " ".join('"' + term.replace('"', '""') + '"*' for term in terms)


def tsquery_raw(terms: list[str]) -> str:
    """A to_tsquery expression: 'term':* joined with &. Terms are letters and digits only (see
    search_terms); quotes are doubled and each is quoted as a lexeme anyway."""
    return " & ".join("'" + term.replace("'", "''").replace("\\", "") + "':*" for term in terms)


def highlight_spans(text: str, terms: list[str]) -> list[tuple[str, bool]]:
    """`text` cut into (piece, matched) parts: a word is matched when, folded as the index folds
    it (lower case, no accents), it starts with one of the query's terms (search_terms), which is
    why the search found it. The pieces join back to `text` exactly."""
    if not terms:
        return [(text, False)] if text else []
    parts: list[tuple[str, bool]] = []
    at = 0
    for word in _WORD.finditer(text):
        folded = "".join(ch for ch in unicodedata.normalize("NFKD", word.group().lower()) if not unicodedata.combining(ch))
        if any(folded.startswith(term) for term in terms):
            if word.start() > at:
                parts.append((text[at:word.start()], False))
            parts.append((word.group(), True))
            at = word.end()
    if at < len(text):
        parts.append((text[at:], False))
    return parts
