"""What phones, cameras and scanners write, through the one loader (mlcore.images.load_image):
colour profiles converted to sRGB, AVIF and HEIF, files a browser displays though imperfect,
panoramas, and refusals that never contradict the file at hand. Every input is made here."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from mlcore.colour import matrix_profile
from mlcore.images import (
    ALLOWED_FORMATS,
    FORMAT_NAMES,
    ImageLoadError,
    accepted_formats_text,
    load_image,
    make_thumbnail,
)
from tests.mlcore.icc_profiles import cmyk_press_profile, press_srgb

MP = 50_000_000
P3 = matrix_profile("display-p3", ("srgb",), "Display P3")
PROPHOTO = matrix_profile("prophoto", ("gamma", 1.8), "ProPhoto RGB")
ADOBE = matrix_profile("adobe-rgb", ("gamma", 563 / 256), "Adobe RGB (1998)")
# Lossless formats carry the pixel exactly; JPEG at quality 100 within a level or two.
TOLERANCE = {"PNG": 2, "TIFF": 2, "WEBP": 2, "JPEG": 4, "AVIF": 8, "HEIF": 8}


def encode(image, fmt, **kwargs) -> bytes:
    buffer = io.BytesIO()
    if fmt == "JPEG":
        kwargs.setdefault("quality", 100)
        kwargs.setdefault("subsampling", 0)
    if fmt == "WEBP":
        kwargs.setdefault("lossless", True)
    if fmt in ("AVIF", "HEIF"):
        kwargs.setdefault("quality", 100)
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def centre(loaded):
    image = loaded.image
    return image.getpixel((image.width // 2, image.height // 2))


def close(actual, expected, tolerance):
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True)), f"{actual} != {expected} +- {tolerance}"


# --- Colour profiles: reference values as a colour-managed browser shows them ------------------------

# (profile, pixel as stored, sRGB reference): the sRGB primaries written in Display P3 and Adobe RGB
# (CSS Color 4 conversions), and the ProPhoto red a browser shows as (232, 29, 31).
REFERENCES = [
    ("display-p3", P3, (234, 51, 35), (255, 0, 0)),
    # 8-bit storage of P3 (117, 251, 76) lands a few levels off pure green's red: sRGB's curve is
    # steep near black (4/255 is 0.1 % of full light).
    ("display-p3", P3, (117, 251, 76), (3, 255, 0)),
    ("display-p3", P3, (200, 30, 40), (218, 0, 26)),
    ("prophoto", PROPHOTO, (160, 67, 34), (232, 29, 31)),
    ("prophoto", PROPHOTO, (128, 128, 128), (146, 146, 146)),  # gamma 1.8 -> the sRGB curve
    ("adobe-rgb", ADOBE, (219, 0, 0), (255, 0, 0)),
    ("adobe-rgb", ADOBE, (144, 255, 60), (0, 255, 0)),
]


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF", "AVIF", "HEIF"])
@pytest.mark.parametrize(("name", "profile", "stored", "expected"), REFERENCES, ids=[f"{r[0]}-{r[2]}" for r in REFERENCES])
def test_embedded_profiles_are_converted_to_srgb(fmt, name, profile, stored, expected):
    data = encode(Image.new("RGB", (64, 48), stored), fmt, icc_profile=profile)
    loaded = load_image(data, max_pixels=MP)
    ok, why = close(centre(loaded), expected, TOLERANCE[fmt])
    assert ok, why
    assert "colour-converted" in loaded.flags


def test_the_thumbnail_shows_the_converted_colours():
    loaded = load_image(encode(Image.new("RGB", (640, 480), (160, 67, 34)), "JPEG", icc_profile=PROPHOTO),
                        max_pixels=MP, target_size=100)
    thumb = Image.open(io.BytesIO(make_thumbnail(loaded, 100)))
    ok, why = close(thumb.getpixel((50, 37)), (232, 29, 31), 4)
    assert ok, why


def test_srgb_profiles_and_untagged_images_keep_their_values():
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for data in (encode(Image.new("RGB", (32, 32), (10, 200, 100)), "PNG", icc_profile=srgb),
                 encode(Image.new("RGB", (32, 32), (10, 200, 100)), "PNG")):
        ok, why = close(centre(load_image(data, max_pixels=MP)), (10, 200, 100), 1)
        assert ok, why


def test_an_unusable_profile_is_flagged_and_the_pixels_are_kept():
    data = encode(Image.new("RGB", (32, 32), (10, 200, 100)), "JPEG", icc_profile=b"not a profile" * 20)
    loaded = load_image(data, max_pixels=MP)
    assert "icc-profile-unusable" in loaded.flags
    ok, why = close(centre(loaded), (10, 200, 100), 3)
    assert ok, why


def test_transparent_pixels_are_converted_then_put_on_white():
    picture = Image.new("RGBA", (40, 40), (234, 51, 35, 255))
    picture.paste((0, 0, 0, 0), (0, 0, 20, 40))
    loaded = load_image(encode(picture, "PNG", icc_profile=P3), max_pixels=MP)
    assert loaded.image.getpixel((5, 20)) == (255, 255, 255)
    ok, why = close(loaded.image.getpixel((30, 20)), (255, 0, 0), 2)
    assert ok, why


@pytest.mark.parametrize("cmyk", [(255, 0, 0, 0), (0, 255, 0, 0), (0, 0, 255, 0), (128, 64, 0, 0), (0, 0, 0, 255), (30, 90, 200, 20)])
def test_cmyk_jpegs_are_converted_with_their_press_profile(cmyk):
    data = encode(Image.new("CMYK", (64, 48), cmyk), "JPEG", icc_profile=cmyk_press_profile())
    loaded = load_image(data, max_pixels=MP, target_size=16)
    expected = tuple(round(v) for v in press_srgb(*(v / 255 for v in cmyk)))
    ok, why = close(centre(loaded), expected, 4)
    assert ok, why
    assert loaded.source_mode == "CMYK"


def test_untagged_cmyk_keeps_the_plain_conversion():
    loaded = load_image(encode(Image.new("CMYK", (32, 32), (255, 0, 0, 0)), "JPEG"), max_pixels=MP)
    ok, why = close(centre(loaded), (0, 255, 255), 3)
    assert ok, why


def exif_colour_space(space: int, interop: bytes) -> bytes:
    """An EXIF block with ColorSpace (0xA001) and an interoperability IFD whose index is ``interop``
    (``R03``: Adobe RGB, ``R98``: sRGB), as cameras set to Adobe RGB write it (DCF)."""
    tiff = b"II*\0" + struct.pack("<I", 8)
    tiff += struct.pack("<H", 1) + struct.pack("<HHII", 0x8769, 4, 1, 26) + struct.pack("<I", 0)
    tiff += struct.pack("<H", 2) + struct.pack("<HHIHH", 0xA001, 3, 1, space, 0)
    tiff += struct.pack("<HHII", 0xA005, 4, 1, 56) + struct.pack("<I", 0)
    tiff += struct.pack("<H", 1) + struct.pack("<HHI", 0x0001, 2, 4) + interop.ljust(4, b"\0") + struct.pack("<I", 0)
    return b"Exif\0\0" + tiff


@pytest.mark.parametrize(("space", "interop", "expected"), [
    (0xFFFF, b"R03", (0, 255, 0)),  # Adobe RGB camera JPEG: converted
    (0x0001, b"R98", (144, 255, 60)),  # sRGB: as stored
    (0xFFFF, b"R98", (144, 255, 60)),  # uncalibrated without the Adobe index: as stored
])
def test_exif_colour_space_marks_adobe_rgb_camera_jpegs(space, interop, expected):
    data = encode(Image.new("RGB", (32, 32), (144, 255, 60)), "JPEG", exif=exif_colour_space(space, interop))
    ok, why = close(centre(load_image(data, max_pixels=MP)), expected, 4)
    assert ok, why


def png_with_chunks(image, chunks: list[tuple[bytes, bytes]], *, bad_crc: bool = False, **kwargs) -> bytes:
    """``image`` as PNG with ``chunks`` (type, data) inserted before the first IDAT."""
    data = encode(image, "PNG", **kwargs)
    at = data.index(b"IDAT") - 4
    extra = b""
    for cid, body in chunks:
        crc = zlib.crc32(cid + body) & 0xFFFFFFFF
        extra += struct.pack(">I", len(body)) + cid + body + struct.pack(">I", crc ^ (1 if bad_crc else 0))
    return data[:at] + extra + data[at:]


@pytest.mark.parametrize(("cicp", "stored", "expected"), [
    ((12, 13, 0, 1), (234, 51, 35), (255, 0, 0)),  # Display P3, sRGB curve
    ((1, 13, 0, 1), (234, 51, 35), (234, 51, 35)),  # sRGB
    ((1, 8, 0, 1), (128, 128, 128), (188, 188, 188)),  # sRGB primaries, linear light
])
def test_png_cicp_is_honoured_before_other_colour_chunks(cicp, stored, expected):
    data = png_with_chunks(Image.new("RGB", (32, 32), stored), [(b"cICP", bytes(cicp)), (b"sRGB", b"\0")])
    ok, why = close(centre(load_image(data, max_pixels=MP)), expected, 2)
    assert ok, why


def test_png_gamma_and_srgb_chunks():
    grey = Image.new("RGB", (32, 32), (128, 128, 128))
    linear = png_with_chunks(grey, [(b"gAMA", struct.pack(">I", 100000))])  # gamma 1.0: linear light
    ok, why = close(centre(load_image(linear, max_pixels=MP)), (188, 188, 188), 2)
    assert ok, why
    for chunks in ([(b"gAMA", struct.pack(">I", 45455))], [(b"sRGB", b"\0"), (b"gAMA", struct.pack(">I", 45455))]):
        ok, why = close(centre(load_image(png_with_chunks(grey, chunks), max_pixels=MP)), (128, 128, 128), 1)
        assert ok, why


# --- AVIF and HEIF -------------------------------------------------------------------------------------


def test_avif_and_heif_are_accepted_and_named_in_the_one_list():
    assert {"AVIF", "HEIF"} <= set(ALLOWED_FORMATS)
    text = accepted_formats_text()
    assert all(FORMAT_NAMES[fmt] in text for fmt in ALLOWED_FORMATS)


@pytest.mark.parametrize("fmt", ["AVIF", "HEIF"])
def test_phone_formats_are_upright_and_colour_managed(fmt):
    """A portrait phone photo stored landscape with EXIF orientation 6 and a Display P3 profile."""
    stored = Image.new("RGB", (60, 40), (234, 51, 35))
    stored.paste((20, 20, 240), (0, 0, 20, 20))  # the stored top-left corner: top-right once upright
    exif = Image.Exif()
    exif[0x0112] = 6
    loaded = load_image(encode(stored, fmt, exif=exif.tobytes(), icc_profile=P3), max_pixels=MP)
    assert loaded.format == fmt and loaded.image.size == (40, 60) and (loaded.width, loaded.height) == (40, 60)
    red, green, blue = loaded.image.getpixel((36, 4))
    assert blue > 200 and red < 60
    ok, why = close(loaded.image.getpixel((10, 50)), (255, 0, 0), TOLERANCE[fmt])
    assert ok, why


# --- Refusals that say what the file is ----------------------------------------------------------------


def test_a_damaged_png_is_called_a_damaged_png_never_an_unsupported_format():
    data = bytearray(encode(Image.new("RGB", (32, 32), (1, 2, 3)), "PNG"))
    data[29] ^= 0xFF  # the IHDR checksum
    with pytest.raises(ImageLoadError) as caught:
        load_image(bytes(data), max_pixels=MP)
    message = str(caught.value)
    assert message.startswith("The file is a PNG image") and "accepted formats" not in message


def test_a_float_tiff_pillow_cannot_read_is_called_a_tiff():
    data = encode(Image.new("I;16", (16, 16), 1000), "TIFF", tiffinfo={339: 3})  # 16-bit float samples
    with pytest.raises(ImageLoadError) as caught:
        load_image(data, max_pixels=MP)
    message = str(caught.value)
    assert message.startswith("The file is a TIFF image") and "accepted formats" not in message


# --- Viewable means accepted ------------------------------------------------------------------------


def noise(size=(96, 64), seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))


def test_a_jpeg_missing_only_its_end_marker_is_accepted_with_a_note():
    data = encode(noise(), "JPEG", quality=90)
    assert data.endswith(b"\xff\xd9")
    whole = np.asarray(load_image(data, max_pixels=MP).image)
    loaded = load_image(data[:-2], max_pixels=MP)
    assert "jpeg-end-marker-missing" in loaded.flags
    assert np.array_equal(np.asarray(loaded.image), whole)


@pytest.mark.parametrize("keep", [0.2, 0.5, 0.95, "no-end-marker"])
def test_a_progressive_jpeg_cut_short_is_refused(keep):
    """A progressive JPEG cut in a later scan would decode whole but blurred: it stays refused (and
    so does one missing only its end marker, which cannot be told apart)."""
    data = encode(noise((256, 256)), "JPEG", quality=90, progressive=True, subsampling=2)
    cut = data[:-2] if keep == "no-end-marker" else data[: int(len(data) * keep)]
    with pytest.raises(ImageLoadError, match="damaged or truncated"):
        load_image(cut, max_pixels=MP)


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9])
def test_a_jpeg_cut_short_is_still_refused(keep):
    data = encode(noise((256, 256)), "JPEG", quality=90)
    with pytest.raises(ImageLoadError, match="damaged or truncated") as caught:
        load_image(data[: int(len(data) * keep)], max_pixels=MP)
    assert caught.value.code == "damaged"


def test_a_png_with_a_bad_checksum_in_a_text_chunk_is_accepted_with_a_note():
    picture = noise()
    data = png_with_chunks(picture, [(b"tEXt", b"Comment\0edited by hand")], bad_crc=True)
    loaded = load_image(data, max_pixels=MP)
    assert "png-chunks-skipped" in loaded.flags
    assert np.array_equal(np.asarray(loaded.image), np.asarray(picture))


def test_a_png_whose_compressed_xmp_is_over_a_megabyte_is_accepted_with_a_note():
    picture = noise()
    xmp = b"<x:xmpmeta>" + b"<rdf:li>keyword</rdf:li>" * 100_000 + b"</x:xmpmeta>"  # 2.4 MB of XMP
    body = b"XML:com.adobe.xmp\0" + b"\1\0" + b"\0\0" + zlib.compress(xmp)
    data = png_with_chunks(picture, [(b"iTXt", body)])
    loaded = load_image(data, max_pixels=MP)
    assert "png-chunks-skipped" in loaded.flags
    assert np.array_equal(np.asarray(loaded.image), np.asarray(picture))


def test_a_bad_checksum_in_a_critical_png_chunk_is_still_refused():
    data = bytearray(encode(noise(), "PNG"))
    at = data.index(b"IDAT")
    length = struct.unpack(">I", data[at - 4: at])[0]
    data[at + 4 + length] ^= 0xFF  # the IDAT checksum
    data[at + 10] ^= 0xFF  # and its data
    with pytest.raises(ImageLoadError):
        load_image(bytes(data), max_pixels=MP)


# --- Shapes -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(20_000, 200), (200, 20_000), (3000, 30)])
def test_panoramas_and_full_page_screenshots_up_to_100_to_1_are_accepted(size):
    loaded = load_image(encode(Image.new("L", size, 200), "PNG"), max_pixels=MP, target_size=384)
    assert (loaded.width, loaded.height) == size
    assert loaded.image.width * loaded.image.height <= size[0] * size[1]  # never enlarged


def test_beyond_the_aspect_limit_the_refusal_names_the_limit():
    with pytest.raises(ImageLoadError, match="more than 100 times the other") as caught:
        load_image(encode(Image.new("L", (10_100, 100)), "PNG"), max_pixels=MP)
    assert caught.value.code == "aspect"


# --- Big photos ---------------------------------------------------------------------------------------


def test_a_big_jpeg_is_decoded_at_reduced_size_for_the_model():
    big = Image.new("RGB", (8000, 6000), (90, 120, 150))  # 48 MP, the phone case
    data = encode(big, "JPEG", quality=80)
    loaded = load_image(data, max_pixels=250_000_000, target_size=384)
    assert (loaded.width, loaded.height) == (8000, 6000)
    assert 384 <= min(loaded.image.size) < 2 * 384  # JPEG draft: libjpeg decoded 1/8 of each side
    with pytest.raises(ImageLoadError, match="megapixels") as caught:
        load_image(data, max_pixels=40_000_000)
    assert caught.value.code == "too-many-pixels"


class _Processor:
    def __init__(self, **attrs):
        self.__dict__.update(attrs)


class _Captioner:
    def __init__(self, processor):
        self.image_processor = processor


def strip(size):
    """A strip whose every segment has its own colour, so the tiling's order can be read back."""
    image = Image.new("RGB", size, (0, 0, 0))
    pixels = np.asarray(image).copy()
    long_axis = 1 if size[0] >= size[1] else 0
    ramp = np.linspace(0, 255, max(size)).astype(np.uint8)
    if long_axis == 1:
        pixels[:, :, 0] = ramp[None, :]
    else:
        pixels[:, :, 0] = ramp[:, None]
    return Image.fromarray(pixels)


