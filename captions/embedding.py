"""Alt text written into image files: IPTC Photo Metadata's Alt Text (Accessibility) and Extended
Description (Accessibility) as XMP, plus the fields older readers know (dc:description, IPTC-IIM
Caption-Abstract, EXIF ImageDescription).

The writing is exiv2's (through pyexiv2, whose wheel carries the library): only the metadata
segments change, so the pixels of an embedded copy are the original's, and every other field
(EXIF, ICC profile, other XMP) is kept. Formats exiv2 cannot write metadata into (GIF, BMP) get an
XMP sidecar instead, ``name.ext.xmp`` beside the file.
"""

from __future__ import annotations

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
