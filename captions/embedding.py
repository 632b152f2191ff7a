"""Alt text written into image files: IPTC Photo Metadata's Alt Text (Accessibility) and Extended
Description (Accessibility) as XMP, plus the fields older readers know (dc:description, IPTC-IIM
Caption-Abstract, EXIF ImageDescription).

The writing is exiv2's (through pyexiv2, whose wheel carries the library): only the metadata
segments change, so the pixels of an embedded copy are the original's, and every other field
(EXIF, ICC profile, other XMP) is kept. Formats exiv2 cannot write metadata into (GIF, BMP) get an
XMP sidecar instead, ``name.ext.xmp`` beside the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# The formats exiv2 writes XMP into (Pillow's names, as Image.format stores them).
IN_FILE_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "TIFF"})
# The IPTC advice for Alt Text (Accessibility): at most 250 characters. Longer text is written
# whole (it is the person's text); the advice is the reviewer's to follow.
ALT_TEXT_ADVISED_CHARS = 250
# IPTC-IIM Caption-Abstract holds at most 2,000 bytes.
IIM_CAPTION_MAX_BYTES = 2000
# IPTC-IIM's coded character set for UTF-8 (ESC % G), written so readers decode the caption as UTF-8.
IIM_UTF8 = "\x1b%G"

TOOL_NAME = "exiv2 (the pyexiv2 Python package)"

_EMPTY_XMP_PACKET = (
    b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/>'
    b'</x:xmpmeta><?xpacket end="w"?>'
)


class MetadataToolMissing(RuntimeError):
    """The metadata library is not installed: downloads with embedded alt text cannot be made
    (everything else works). The message names what to install."""

    def __init__(self) -> None:
        super().__init__(
            f"Embedding alt text in image files needs {TOOL_NAME}, which is not installed on this "
            "server: pip install -r requirements.txt."
        )


class MetadataWriteFailed(ValueError):
    """exiv2 refused to write into this file (a damaged or unusual file); the message says why."""


@dataclass(frozen=True)
class AltTextMetadata:
    """What goes into one file. alt_text: BCP 47 language -> text (an empty text is a decorative
    image's empty alt); primary: the language x-default repeats; extended: language -> extended
    description (Extended Description (Accessibility)), empty when the image has none."""

    alt_text: dict[str, str]
    primary: str
    extended: dict[str, str] = field(default_factory=dict)

    @property
    def primary_text(self) -> str:
        return self.alt_text.get(self.primary, next(iter(self.alt_text.values()), ""))


@dataclass(frozen=True)
class EmbedOptions:
    """dc_description: also write dc:description (what Lightroom, Immich and most DAMs show);
    legacy: also write IPTC-IIM Caption-Abstract and EXIF ImageDescription (JPEG, TIFF, WebP)."""

    dc_description: bool = True
    legacy: bool = False


def _pyexiv2():
    try:
        import pyexiv2
    except ImportError:  # the library or its shared object
        raise MetadataToolMissing() from None
    return pyexiv2


def tool_available() -> bool:
    try:
        _pyexiv2()
    except MetadataToolMissing:
        return False
    return True


def _lang_alt(texts: dict[str, str], primary_text: str) -> dict[str, str]:
    values = {'lang="x-default"': primary_text}
    for language, text in texts.items():
        values[f'lang="{language}"'] = text
    return values


def _xmp_fields(meta: AltTextMetadata, options: EmbedOptions) -> dict:
    fields = {"Xmp.iptc.AltTextAccessibility": _lang_alt(meta.alt_text, meta.primary_text)}
    if meta.extended:
        primary_extended = meta.extended.get(meta.primary, next(iter(meta.extended.values())))
        fields["Xmp.iptc.ExtDescrAccessibility"] = _lang_alt(meta.extended, primary_extended)
    if options.dc_description and meta.primary_text:
        fields["Xmp.dc.description"] = _lang_alt(meta.alt_text, meta.primary_text)
    return fields


def _iim_caption(text: str) -> str:
    data = text.encode("utf-8")[:IIM_CAPTION_MAX_BYTES]
    return data.decode("utf-8", errors="ignore")  # never half a character


def embed(data: bytes, image_format: str, meta: AltTextMetadata, options: EmbedOptions) -> bytes:
    """The file's bytes with the alt text written into its metadata (image_format one of
    IN_FILE_FORMATS). The pixel data and the other metadata are left as they are."""
    pyexiv2 = _pyexiv2()
    if image_format not in IN_FILE_FORMATS:
        raise ValueError(f"{image_format} files carry no XMP; write a sidecar (sidecar_xmp).")
    try:
        with pyexiv2.ImageData(data) as image:
            image.modify_xmp(_xmp_fields(meta, options))
            if options.legacy and meta.primary_text and image_format != "PNG":
                image.modify_exif({"Exif.Image.ImageDescription": meta.primary_text})
                if image_format in {"JPEG", "TIFF"}:
                    image.modify_iptc({
                        "Iptc.Envelope.CharacterSet": IIM_UTF8,
                        "Iptc.Application2.Caption": _iim_caption(meta.primary_text),
                    })
            return image.get_bytes()
    except RuntimeError as error:  # exiv2's errors (a damaged file, an unwritable segment)
        raise MetadataWriteFailed(str(error)) from None


def sidecar_xmp(meta: AltTextMetadata, options: EmbedOptions) -> bytes:
    """An XMP sidecar file (UTF-8 XMP packet) with the same fields embed writes, for formats
    that carry no XMP (GIF, BMP): zipped as ``name.ext.xmp`` beside the file."""
    pyexiv2 = _pyexiv2()
    with pyexiv2.ImageData(_EMPTY_XMP_PACKET) as packet:
        packet.modify_xmp(_xmp_fields(meta, options))
        return packet.get_bytes()


# --- Reading: alt text and descriptions already in an uploaded file -------------------------------

# An XMP packet larger than this is not parsed (a real one with alt text is a few KiB; a 10 MB
# packet is a mistake or an attack).
XMP_READ_MAX_BYTES = 512 * 1024
# Longer found text is cut there (a caption is not a document).
READ_TEXT_MAX_CHARS = 2000

_NS = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "Iptc4xmpCore": "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/",
    "xml": "http://www.w3.org/XML/1998/namespace",
}

# What cameras, scanners and editors write into a description field by default: not a caption.
_BOILERPLATE = re.compile(
    r"^(?:"
    r"olympus digital camera|sony dsc|digital camera|minolta digital camera|samsung (?:digital )?camera|"
    r"kodak (?:digital )?(?:still )?camera|konica minolta digital camera|camera|photo|image|picture|"
    r"default|untitled|no description|description|created with gimp|lead technologies.*|"
    r"dcim.*|(?:img|dsc|dscn|dscf|p|pict|imag|pxl|mvimg|gopr|_mg|sam)[-_]?\d+(?:\.\w{2,4})?|"
    r"[\W_]*"
    r")$",
    re.IGNORECASE | re.DOTALL,
)


@dataclass
class FoundText:
    """What an uploaded file says about itself. alt_text: language -> text (IPTC Alt Text
    (Accessibility); "x-default" when the file names no language), extended: the same for
    Extended Description, description: the best other description (dc:description, IPTC-IIM
    Caption-Abstract, EXIF ImageDescription, XPComment, in that order) with where it came from,
    notes: metadata that was there but could not be read (ignored)."""

    alt_text: dict[str, str] = field(default_factory=dict)
    extended: dict[str, str] = field(default_factory=dict)
    description: str = ""
    description_field: str = ""
    notes: list[str] = field(default_factory=list)


def is_boilerplate(text: str) -> bool:
    """True for text a device writes by default ("OLYMPUS DIGITAL CAMERA", "SONY DSC",
    "DCIM/100MEDIA", "IMG_1234.JPG", empty or only spaces and punctuation)."""
    return bool(_BOILERPLATE.match(text.strip()))


def _clean(text) -> str:
    if not isinstance(text, str):
        return ""
    text = " ".join(text.replace("\x00", " ").split())[:READ_TEXT_MAX_CHARS]
    return "" if is_boilerplate(text) else text


def _read_lang_alt(root, path: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for node in root.iterfind(f".//{path}/rdf:Alt/rdf:li", _NS):
        language = node.get(f"{{{_NS['xml']}}}lang") or "x-default"
        text = _clean(node.text or "")
        if text and len(language) <= 35:
            found.setdefault(language, text)
    return found


def _read_xmp(raw, found: FoundText) -> str:
    """Fills found.alt_text and found.extended from the packet; returns dc:description's text."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, fromstring

    if isinstance(raw, str):
        raw = raw.encode("utf-8", errors="replace")
    if not isinstance(raw, bytes) or not raw.strip():
        return ""
    if len(raw) > XMP_READ_MAX_BYTES:
        found.notes.append(f"The file's XMP metadata ({len(raw) / 2**20:.1f} MiB) is too large to read; it was ignored.")
        return ""
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:  # XMP allows no DTD: refused before any parsing
        found.notes.append("The file's XMP metadata declares XML entities (refused); it was ignored.")
        return ""
    start, end = raw.find(b"<x:xmpmeta"), raw.rfind(b"</x:xmpmeta>")
    if start < 0 or end < 0:
        start, end = raw.find(b"<rdf:RDF"), raw.rfind(b"</rdf:RDF>")
        end = end + len(b"</rdf:RDF>") if end >= 0 else -1
    else:
        end += len(b"</x:xmpmeta>")
    if start < 0 or end <= start:
        found.notes.append("The file's XMP metadata is incomplete (cut off); it was ignored.")
        return ""
    try:
        root = fromstring(raw[start:end], forbid_dtd=True)
    except DefusedXmlException:
        found.notes.append("The file's XMP metadata declares XML entities (refused); it was ignored.")
        return ""
    except (ParseError, ValueError):
        found.notes.append("The file's XMP metadata is not well-formed XML; it was ignored.")
        return ""
    found.alt_text.update(_read_lang_alt(root, "Iptc4xmpCore:AltTextAccessibility"))
    found.extended.update(_read_lang_alt(root, "Iptc4xmpCore:ExtDescrAccessibility"))
    described = _read_lang_alt(root, "dc:description")
    return described.get("x-default") or next(iter(described.values()), "")


