"""The alt-text exports: ONE table of formats (EXPORT_FORMATS: name, extension, media type,
renderer) that the website's views, the API (its choices, OpenAPI enum and response types) and the
templates read. A new format is one ExportFormat entry and one renderer function.

A renderer takes the images (a queryset, already limited to what the caller may see) and the
ExportOptions and yields the file's bytes in chunks, so a large export streams."""

import io
import json
import posixpath
import re
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from html import escape

from django.conf import settings
from django.db.models import QuerySet

from captions import embedding, selectors
from captions.models import Image
from core import spreadsheet
from core.spreadsheet import csv_text

# One row per image: {"id": str uuid, "filename": str, "status": str, "caption": str (empty until
# captioned), "confidence": float in [0, 1] rounded to 3 decimals, or None, "style": str, "language": str (BCP 47),
# "tags": list of str (tags style) or None}. CSV writes tags as one cell, "; "-separated.
# Alt text fit for its purpose: "purpose" (mlcore.alttext.PURPOSES), "decorative" (bool: the
# caption is then "" on purpose, alt=""), "context", "extended_description" (complex images),
# "source" (human-approved | human-edited | file | model | ""), "reviewed" (bool: a person wrote
# or approved it), "warnings" (the alt-text checker's rule names, "; "-separated), "ocr_text"
# (the text Tesseract read in the image).
EXPORT_COLUMNS = ("id", "filename", "status", "caption", "confidence", "style", "language", "tags",
                  "purpose", "decorative", "context", "extended_description", "source", "reviewed", "warnings",
                  "ocr_text")


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class ExportOptions:
    """bom: CSV starts with a UTF-8 byte-order mark (for Excel); reviewed_only: the zip leaves out
    images without a caption or whose caption still needs review; dc_description / legacy_fields:
    what the zip writes besides Alt Text (Accessibility), see embedding.EmbedOptions."""

    bom: bool = False
    reviewed_only: bool = False
    dc_description: bool = True
    legacy_fields: bool = False

    @classmethod
    def from_query(cls, data: Mapping[str, str]) -> "ExportOptions":
        """The options a download's query names (bom, reviewed_only, dc_description,
        legacy_fields: 1/true/yes/on or 0/false/no/off), the others from the site's settings.
        ValueError naming the parameter for any other value."""
        values = {
            "bom": False,
            "reviewed_only": False,
            "dc_description": settings.ALT_TEXT_EMBED_DC_DESCRIPTION,
            "legacy_fields": settings.ALT_TEXT_EMBED_LEGACY_FIELDS,
        }
        for name in values:
            raw = data.get(name)
            if raw is None or raw == "":
                continue
            word = str(raw).strip().lower()
            if word in _TRUE:
                values[name] = True
            elif word in _FALSE:
                values[name] = False
            else:
                raise ValueError(f"{name} must be 1 or 0 (true or false), not {str(raw)[:40]!r}.")
        return cls(**values)

    def embed_options(self) -> embedding.EmbedOptions:
        return embedding.EmbedOptions(dc_description=self.dc_description, legacy=self.legacy_fields)


def batch_rows_csv(rows: list[dict], *, bom: bool = False) -> str:
    """The rows as CSV text with a header row of EXPORT_COLUMNS (cells through
    core.spreadsheet.safe_cell: no formula runs in a spreadsheet)."""
    return csv_text(EXPORT_COLUMNS, rows, bom=bom)


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
    alt="" on purpose (marked <!-- decorative -->). An image without a caption yet is never written
    with alt="" (which says "decorative" to a screen reader): its <img> line is inside an HTML
    comment, so nothing wrong is pasted and the gap shows. A complex image's extended description
    follows in a <figure> with a <details> caption."""
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


def _render_csv(images: QuerySet[Image], options: ExportOptions) -> Iterator[bytes]:
    yield batch_rows_csv(selectors.images_export_rows(images), bom=options.bom).encode("utf-8")


def _render_json(images: QuerySet[Image], options: ExportOptions) -> Iterator[bytes]:
    rows = batch_rows_json(selectors.images_export_rows(images))
    yield json.dumps(rows, ensure_ascii=False).encode("utf-8")


def _render_html(images: QuerySet[Image], options: ExportOptions) -> Iterator[bytes]:
    yield rows_html(selectors.images_export_rows(images)).encode("utf-8")


class _Chunks(io.RawIOBase):
    """A write-only, unseekable file whose written bytes are taken out in chunks: zipfile writes
    into it (with data descriptors, as it does for any unseekable file) and the response streams
    what it wrote, so the archive is never held whole nor written to disk."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def member_name(filename: str, taken: set[str]) -> str:
    """The uploaded name as a zip member (its folders kept, no absolute path or "..", which an
    unzip would write outside its folder), made unique with " (2)", " (3)", ... before the
    extension. Adds the name to taken."""
    parts = [part for part in filename.replace("\\", "/").split("/") if part not in ("", ".", "..")]
    name = "/".join(parts) or "image"
    stem, extension = posixpath.splitext(name)
    candidate, number = name, 1
    while candidate.lower() in taken or (candidate + ".xmp").lower() in taken:
        number += 1
        candidate = f"{stem} ({number}){extension}"
    taken.add(candidate.lower())
    return candidate


