"""Colour management for the one image loader: whatever colour space a file declares, the pixels
a model and a thumbnail get are sRGB, as a colour-managed browser shows them.

What a file may declare, in the order it is honoured (the first one found wins):

1. PNG ``cICP`` (coding-independent code points, ITU-T H.273): primaries BT.709 (1, sRGB's),
   BT.2020 (9), Display P3 (12, SMPTE EG 432), DCI-P3 (11); transfer sRGB (13), BT.709/601/2020
   (1, 6, 14, 15), linear (8), gamma 2.2 (4) and 2.8 (5). PQ and HLG (16, 18: HDR) are read as
   their primaries with the BT.709 curve and flagged ``hdr-not-tone-mapped``.
2. An embedded ICC profile (JPEG APP2, PNG ``iCCP``, WebP, TIFF, AVIF, HEIF): RGB, CMYK and grey
   profiles, converted by LittleCMS (Pillow's ImageCms), relative colorimetric intent with black
   point compensation, as browsers do.
3. PNG ``sRGB``: sRGB, nothing to do. PNG ``gAMA`` (with ``cHRM`` when present): a matrix
   profile built from them; a gamma within 2 % of 1/2.2 without ``cHRM`` is taken as sRGB.
4. EXIF ``ColorSpace`` (0xA001): 1 is sRGB; 0xFFFF ("uncalibrated") with the interoperability
   index ``R03`` is Adobe RGB (1998), how cameras set to Adobe RGB mark their JPEGs (DCF).
5. Nothing: sRGB. Untagged CMYK is converted by Pillow's plain formula.

Matrix profiles (for cICP, gAMA/cHRM and EXIF Adobe RGB) are built here as ICC v2 bytes
(:func:`matrix_profile`), from the primaries and the transfer curve, and cached.
"""

from __future__ import annotations

import functools
import hashlib
import io
import struct
import threading
from collections import OrderedDict

from PIL import Image

__all__ = ["PRIMARIES", "D50", "D65", "matrix_profile", "to_srgb", "png_colour_chunks"]

# Chromaticities (x, y) of red, green, blue and white.
D65 = (0.3127, 0.3290)
D50 = (0.3457, 0.3585)
PRIMARIES: dict[str, tuple[tuple[float, float], ...]] = {
    "srgb": ((0.640, 0.330), (0.300, 0.600), (0.150, 0.060), D65),
    "display-p3": ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060), D65),
    "dci-p3": ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060), (0.314, 0.351)),
    "bt2020": ((0.708, 0.292), (0.170, 0.797), (0.131, 0.046), D65),
    "adobe-rgb": ((0.640, 0.330), (0.210, 0.710), (0.150, 0.060), D65),
    "prophoto": ((0.7347, 0.2653), (0.1596, 0.8404), (0.0366, 0.0001), D50),
}
# Transfer curves as ICC parametric curves: ("gamma", g) or ("srgb",) / ("bt709",) / ("linear",).
_CICP_PRIMARIES = {1: "srgb", 9: "bt2020", 11: "dci-p3", 12: "display-p3"}
_CICP_TRANSFER = {1: ("bt709",), 6: ("bt709",), 14: ("bt709",), 15: ("bt709",), 13: ("srgb",),
                  8: ("gamma", 1.0), 4: ("gamma", 2.2), 5: ("gamma", 2.8), 16: ("bt709",), 18: ("bt709",)}
_HDR_TRANSFERS = {16, 18}

_BRADFORD = ((0.8951, 0.2664, -0.1614), (-0.7502, 1.7135, 0.0367), (0.0389, -0.0685, 1.0296))


def _xy_to_xyz(x: float, y: float) -> tuple[float, float, float]:
    return (x / y, 1.0, (1 - x - y) / y)


def _mat_mul(a, b):
    return tuple(tuple(sum(a[i][k] * b[k][j] for k in range(3)) for j in range(3)) for i in range(3))


def _mat_vec(a, v):
    return tuple(sum(a[i][k] * v[k] for k in range(3)) for i in range(3))