def _decode_exif_text(value, found: FoundText, name: str) -> str:
    """An EXIF ASCII field as text: its bytes read as UTF-8 (what exiv2, ExifTool and phones write;
    Pillow hands them over decoded as Latin-1). Bytes that are not UTF-8 are ignored with a note."""
    if isinstance(value, str):
        try:
            value = value.encode("latin-1")
        except UnicodeEncodeError:
            return _clean(value)
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            found.notes.append(f"The file's EXIF {name} is not valid UTF-8; it was ignored.")
            return ""
    return _clean(value) if isinstance(value, str) else ""


def _xp_comment(value, found: FoundText) -> str:
    """EXIF XPComment (Windows): UTF-16LE bytes, as bytes or a tuple of byte values."""
    try:
        data = bytes(value)
        return _clean(data.decode("utf-16-le").rstrip("\x00"))
    except (TypeError, ValueError):
        found.notes.append("The file's EXIF XPComment cannot be read; it was ignored.")
        return ""


def _read_iim_caption(image, found: FoundText) -> str:
    """IPTC-IIM Caption-Abstract (2:120), decoded by the record's coded character set (1:90):
    UTF-8 when it says so (ESC % G), else Latin-1 (what older software writes)."""
    from PIL import IptcImagePlugin

    try:
        info = IptcImagePlugin.getiptcinfo(image) or {}
    except Exception:  # Pillow's IPTC reader raises many kinds on a damaged record
        found.notes.append("The file's IPTC-IIM record is damaged; it was ignored.")
        return ""
    value = info.get((2, 120))
    if isinstance(value, list):
        value = value[0] if value else b""
    if not isinstance(value, bytes):
        return ""
    charset = info.get((1, 90))
    if isinstance(charset, bytes) and charset.strip() == IIM_UTF8.encode():
        try:
            return _clean(value.decode("utf-8"))
        except UnicodeDecodeError:
            found.notes.append("The file's IPTC-IIM caption is not valid UTF-8; it was ignored.")
            return ""
    try:
        return _clean(value.decode("utf-8"))
    except UnicodeDecodeError:
        return _clean(value.decode("latin-1"))


