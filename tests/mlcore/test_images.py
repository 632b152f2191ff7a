"""mlcore.images: the one image loader. Every input is made here, in memory."""

from __future__ import annotations

import io
import struct
import time

import numpy as np
import pytest
from PIL import Image, ImageOps

from mlcore.errors import MLCoreError
from mlcore.images import (
    ALLOWED_FORMATS,
    ImageLoadError,
    LoadedImage,
    apply_orientation,
    captioner_target_size,
    load_image,
    make_thumbnail,
    processor_target_size,
    to_rgb,
)

MP = 40_000_000


def encode(image: Image.Image, fmt: str, **save_args) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save_args)
    return buffer.getvalue()


def ramp(dtype, lo, hi, size=(256, 32)) -> np.ndarray:
    """A horizontal ramp from lo to hi (inclusive), size=(width, height)."""
    width, height = size
    row = np.linspace(lo, hi, width)
    return np.tile(row, (height, 1)).astype(dtype)


def assert_full_range_grey_ramp(image: Image.Image):
    assert image.mode == "RGB"
    pixels = np.asarray(image)
    assert pixels.dtype == np.uint8
    assert pixels[..., 0].min() <= 1 and pixels[..., 0].max() >= 254, (pixels.min(), pixels.max())
    # grey: the three channels agree, and the ramp rises left to right
    assert np.abs(pixels[..., 0].astype(int) - pixels[..., 2]).max() <= 2
    assert np.all(np.diff(pixels[0, :, 0].astype(int)) >= 0)
    assert len(np.unique(pixels[..., 0])) > 100  # a ramp, not a few levels, and not all white


# --- modes and tonal range -----------------------------------------------------------------------


def _i16(mode: str, values: np.ndarray) -> Image.Image:
    dtype = {"I;16": "<u2", "I;16L": "<u2", "I;16B": ">u2", "I;16N": "=u2"}[mode]
    height, width = values.shape
    return Image.frombytes(mode, (width, height), values.astype(dtype).tobytes())


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: Image.fromarray(ramp(np.uint8, 0, 255), mode="L"), id="L"),
        pytest.param(lambda: Image.fromarray(ramp(np.uint8, 0, 255), mode="L").convert("RGB"), id="RGB"),
        pytest.param(lambda: _i16("I;16", ramp(np.uint16, 0, 65535)), id="I;16"),
        pytest.param(lambda: _i16("I;16L", ramp(np.uint16, 0, 65535)), id="I;16L"),
        pytest.param(lambda: _i16("I;16B", ramp(np.uint16, 0, 65535)), id="I;16B"),
        pytest.param(lambda: _i16("I;16N", ramp(np.uint16, 0, 65535)), id="I;16N"),
        pytest.param(lambda: Image.fromarray(ramp(np.int32, 0, 65535), mode="I"), id="I-16bit-range"),
        pytest.param(lambda: Image.fromarray(ramp(np.int32, 0, 255), mode="I"), id="I-8bit-range"),
        pytest.param(lambda: Image.fromarray(ramp(np.int32, -1000, 5000), mode="I"), id="I-own-range"),
        pytest.param(lambda: Image.fromarray(ramp(np.float32, 0.0, 1.0), mode="F"), id="F-unit"),
        pytest.param(lambda: Image.fromarray(ramp(np.float32, -3.5, 12.25), mode="F"), id="F-own-range"),
        pytest.param(lambda: Image.merge("YCbCr", [Image.fromarray(ramp(np.uint8, 0, 255))]
                                         + [Image.new("L", (256, 32), 128)] * 2), id="YCbCr"),
        pytest.param(lambda: Image.merge("HSV", [Image.new("L", (256, 32), 0)] * 2
                                         + [Image.fromarray(ramp(np.uint8, 0, 255))]), id="HSV"),
        pytest.param(lambda: Image.merge("LAB", [Image.fromarray(ramp(np.uint8, 0, 255))]
                                         + [Image.new("L", (256, 32), 128)] * 2), id="LAB"),
        pytest.param(lambda: Image.merge("LA", [Image.fromarray(ramp(np.uint8, 0, 255)), Image.new("L", (256, 32), 255)]),
                     id="LA-opaque"),
        pytest.param(lambda: _palette_ramp(), id="P"),
    ],
)
def test_every_mode_becomes_8bit_rgb_with_its_full_tonal_range(make):
    assert_full_range_grey_ramp(to_rgb(make()))


