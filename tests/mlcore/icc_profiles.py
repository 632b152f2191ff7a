"""ICC profiles the colour tests build: RGB matrix profiles come from mlcore.colour.matrix_profile
(primaries and curves as published for Display P3, ProPhoto RGB, Adobe RGB); a CMYK press-like
profile is built here as an ICC v2 lut16 (A2B0) from a simple ink model, with the press colours
of process inks (coated paper: cyan about sRGB (0, 158, 224), magenta (227, 0, 124), yellow
(255, 237, 0), black (35, 31, 32)), so that its 100 % cyan is what a press prints, not (0, 255, 255)."""

import struct

import numpy as np

from mlcore.colour import PRIMARIES, rgb_to_xyz_d50

INKS = {"C": (0, 158, 224), "M": (227, 0, 124), "Y": (255, 237, 0), "K": (35, 31, 32)}


def srgb_to_linear(values):
    v = np.asarray(values, dtype=np.float64) / 255.0
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(values):
    v = np.clip(np.asarray(values, dtype=np.float64), 0, 1)
    return 255.0 * np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055)


def press_linear_rgb(c, m, y, k):
    """Linear sRGB of ink coverages c, m, y, k in 0..1: each ink filters light (transmittance^coverage)."""
    out = np.ones(3)
    for coverage, ink in zip((c, m, y, k), "CMYK", strict=True):
        out = out * np.maximum(srgb_to_linear(INKS[ink]), 1e-4) ** coverage
    return out


def press_srgb(c, m, y, k):
    return linear_to_srgb(press_linear_rgb(c, m, y, k))


def _s15(value):
    return struct.pack(">i", round(value * 65536))


def cmyk_press_profile(grid: int = 9) -> bytes:
    srgb_to_xyz = np.array(rgb_to_xyz_d50(PRIMARIES["srgb"]))
    clut = bytearray()
    steps = np.linspace(0, 1, grid)
    for c in steps:
        for m in steps:
            for y in steps:
                for k in steps:
                    xyz = srgb_to_xyz @ press_linear_rgb(c, m, y, k)
                    clut += struct.pack(">3H", *(int(round(min(max(v, 0), 1.99997) * 32768)) for v in xyz))
    identity = [1, 0, 0, 0, 1, 0, 0, 0, 1]
    lut = b"mft2\0\0\0\0" + struct.pack(">BBBB", 4, 3, grid, 0) + b"".join(_s15(v) for v in identity)
    lut += struct.pack(">HH", 2, 2)
    lut += struct.pack(">2H", 0, 65535) * 4 + bytes(clut) + struct.pack(">2H", 0, 65535) * 3
    desc = b"Press CMYK (test)\0"
    desc_tag = b"desc\0\0\0\0" + struct.pack(">I", len(desc)) + desc + struct.pack(">IIHB", 0, 0, 0, 0) + b"\0" * 67
    white = b"XYZ \0\0\0\0" + _s15(0.9642) + _s15(1.0) + _s15(0.8249)
    tags = [(b"desc", desc_tag), (b"wtpt", white), (b"cprt", b"text\0\0\0\0none\0"), (b"A2B0", lut)]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, data in tags:
        while len(body) % 4:
            body += b"\0"
        table += struct.pack(">4sII", signature, offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = struct.pack(">I4sI4s4s4s", size, b"lcms", 0x02100000, b"prtr", b"CMYK", b"XYZ ")
    header += b"\0" * 12 + b"acsp" + b"\0" * 4 + b"\0" * 4 + b"\0" * 16 + struct.pack(">I", 0)
    header += _s15(0.9642) + _s15(1.0) + _s15(0.8249)
    header += b"\0" * (128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + body