def read_found_text(handle) -> FoundText:
    """The alt text and descriptions embedded in an image file (an open binary file, read from
    its start; the caller seeks it back). Never raises for bad metadata: what cannot be read is
    ignored and named in notes. XMP is parsed with defusedxml (no DTD, no entity expansion),
    EXIF and IPTC-IIM by Pillow."""
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    found = FoundText()
    try:
        with PILImage.open(handle) as image:
            xmp = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp")
            described = _read_xmp(xmp, found) if xmp else ""
            candidates = [("XMP dc:description", described)]
            if image.format in {"JPEG", "TIFF"}:
                candidates.append(("IPTC-IIM Caption-Abstract", _read_iim_caption(image, found)))
            try:
                exif = image.getexif()
            except Exception:  # a damaged EXIF block: Pillow raises several kinds
                found.notes.append("The file's EXIF metadata is damaged; it was ignored.")
                exif = {}
            candidates.append(("EXIF ImageDescription", _decode_exif_text(exif.get(0x010E), found, "ImageDescription")))
            if exif.get(0x9C9C) is not None:
                candidates.append(("EXIF XPComment", _xp_comment(exif.get(0x9C9C), found)))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        found.notes.append(f"The file's metadata cannot be read ({type(error).__name__}); it was ignored.")
        return found
    for name, text in candidates:
        if text:
            found.description, found.description_field = text, name
            break
    return found