def _palette_ramp() -> Image.Image:
    image = Image.fromarray(ramp(np.uint8, 0, 255), mode="L").convert("P")  # web palette would lose levels
    image.putpalette([v for i in range(256) for v in (i, i, i)])
    image.putdata(list(np.asarray(Image.fromarray(ramp(np.uint8, 0, 255))).flatten()))
    return image


@pytest.mark.parametrize(
    ("make", "fmt", "opened_mode"),
    [
        (lambda: _i16("I;16", ramp(np.uint16, 0, 65535)), "PNG", "I;16"),  # the white caption
        (lambda: _i16("I;16", ramp(np.uint16, 0, 65535)), "TIFF", "I;16"),
        (lambda: _i16("I;16B", ramp(np.uint16, 0, 65535)), "TIFF", "I;16B"),
        (lambda: Image.fromarray(ramp(np.int32, 0, 65535), mode="I"), "TIFF", "I"),
        (lambda: Image.fromarray(ramp(np.float32, 0.0, 1.0), mode="F"), "TIFF", "F"),
        (lambda: Image.fromarray(ramp(np.uint8, 0, 255), mode="L"), "PNG", "L"),
        (lambda: _palette_ramp(), "PNG", "P"),
        (lambda: Image.fromarray(ramp(np.uint8, 0, 255), mode="L").convert("RGB").convert("CMYK"), "TIFF", "CMYK"),
    ],
)
def test_files_of_each_mode_load_with_their_full_range(make, fmt, opened_mode):
    data = encode(make(), fmt)
    assert Image.open(io.BytesIO(data)).mode == opened_mode  # the file really is of that mode
    loaded = load_image(data, max_pixels=MP)
    assert loaded.source_mode == opened_mode
    assert_full_range_grey_ramp(loaded.image)


def test_a_16bit_ramp_thumbnail_is_not_white():
    loaded = load_image(encode(_i16("I;16", ramp(np.uint16, 0, 65535, size=(512, 64))), "PNG"), max_pixels=MP)
    with Image.open(io.BytesIO(make_thumbnail(loaded, 128))) as thumb:
        grey = np.asarray(thumb.convert("L"))
    assert thumb.format == "JPEG" and thumb.size == (128, 16)
    assert grey.min() <= 5 and grey.max() >= 250 and grey.mean() < 200
    # a raw 16-bit PIL image given directly is rescaled too
    with Image.open(io.BytesIO(make_thumbnail(_i16("I;16", ramp(np.uint16, 0, 65535)), 64))) as thumb:
        assert np.asarray(thumb.convert("L")).min() <= 5


def test_1bit_images_are_black_and_white():
    bits = Image.fromarray(np.kron([[0, 1], [1, 0]], np.ones((4, 4))).astype(bool))
    assert bits.mode == "1"
    loaded = load_image(encode(bits, "PNG"), max_pixels=MP)
    pixels = np.asarray(loaded.image)
    assert loaded.image.mode == "RGB" and set(np.unique(pixels)) == {0, 255}
    assert tuple(pixels[0, 0]) == (0, 0, 0) and tuple(pixels[0, 7]) == (255, 255, 255)


def test_cmyk_jpeg_is_converted():
    cmyk = Image.new("CMYK", (16, 16), (0, 0, 0, 0))
    cmyk.paste((0, 0, 0, 255), (0, 0, 8, 16))
    loaded = load_image(encode(cmyk, "JPEG", quality=95), max_pixels=MP)
    assert loaded.source_mode == "CMYK" and loaded.format == "JPEG"
    pixels = np.asarray(loaded.image).astype(int)
    assert pixels[8, 2].max() < 20 and pixels[8, 13].min() > 235  # black ink left, paper right


# --- transparency: one rule, onto white ----------------------------------------------------------


def _half_transparent(mode: str) -> Image.Image:
    rgba = Image.new("RGBA", (20, 10), (200, 30, 30, 255))
    rgba.paste((0, 0, 0, 0), (10, 0, 20, 10))  # right half: fully transparent (black underneath)
    if mode == "RGBA":
        return rgba
    if mode == "LA":
        return rgba.convert("LA")
    if mode == "PA":
        return rgba.convert("PA")
    raise AssertionError(mode)