def embedded_file(item: selectors.EmbedItem, options: ExportOptions) -> tuple[bytes, bytes | None]:
    """One image's download with its alt text: (the file's bytes, the XMP sidecar or None).
    In-file formats get the metadata written into a copy (the stored original is not changed);
    GIF and BMP keep their bytes and get a sidecar. Without a caption the bytes are the original's.
    Raises embedding.MetadataToolMissing, OSError (the stored file is missing)."""
    try:
        with item.image.file.open("rb") as handle:
            data = handle.read()
    except OSError:
        raise
    except Exception as error:  # a storage backend's own errors (a bucket that does not answer)
        raise OSError(f"the stored file cannot be read ({type(error).__name__})") from error
    if not item.alt_text:
        return data, None
    meta = embedding.AltTextMetadata(alt_text=item.alt_text, primary=item.primary, extended=item.extended)
    if item.image.format in embedding.IN_FILE_FORMATS:
        try:
            return embedding.embed(data, item.image.format, meta, options.embed_options()), None
        except embedding.MetadataWriteFailed:
            pass  # an unusual file exiv2 will not rewrite: its bytes as they are, and a sidecar
    return data, embedding.sidecar_xmp(meta, options.embed_options())


def _render_zip(images: QuerySet[Image], options: ExportOptions) -> Iterator[bytes]:
    """Every image's file with its alt text embedded (or an XMP sidecar), as a zip streamed one
    member at a time: memory holds one image and its copy, never the archive. Images left out
    (no caption with reviewed_only, a missing stored file) are listed in ``export-notes.txt``."""
    stream = _Chunks()
    taken: set[str] = set()
    notes: list[str] = []
    with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_STORED) as archive:
        for item in selectors.images_embed_items(images):
            filename = item.image.original_filename
            if options.reviewed_only and (not item.alt_text or item.needs_review):
                notes.append(f"{filename}: left out (no reviewed caption yet)")
                continue
            try:
                data, sidecar = embedded_file(item, options)
            except (OSError, ValueError):
                notes.append(f"{filename}: left out (the stored file is missing)")
                continue
            name = member_name(filename, taken)
            date_time = item.image.created_at.timetuple()[:6]
            archive.writestr(zipfile.ZipInfo(name, date_time), data)
            if sidecar is not None:
                taken.add((name + ".xmp").lower())
                archive.writestr(zipfile.ZipInfo(name + ".xmp", date_time), sidecar)
            yield stream.take()
        if notes:
            archive.writestr("export-notes.txt", "\n".join(notes) + "\n")
    yield stream.take()


def file_and_sidecar_zip(name: str, data: bytes, sidecar: bytes) -> Iterator[bytes]:
    """A zip of one file and its XMP sidecar (``name`` and ``name.xmp``), streamed."""
    stream = _Chunks()
    with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(name, data)
        archive.writestr(name + ".xmp", sidecar)
    yield stream.take()


def _render_report(images: QuerySet[Image], options: ExportOptions) -> Iterator[bytes]:
    report = coverage_report_csv(selectors.alt_coverage(images), selectors.alt_warning_counts(images))
    yield report.encode("utf-8")


@dataclass(frozen=True)
class ExportFormat:
    """One export format: name (the ?format= value), label (the link text), extension (of the
    downloaded file), media_type (its Content-Type), description (for the API docs), render (the
    renderer), needs_metadata_tool (answers 503 when embedding.tool_available() is False) and
    streaming (sent as it is rendered, member by member; the others are one small body)."""

    name: str
    label: str
    extension: str
    media_type: str
    description: str
    render: Callable[[QuerySet[Image], ExportOptions], Iterator[bytes]]
    needs_metadata_tool: bool = False
    streaming: bool = False
    name_suffix: str = ""


EXPORT_FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat("csv", "CSV", "csv", "text/csv; charset=utf-8",
                     "CSV (the default): a header row, one line per image; bom=1 starts it with a UTF-8 "
                     "byte-order mark for Excel.", _render_csv),
        ExportFormat("json", "JSON", "json", "application/json",
                     "JSON: a list with one object per image.", _render_json),
        ExportFormat("html", "HTML (img tags to paste)", "html", "text/html; charset=utf-8",
                     'HTML: one `<img src="FILE" alt="CAPTION">` line per image, both values HTML-escaped, '
                     "ready to paste.", _render_html),
        ExportFormat("report", "Alt-text report (CSV)", "csv", "text/csv; charset=utf-8",
                     "report: the alt-text coverage figures and warnings per rule as CSV (figure, count, share).",
                     _render_report, name_suffix="-report"),
        ExportFormat("zip", "Images with alt text embedded (zip)", "zip", "application/zip",
                     "zip: every image file with its alt text embedded as IPTC Alt Text (Accessibility) XMP "
                     "(JPEG, PNG, WebP, TIFF) or beside it as an XMP sidecar `name.ext.xmp` (GIF, BMP).",
                     _render_zip, needs_metadata_tool=True, streaming=True),
    )
}
DEFAULT_EXPORT_FORMAT = "csv"


def download_filename(stem: str, fmt: str) -> str:
    """The one name an export downloads as, on the website and through the API:
    ``<stem>-alt-text.<extension>``."""
    export_format = EXPORT_FORMATS[fmt]
    return f"{stem}-alt-text{export_format.name_suffix}.{export_format.extension}"



def coverage_report_csv(coverage: dict, warnings_by_rule: dict[str, int]) -> str:
    """A batch's alt-text report (captions.selectors.alt_coverage and alt_warning_counts) as CSV:
    one row per figure (figure, count, share of the images), then one per checker rule."""
    buffer = io.StringIO()
    writer = spreadsheet.Writer(buffer)
    writer.writerow(["figure", "count", "share"])
    total = coverage.get("total") or 0
    writer.writerow(["images", total, 1.0 if total else 0.0])
    for name in ("with_alt_text", "reviewed", "with_warnings", "decorative"):
        writer.writerow([name, coverage.get(name, 0), coverage.get(f"{name}_share", 0.0)])
    for rule, count in warnings_by_rule.items():
        writer.writerow([f"warning:{rule}", count, round(count / total, 4) if total else 0.0])
    return buffer.getvalue()