def _mat_inv(m):
    (a, b, c), (d, e, f), (g, h, i) = m
    det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    return (
        ((e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det),
        ((f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det),
        ((d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det),
    )


def rgb_to_xyz_d50(primaries) -> tuple[tuple[float, float, float], ...]:
    """The matrix from linear RGB to CIE XYZ relative to D50 (Bradford-adapted), the ICC PCS."""
    red, green, blue, white = primaries
    cols = [_xy_to_xyz(*p) for p in (red, green, blue)]
    m = tuple(tuple(cols[j][i] for j in range(3)) for i in range(3))
    scale = _mat_vec(_mat_inv(m), _xy_to_xyz(*white))
    m = tuple(tuple(m[i][j] * scale[j] for j in range(3)) for i in range(3))
    src, dst = _mat_vec(_BRADFORD, _xy_to_xyz(*white)), _mat_vec(_BRADFORD, _xy_to_xyz(*D50))
    diag = tuple(tuple((dst[i] / src[i]) if i == j else 0.0 for j in range(3)) for i in range(3))
    adapt = _mat_mul(_mat_inv(_BRADFORD), _mat_mul(diag, _BRADFORD))
    return _mat_mul(adapt, m)


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz_tag(xyz) -> bytes:
    return b"XYZ \0\0\0\0" + b"".join(_s15(v) for v in xyz)


def _curve_tag(curve: tuple) -> bytes:
    kind = curve[0]
    if kind == "gamma":
        return b"curv\0\0\0\0" + struct.pack(">I", 1) + struct.pack(">H", round(curve[1] * 256))
    if kind == "linear":
        return b"curv\0\0\0\0" + struct.pack(">I", 0)
    # Parametric type 3: Y = (aX + b)^g for X >= d, cX below.
    if kind == "srgb":
        params = (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)
    elif kind == "bt709":
        params = (1 / 0.45, 1 / 1.099, 0.099 / 1.099, 1 / 4.5, 0.081)
    else:
        raise ValueError(f"unknown transfer curve {curve!r}")
    return b"para\0\0\0\0" + struct.pack(">HH", 3, 0) + b"".join(_s15(v) for v in params)


def _desc_tag(text: str) -> bytes:
    ascii_text = text.encode("ascii") + b"\0"
    return (b"desc\0\0\0\0" + struct.pack(">I", len(ascii_text)) + ascii_text
            + struct.pack(">II", 0, 0) + struct.pack(">HB", 0, 0) + b"\0" * 67)


@functools.lru_cache(maxsize=32)
def matrix_profile(primaries_name_or_value, curve: tuple, description: str = "") -> bytes:
    """An ICC v2 RGB display profile (bytes) for ``primaries`` (a :data:`PRIMARIES` name or four
    (x, y) pairs: red, green, blue, white) and the transfer ``curve`` (``("srgb",)``,
    ``("bt709",)``, ``("linear",)`` or ``("gamma", g)``)."""
    primaries = PRIMARIES[primaries_name_or_value] if isinstance(primaries_name_or_value, str) else primaries_name_or_value
    m = rgb_to_xyz_d50(primaries)
    columns = [tuple(m[i][j] for i in range(3)) for j in range(3)]
    curve_data = _curve_tag(curve)
    tags = [
        (b"desc", _desc_tag(description or f"{primaries_name_or_value} {curve}")),
        (b"cprt", b"text\0\0\0\0No copyright, use freely\0"),
        (b"wtpt", _xyz_tag(_xy_to_xyz(*D50))),
        (b"rXYZ", _xyz_tag(columns[0])),
        (b"gXYZ", _xyz_tag(columns[1])),
        (b"bXYZ", _xyz_tag(columns[2])),
        (b"rTRC", curve_data),
        (b"gTRC", curve_data),
        (b"bTRC", curve_data),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = [], b""
    for signature, data in tags:
        while (offset + len(body)) % 4:
            body += b"\0"
        table.append(struct.pack(">4sII", signature, offset + len(body), len(data)))
        body += data
    while len(body) % 4:
        body += b"\0"
    size = offset + len(body)
    header = struct.pack(">I4sI4s4s4s", size, b"lcms", 0x02100000, b"mntr", b"RGB ", b"XYZ ")
    header += b"\0" * 12 + b"acsp" + b"APPL" + b"\0" * 4 + b"\0" * 8 + b"\0" * 8 + struct.pack(">I", 0)
    header += b"".join(_s15(v) for v in _xy_to_xyz(*D50)) + b"\0" * 4
    header += b"\0" * (128 - len(header))
    return header + struct.pack(">I", len(tags)) + b"".join(table) + body


# --- PNG chunks Pillow does not report --------------------------------------------------------------

def png_colour_chunks(fp) -> dict:
    """The PNG's ``cICP`` chunk as ``{"cicp": (primaries, transfer, matrix, full_range)}`` when
    present before the image data; ``{}`` otherwise. ``fp`` is left where it was."""
    start = fp.tell()
    found: dict = {}
    try:
        fp.seek(8)
        while True:
            head = fp.read(8)
            if len(head) < 8:
                break
            length, cid = struct.unpack(">I4s", head)
            if cid in (b"IDAT", b"IEND"):
                break
            if cid == b"cICP" and length == 4:
                found["cicp"] = tuple(fp.read(4))
                fp.seek(4, 1)
            else:
                fp.seek(length + 4, 1)
    finally:
        fp.seek(start)
    return found


# --- Conversion -------------------------------------------------------------------------------------

_TRANSFORMS: OrderedDict = OrderedDict()
_TRANSFORMS_LOCK = threading.Lock()
_TRANSFORMS_MAX = 16


def _transform(icc: bytes, in_mode: str):
    from PIL import ImageCms

    key = (hashlib.sha1(icc).digest(), in_mode)
    with _TRANSFORMS_LOCK:
        found = _TRANSFORMS.get(key)
        if found is not None:
            _TRANSFORMS.move_to_end(key)
            return found
    source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    transform = ImageCms.buildTransform(
        source, ImageCms.createProfile("sRGB"), in_mode, "RGB",
        renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
        flags=ImageCms.Flags.BLACKPOINTCOMPENSATION,
    )
    with _TRANSFORMS_LOCK:
        _TRANSFORMS[key] = transform
        while len(_TRANSFORMS) > _TRANSFORMS_MAX:
            _TRANSFORMS.popitem(last=False)
    return transform


_PROFILE_SPACES = {b"RGB ": "RGB", b"CMYK": "CMYK", b"GRAY": "L"}


def profile_space(icc: bytes) -> str | None:
    """The Pillow mode an ICC profile's data colour space describes (RGB, CMYK, L), or None."""
    if len(icc) < 128:
        return None
    return _PROFILE_SPACES.get(icc[16:20])


def declared_profile(image: Image.Image, png_chunks: dict, flags: list[str]) -> tuple[bytes | None, str]:
    """The ICC profile (bytes) that describes ``image``'s pixels, and where it came from
    (``cicp``, ``icc``, ``gama``, ``exif-adobe-rgb``; ``srgb`` with ``None`` for sRGB)."""
    cicp = png_chunks.get("cicp")
    if cicp:
        primaries, transfer = _CICP_PRIMARIES.get(cicp[0]), _CICP_TRANSFER.get(cicp[1])
        if primaries and transfer:
            if cicp[1] in _HDR_TRANSFERS:
                flags.append("hdr-not-tone-mapped")
            if primaries == "srgb" and transfer == ("srgb",):
                return None, "srgb"
            return matrix_profile(primaries, transfer, f"cICP {cicp[0]}/{cicp[1]}"), "cicp"
        flags.append("cicp-unsupported")
    icc = image.info.get("icc_profile")
    if icc:
        return bytes(icc), "icc"
    if image.format == "PNG":
        if "srgb" in image.info:
            return None, "srgb"
        gamma = image.info.get("gamma")
        chroma = image.info.get("chromaticity")
        if gamma and gamma > 0:
            if chroma and len(chroma) == 8:
                wx, wy, rx, ry, gx, gy, bx, by = chroma
                primaries = ((rx, ry), (gx, gy), (bx, by), (wx, wy))
            else:
                if abs(gamma * 2.2 - 1) < 0.02:
                    return None, "srgb"
                primaries = PRIMARIES["srgb"]
            try:
                return matrix_profile(tuple(primaries), ("gamma", 1 / gamma), "PNG gAMA/cHRM"), "gama"
            except (ZeroDivisionError, ValueError, struct.error):
                flags.append("colour-chunks-invalid")
                return None, "srgb"
    try:
        exif = image.getexif()
        colour_space = exif.get_ifd(0x8769).get(0xA001)
        if colour_space == 0xFFFF:
            interop = exif.get_ifd(0xA005).get(0x0001)
            if isinstance(interop, bytes):
                interop = interop.decode("ascii", "replace")
            if isinstance(interop, str) and interop.strip("\0 ").upper() == "R03":
                return matrix_profile("adobe-rgb", ("gamma", 563 / 256), "Adobe RGB (1998) from EXIF"), "exif-adobe-rgb"
    except Exception:  # a broken EXIF block says nothing about colour
        pass
    return None, "srgb"


def to_srgb(image: Image.Image, icc: bytes | None, flags: list[str]) -> Image.Image:
    """``image`` (any mode) converted from the colour space of ``icc`` to sRGB, in the closest
    mode LittleCMS takes (RGB/RGBA as RGB with alpha kept aside, CMYK, L). With no profile, or one
    that cannot be used (it is flagged ``icc-profile-unusable``), the image is returned as is."""
    if not icc:
        return image
    space = profile_space(icc)
    mode = image.mode
    alpha = None
    if space == "RGB" and mode in ("RGBA", "RGBa", "LA", "PA", "P"):
        rgba = image.convert("RGBA")
        alpha = rgba.getchannel("A")
        work = rgba.convert("RGB")
    elif space == "RGB" and mode in ("RGB", "RGBX"):
        work = image.convert("RGB") if mode != "RGB" else image
    elif space == "CMYK" and mode == "CMYK":
        work = image
    elif space == "L" and mode in ("L", "LA"):
        if mode == "LA":
            alpha = image.getchannel("A")
        work = image.getchannel("L") if mode == "LA" else image
    else:
        flags.append("icc-profile-unusable")
        return image
    try:
        result = _apply(work, icc)
    except Exception:  # a damaged or unsupported profile: the pixels are shown as they are
        flags.append("icc-profile-unusable")
        return image
    flags.append("colour-converted")
    if alpha is not None:
        result.putalpha(alpha)
    return result


def _apply(image: Image.Image, icc: bytes) -> Image.Image:
    from PIL import ImageCms

    transform = _transform(icc, image.mode)
    return ImageCms.applyTransform(image, transform)