@pytest.mark.parametrize("mode", ["RGBA", "LA", "PA"])
def test_alpha_is_composited_onto_white(mode):
    loaded = to_rgb(_half_transparent(mode))
    pixels = np.asarray(loaded)
    assert loaded.mode == "RGB"
    assert (pixels[:, 10:] == 255).all()  # transparent area: white, not black
    assert pixels[:, :10].mean() < 200  # the opaque half keeps its colour


def test_palette_with_transparency_entry_and_rgba_png_load_onto_white():
    palette = Image.new("P", (20, 10), 1)
    palette.putpalette([0, 0, 0] + [30, 60, 200] + [0, 0, 0] * 254)
    palette.paste(0, (10, 0, 20, 10))
    data = encode(palette, "PNG", transparency=0)
    opened = Image.open(io.BytesIO(data))
    assert opened.mode == "P" and opened.info.get("transparency") == 0  # a real tRNS chunk
    for source in (data, encode(_half_transparent("RGBA"), "PNG"), encode(palette, "GIF", transparency=0)):
        loaded = load_image(source, max_pixels=MP)
        pixels = np.asarray(loaded.image)
        assert (pixels[:, 15] == 255).all(), loaded
        assert pixels[:, 2].mean() < 200
        assert "alpha-flattened" in loaded.flags


def test_grey_png_with_transparent_level_goes_white():
    grey = Image.new("L", (10, 10), 0)
    grey.paste(100, (5, 0, 10, 10))
    loaded = load_image(encode(grey, "PNG", transparency=0), max_pixels=MP)
    pixels = np.asarray(loaded.image)
    assert (pixels[:, :5] == 255).all() and (pixels[:, 5:] == 100).all()


# --- EXIF orientation ------------------------------------------------------------------------------


def upright() -> Image.Image:
    """A 6x4 image with a different colour in every pixel: any wrong flip or turn shows."""
    values = np.arange(6 * 4 * 3, dtype=np.uint8).reshape(4, 6, 3) * 3
    return Image.fromarray(values, mode="RGB")


# The transform that turns the upright image into what the camera stored, for each orientation.
STORED = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def exif_with(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_each_orientation_gives_the_upright_pixels(orientation):
    stored = upright() if STORED[orientation] is None else upright().transpose(STORED[orientation])
    data = encode(stored, "PNG", exif=exif_with(orientation))
    loaded = load_image(data, max_pixels=MP)
    assert loaded.orientation == orientation
    assert np.array_equal(np.asarray(loaded.image), np.asarray(upright()))
    assert (loaded.width, loaded.height) == (6, 4)
    # the same as Pillow's own exif_transpose where that one works
    assert np.array_equal(np.asarray(loaded.image), np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data)))))
    assert np.array_equal(np.asarray(apply_orientation(stored, orientation)), np.asarray(upright()))


def broken_exif(orientation: int = 6) -> bytes:
    """Orientation plus XResolution stored as ASCII "72" (it must be RATIONAL): cameras and
    editors write such blocks, and Pillow's exif_transpose raises TypeError rewriting it."""
    entries = [
        struct.pack(">HHI", 0x0112, 3, 1) + struct.pack(">H", orientation) + b"\0\0",
        struct.pack(">HHI", 0x011A, 2, 3) + b"72\0\0",
    ]
    ifd = struct.pack(">H", len(entries)) + b"".join(entries) + struct.pack(">I", 0)
    return b"Exif\0\0MM\0\x2a" + struct.pack(">I", 8) + ifd