@pytest.mark.parametrize("size", [(40_000, 400), (400, 40_000), (2000, 100)])
def test_elongated_images_are_tiled_near_square_for_fixed_shape_processors(size):
    from mlcore.images import arrange_for_captioner

    blip_like = _Captioner(_Processor(size={"height": 384, "width": 384}))
    tiled = arrange_for_captioner(strip(size), blip_like)
    aspect = max(tiled.size) / min(tiled.size)
    assert aspect < 2.5, tiled.size
    assert tiled.width * tiled.height < 1.3 * size[0] * size[1]  # nothing enlarged
    # Reading order: segment after segment along the first row (wide) or column (tall) of pixels.
    red = np.asarray(tiled)[:, :, 0]
    starts = red[::, 0] if size[0] >= size[1] else red[0, ::]
    segments = [value for value, green in zip(starts, (np.asarray(tiled)[:, 0, 1] if size[0] >= size[1]
                                                       else np.asarray(tiled)[0, :, 1]), strict=True) if green == 0]
    assert segments[0] == 0 and list(segments) == sorted(segments)
    assert red[np.asarray(tiled)[:, :, 1] == 0].max() >= 250  # the strip's end is there too


def test_shape_keeping_processors_and_ordinary_images_are_left_alone():
    from mlcore.images import arrange_for_captioner

    panorama = strip((8000, 400))
    qwen_like = _Captioner(_Processor(max_pixels=1280 * 28 * 28, size={"shortest_edge": 56}))
    assert arrange_for_captioner(panorama, qwen_like) is panorama
    photo = strip((4000, 3000))
    assert arrange_for_captioner(photo, _Captioner(_Processor(size={"height": 384, "width": 384}))) is photo
