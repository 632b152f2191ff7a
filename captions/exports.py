"""Rendering a batch's alt-text export (rows from captions.selectors.batch_export_rows) as CSV
or JSON. Plain functions of the rows; the API view only picks the format and wraps the answer."""

import csv
import io
import re
from html import escape

# One row per image: {"id": str uuid, "filename": str, "status": str, "caption": str (empty until
# captioned), "confidence": float in [0, 1] or None, "style": str, "language": str (BCP 47),
# "tags": list of str (tags style) or None}. CSV writes tags as one cell, "; "-separated.
# Alt text fit for its purpose: "purpose" (mlcore.alttext.PURPOSES), "decorative" (bool: the
# caption is then "" on purpose, alt=""), "context", "extended_description" (complex images),
# "source" (human-approved | human-edited | file | model | ""), "reviewed" (bool: a person wrote
# or approved it), "warnings" (the alt-text checker's rule names, "; "-separated), "ocr_text"
# (the text Tesseract read in the image).
EXPORT_COLUMNS = ("id", "filename", "status", "caption", "confidence", "style", "language", "tags",
                  "purpose", "decorative", "context", "extended_description", "source", "reviewed", "warnings",
                  "ocr_text")


def _csv_value(value):
    return "; ".join(value) if isinstance(value, list) else value

# Spreadsheets run cells that start like a formula; file names and captions are user text
# (OWASP, "CSV Injection": prefix such cells with a single quote).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def batch_rows_csv(rows: list[dict]) -> str:
    """The rows as CSV text with a header row of EXPORT_COLUMNS; None becomes an empty cell, a list
    (tags) one cell joined with "; ", and a
    cell that a spreadsheet would run as a formula is prefixed with a single quote."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(EXPORT_COLUMNS))
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _cell(_csv_value(row.get(key))) for key in EXPORT_COLUMNS})
    return buffer.getvalue()


def batch_rows_json(rows: list[dict]) -> list[dict]:
    """The rows as JSON-ready dicts with exactly EXPORT_COLUMNS (values as they are: no quoting)."""
    return [{key: row.get(key) for key in EXPORT_COLUMNS} for row in rows]


# Characters of a file name that a URL reads otherwise: controls and space, "%" (an escape), "#" (a
# fragment), "?" (a query), "\\" (a "/" to browsers). Letters of any script stay as they are.
_URL_SPECIAL = re.compile(r"[\x00-\x20\x7f%#?\\]")


def relative_url(path: str) -> str:
    """A file path (``trip/day 1/#1.jpg``) as a relative URL that leads to it from the page:
    the characters a URL reads otherwise percent-encoded, and ``./`` in front of a first part that
    would read as a scheme (``photo:1/a.jpg``)."""
    url = _URL_SPECIAL.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), path)
    return "./" + url if ":" in url.split("/", 1)[0] else url


def rows_html(rows: list[dict]) -> str:
    """A ready-to-paste HTML list: one `<img src="FILENAME" alt="CAPTION">` line per row (src: the
    file name as a relative URL, relative_url), both attribute values HTML-escaped (quotes
    included), so no caption or file name can break out of its attribute. A decorative image gets
    alt="" on purpose (marked <!-- decorative -->). An image without a caption yet is never
    written with alt="" (which says "decorative" to a screen reader): its <img> line is inside an
    HTML comment, so nothing wrong is pasted and the gap shows. A complex image's extended
    description follows in a <figure> with a <details> caption."""
    lines = []
    for row in rows:
        src, alt = escape(relative_url(row.get("filename") or "")), escape(row.get("caption") or "")
        line = f'<img src="{src}" alt="{alt}">'
        if row.get("decorative"):
            line += " <!-- decorative -->"
        elif not row.get("caption"):  # "--" cannot end the comment early: escape() leaves it, so it is spaced out
            line = f"<!-- no caption yet: <img src=\"{src.replace('--', '- -')}\"> -->"
        elif row.get("extended_description"):
            line = (f'<figure>{line}<figcaption><details><summary>Description</summary>'
                    f'{escape(row["extended_description"])}</details></figcaption></figure>')
        lines.append(line)
    return "\n".join(lines) + ("\n" if lines else "")


EXTENSIONS = {"csv": "csv", "json": "json", "html": "html"}


def download_filename(stem: str, fmt: str) -> str:
    """The one name an export downloads as, on the website and through the API:
    ``<stem>-alt-text.<csv|json|html>`` (every export is an attachment: the HTML list, served as
    text/html, is saved as a file, never rendered on this site)."""
    return f"{stem}-alt-text.{EXTENSIONS.get(fmt, 'csv')}"



def coverage_report_csv(coverage: dict, warnings_by_rule: dict[str, int]) -> str:
    """A batch's alt-text report (captions.selectors.alt_coverage and alt_warning_counts) as CSV:
    one row per figure (figure, count, share of the images), then one per checker rule."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["figure", "count", "share"])
    total = coverage.get("total") or 0
    writer.writerow(["images", total, 1.0 if total else 0.0])
    for name in ("with_alt_text", "reviewed", "with_warnings", "decorative"):
        writer.writerow([name, coverage.get(name, 0), coverage.get(f"{name}_share", 0.0)])
    for rule, count in warnings_by_rule.items():
        writer.writerow([f"warning:{rule}", count, round(count / total, 4) if total else 0.0])
    return buffer.getvalue()