def broken_exif_jpeg(size=(80, 40)) -> bytes:
    image = Image.new("RGB", size, (10, 120, 200))
    image.paste((250, 250, 0), (0, 0, size[0] // 4, size[1] // 4))  # a yellow top-left corner
    return encode(image, "JPEG", quality=95, exif=broken_exif(6))


def test_broken_exif_still_rotates_and_never_refuses():
    data = broken_exif_jpeg()
    with pytest.raises(TypeError):
        ImageOps.exif_transpose(Image.open(io.BytesIO(data)))  # the failure this guards against
    loaded = load_image(data, max_pixels=MP)
    assert loaded.orientation == 6 and loaded.image.size == (40, 80) and (loaded.width, loaded.height) == (40, 80)
    # orientation 6: the stored top-left corner is displayed at the top-right
    pixels = np.asarray(loaded.image).astype(int)
    assert pixels[2, 37, 0] > 200 and pixels[2, 37, 2] < 80
    assert pixels[2, 2, 2] > 150


def app1(payload: bytes) -> bytes:
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


@pytest.mark.parametrize(
    "payload",
    [
        b"Exif\0\0MM\0\x2a\0\0\0\x08\xff\xff\0\0\0",  # an IFD that claims 65535 entries
        b"Exif\0\0XX\0\x2a\0\0\0\x08",  # no byte order
        b"Exif\0\0MM\0\x2a\xff\xff\xff\xf0",  # IFD offset beyond the block
    ],
)
def test_unparseable_exif_loads_unrotated_with_a_flag(payload):
    jpeg = encode(Image.new("RGB", (40, 20), (200, 10, 10)), "JPEG")
    data = jpeg[:2] + app1(payload) + jpeg[2:]
    loaded = load_image(data, max_pixels=MP)
    assert loaded.image.size == (40, 20) and loaded.orientation == 1
    assert "exif-unreadable" in loaded.flags


@pytest.mark.parametrize("value", [0, 9, 300])
def test_out_of_range_orientation_is_ignored_with_a_flag(value):
    loaded = load_image(encode(upright(), "PNG", exif=exif_with(value)), max_pixels=MP)
    assert loaded.orientation == 1 and "exif-orientation-invalid" in loaded.flags
    assert np.array_equal(np.asarray(loaded.image), np.asarray(upright()))


# --- formats -------------------------------------------------------------------------------------


def mpo_bytes(size=(64, 48)) -> bytes:
    first = Image.new("RGB", size, (220, 20, 20))
    second = Image.new("RGB", size, (20, 20, 220))
    data = encode(first, "MPO", save_all=True, append_images=[second])
    assert Image.open(io.BytesIO(data)).format == "MPO"
    return data


def test_mpo_is_a_jpeg_and_its_first_picture_is_used():
    loaded = load_image(mpo_bytes(), max_pixels=MP)
    assert loaded.format == "JPEG" and "first-frame" in loaded.flags
    red, _, blue = loaded.image.getpixel((5, 5))
    assert red > 200 and blue < 50


@pytest.mark.parametrize("fmt", ALLOWED_FORMATS)
def test_every_allowed_format_loads(fmt):
    loaded = load_image(encode(Image.new("RGB", (30, 20), (0, 128, 255)), fmt), max_pixels=MP)
    assert loaded.format == fmt and loaded.image.size == (30, 20) and loaded.image.mode == "RGB"


@pytest.mark.parametrize("fmt", ["PPM", "TGA", "PCX"])
def test_formats_outside_the_allowlist_are_refused(fmt):
    with pytest.raises(ImageLoadError, match="Not a supported image") as caught:
        load_image(encode(Image.new("RGB", (32, 32)), fmt), max_pixels=MP)
    assert caught.value.code == "unidentified" and isinstance(caught.value, MLCoreError)


@pytest.mark.parametrize(("fmt", "named"), [("ICO", "an icon (ICO)"), ("JPEG2000", "JPEG 2000"), ("PDF", "a PDF document")])
def test_formats_we_recognise_but_refuse_are_named(fmt, named):
    with pytest.raises(ImageLoadError, match="accepted formats are") as caught:
        load_image(encode(Image.new("RGB", (32, 32)), fmt), max_pixels=MP)
    assert caught.value.code == "format" and named in str(caught.value)


# --- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(100_000, 1), (1, 100_000), (10_100, 100)])
def test_extreme_aspect_ratios_are_refused_from_the_header(size):
    data = encode(Image.new("L", size), "PNG")
    started = time.perf_counter()
    with pytest.raises(ImageLoadError, match="more than 100 times the other") as caught:
        load_image(data, max_pixels=MP)
    assert time.perf_counter() - started < 1.0
    assert caught.value.code == "aspect" and f"{size[0]}x{size[1]}" in str(caught.value)


def test_aspect_limit_is_a_parameter():
    data = encode(Image.new("L", (2000, 100)), "PNG")
    assert load_image(data, max_pixels=MP).image.size == (2000, 100)  # 20:1 is allowed
    assert load_image(encode(Image.new("L", (10_000, 100)), "PNG"), max_pixels=MP).image.size == (10_000, 100)
    with pytest.raises(ImageLoadError):
        load_image(data, max_pixels=MP, max_aspect=4)
    assert load_image(encode(Image.new("L", (5000, 1)), "PNG"), max_pixels=MP, max_aspect=None).image.size == (5000, 1)


def truncated(fmt: str) -> bytes:
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    data = encode(noise, fmt)
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    ("data", "reason", "code"),
    [
        (b"", "empty", "empty"),
        (b"just text, not an image\n" * 20, "Not a supported image", "unidentified"),
        (truncated("JPEG"), "damaged or truncated", "damaged"),
        (truncated("PNG"), "damaged or truncated", "damaged"),
        (truncated("WEBP"), "damaged or truncated", "damaged"),
    ],
)
def test_bad_bytes_are_refused_with_their_reason(data, reason, code):
    with pytest.raises(ImageLoadError, match=reason) as caught:
        load_image(data, max_pixels=MP)
    assert caught.value.code == code


def test_pixel_limit_is_checked_before_decoding():
    from tests.images import png_bomb

    started = time.perf_counter()
    with pytest.raises(ImageLoadError, match="megapixels"):
        load_image(png_bomb(20000, 20000), max_pixels=MP)  # Pillow's own bomb limit
    with pytest.raises(ImageLoadError, match=r"7000x7000 pixels \(49.0 megapixels\); the limit is 40"):
        load_image(png_bomb(7000, 7000), max_pixels=MP)  # our limit, from the header
    assert time.perf_counter() - started < 2.0


def test_paths_and_file_objects_are_accepted(tmp_path):
    data = encode(upright(), "PNG", exif=exif_with(1))
    path = tmp_path / "a.png"
    path.write_bytes(data)
    for source in (data, str(path), path, io.BytesIO(data), bytearray(data)):
        assert np.array_equal(np.asarray(load_image(source, max_pixels=MP).image), np.asarray(upright()))
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageLoadError, match="empty"):
        load_image(tmp_path / "empty.png", max_pixels=MP)
    with pytest.raises(FileNotFoundError):
        load_image(tmp_path / "missing.png", max_pixels=MP)
    with pytest.raises(TypeError):
        load_image(12, max_pixels=MP)


# --- cheap decoding for the model ----------------------------------------------------------------


def test_big_jpeg_is_draft_decoded_to_what_the_processor_needs():
    photo = Image.new("RGB", (6000, 4000), (90, 140, 30))
    photo.paste((250, 250, 250), (0, 0, 3000, 2000))
    data = encode(photo, "JPEG", quality=80)
    del photo
    started = time.perf_counter()
    loaded = load_image(data, max_pixels=MP, target_size=384)
    elapsed = time.perf_counter() - started
    short = min(loaded.image.size)
    assert 384 <= short < 768, loaded.image.size
    assert loaded.image.width * loaded.image.height < 6000 * 4000 / 40  # far below the full 24 MP
    assert (loaded.width, loaded.height) == (6000, 4000)  # the original size is still reported
    assert elapsed < 2.0
    top_left = loaded.image.getpixel((10, 10))
    assert min(top_left) > 230  # the right picture, just smaller
    # without a target the full image is decoded
    assert load_image(data, max_pixels=MP).image.size == (6000, 4000)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF"])
def test_other_formats_are_reduced_to_under_twice_the_need(fmt):
    big = Image.new("RGB", (2400, 1600), (10, 20, 30))
    loaded = load_image(encode(big, fmt), max_pixels=MP, target_size=224)
    assert 224 <= min(loaded.image.size) < 448 and "reduced" in loaded.flags
    # smaller images are never enlarged or reduced below the need
    small = load_image(encode(Image.new("RGB", (300, 200)), fmt), max_pixels=MP, target_size=224)
    assert small.image.size == (300, 200)


def test_reduced_decoding_keeps_orientation_and_range():
    stored = _i16("I;16", ramp(np.uint16, 0, 65535, size=(2048, 1024))).transpose(Image.Transpose.ROTATE_90)
    loaded = load_image(encode(stored, "PNG", exif=exif_with(6)), max_pixels=MP, target_size=256)
    assert loaded.image.size == (512, 256)
    assert_full_range_grey_ramp(loaded.image)


class _SizeDict:
    def __init__(self, **kw):
        self.__dict__.update(kw)


class _Processor:
    def __init__(self, size, **extra):
        self.size = size
        self.__dict__.update(extra)


def test_target_size_is_read_from_processors_and_captioners():
    assert processor_target_size(_Processor({"height": 384, "width": 384})) == 384  # BLIP
    assert processor_target_size(_Processor({"shortest_edge": 224})) == 224  # GIT/CLIP
    assert processor_target_size(_Processor({"longest_edge": 512})) == 512
    assert processor_target_size(_Processor(_SizeDict(height=224, width=320))) == 224
    assert processor_target_size(_Processor(300)) == 300
    assert processor_target_size(_Processor({"shortest_edge": 3136}, max_pixels=1003520)) == 1002
    # transformers 5 keeps Qwen-VL's pixel bounds as size = {shortest_edge: min_pixels, longest_edge: max_pixels}
    qwen = _Processor({"shortest_edge": 3136, "longest_edge": 12845056}, temporal_patch_size=2, merge_size=2)
    assert processor_target_size(qwen) == 3584
    assert processor_target_size(_Processor(_SizeDict(shortest_edge=65536, longest_edge=16777216),
                                            temporal_patch_size=2)) == 4096  # Qwen3-VL
    assert processor_target_size(_SizeDict(image_processor=_Processor({"shortest_edge": 224}))) == 224
    assert processor_target_size(None) is None and processor_target_size(_Processor(None)) is None
    assert captioner_target_size(_SizeDict(image_processor=_Processor({"height": 384, "width": 384}))) == 384
    assert captioner_target_size(_SizeDict(config=_SizeDict(image_size=160))) == 160
    members = [_SizeDict(config=_SizeDict(image_size=160)), _SizeDict(image_processor=_Processor({"shortest_edge": 224}))]
    assert captioner_target_size(_SizeDict(members=members)) == 224
    assert captioner_target_size(_SizeDict(members=[*members, object()])) is None
    assert captioner_target_size(None) is None


def test_target_size_of_a_real_blip_processor(tiny_blip):
    need = captioner_target_size(tiny_blip)
    size = tiny_blip.image_processor.size
    expected = min(size["height"], size["width"]) if "height" in size else size["shortest_edge"]
    assert need == expected


def test_loaded_image_is_a_plain_value():
    loaded = load_image(encode(upright(), "PNG"), max_pixels=MP)
    assert isinstance(loaded, LoadedImage) and loaded.flags == () and loaded.source_mode == "RGB"
    loaded.image.load()  # usable after the source is gone
    assert loaded.image.copy().size == (6, 4)


class _FailingReader(io.BytesIO):
    """A file object that breaks after its first kilobyte (a storage backend failing mid-read)."""

    def read(self, size=-1):
        if self.tell() > 1024:
            raise RuntimeError("storage went away")
        return super().read(size)


def test_an_unexpected_error_while_decoding_is_a_refusal_and_is_logged(caplog):
    noise = Image.fromarray(np.random.default_rng(1).integers(0, 255, (128, 128, 3), dtype=np.uint8))
    with caplog.at_level("WARNING", logger="mlcore.images"), pytest.raises(ImageLoadError, match="damaged"):
        load_image(_FailingReader(encode(noise, "PNG")), max_pixels=MP)
    assert "RuntimeError" in caplog.text


def test_concurrent_decoding_gives_the_same_pixels():
    """A worker may decode the next batch in a thread while the model runs: no shared state."""
    from concurrent.futures import ThreadPoolExecutor

    stored = upright().transpose(STORED[6])
    sources = [encode(stored, "PNG", exif=exif_with(6)), broken_exif_jpeg(), mpo_bytes(),
               encode(_i16("I;16", ramp(np.uint16, 0, 65535)), "PNG")] * 8
    alone = [np.asarray(load_image(s, max_pixels=MP).image) for s in sources[:4]]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda s: np.asarray(load_image(s, max_pixels=MP, target_size=None).image), sources))
    for i, pixels in enumerate(together):
        assert np.array_equal(pixels, alone[i % 4])
