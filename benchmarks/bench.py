"""Speed benchmark: the naive path vs the project's path, same images, same generation params.

    python -m benchmarks.bench                      # random-weight BLIP-base architecture (no download)
    python -m benchmarks.bench --model blip-base    # a real model (registry name, hub id or folder)
    python -m benchmarks.bench --batch-sizes 1,4,16 --beams 1,3 --images 16 --int8 --json out.json
    python -m benchmarks.bench --photos DIR         # real photos, decoded by mlcore.images.load_image

(a) naive: one image per call, fp32, processor + generate per image (what the seed report did);
(b) ours: HFCaptioner.caption on the whole list, batched (max_batch_size = the batch size),
    best dtype for the device (bf16 on CUDA, fp32 on CPU), inference_mode, scores from logits.
Prints images/s, the ratio b/a, and peak memory; on CPU optionally int8 dynamic quantisation of
the Linear layers, with how often its captions differ from fp32.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from typing import Any

__all__ = [
    "load_photos",
    "main",
    "make_photos",
    "naive_caption",
    "peak_mib",
    "peak_reset",
    "random_blip_base",
    "run",
    "save_random_blip_base",
]


def random_blip_base(device: str = "cpu", dtype: str = "float32"):
    """The BLIP-base captioning architecture (ViT-B/16 at 384 px + BERT-base decoder) with random
    weights, wrapped as an HFCaptioner. Same shapes and code path as
    Salesforce/blip-image-captioning-base; nothing is downloaded."""
    import torch
    from transformers import BertTokenizer, BlipConfig, BlipForConditionalGeneration
    from transformers.models.blip.image_processing_pil_blip import BlipImageProcessorPil

    from mlcore.hfutils import quiet_transformers, torch_dtype
    from mlcore.predictors.hf import HFCaptioner

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {t: i for i, t in enumerate(specials + [f"w{i}" for i in range(30522 - len(specials))])}
    tok = BertTokenizer(vocab=vocab)
    tok.add_special_tokens({"bos_token": "[DEC]"})
    config = BlipConfig(
        text_config=dict(vocab_size=30524, bos_token_id=tok.bos_token_id, sep_token_id=tok.sep_token_id,
                         pad_token_id=tok.pad_token_id, eos_token_id=tok.sep_token_id),
        vision_config=dict(image_size=384, patch_size=16, initializer_range=0.02),
    )
    torch.manual_seed(0)
    with quiet_transformers():
        model = BlipForConditionalGeneration(config).eval()
    model.to(device, torch_dtype(dtype))
    return HFCaptioner(model, BlipImageProcessorPil(), tok, arch="blip", model_id="random:blip-base-architecture",
                       model_version="random0", device=device, dtype=dtype)


def _wordpiece_vocab(size: int = 30522) -> dict[str, int]:
    """A synthetic WordPiece vocabulary of BERT-base-uncased's size, with BERT's special-token ids
    ([PAD] 0, [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103) and the words of BLIP's prompt at
    their BERT ids; the real vocabulary is not available offline and speed does not depend on it."""
    tokens = [f"w{i}" for i in range(size)]
    for index, token in ((0, "[PAD]"), (100, "[UNK]"), (101, "[CLS]"), (102, "[SEP]"), (103, "[MASK]"),
                         (1037, "a"), (3861, "picture"), (1997, "of")):
        tokens[index] = token
    return {t: i for i, t in enumerate(tokens)}


def save_random_blip_base(dest: str, config_dir: str | None = None, seed: int = 0) -> str:
    """Write a random-weight BLIP-base captioning model folder (``save_pretrained`` layout:
    config, safetensors weights, BlipProcessor with a synthetic 30522-entry WordPiece tokenizer)
    that ``load_captioner(dest)`` loads like the real checkpoint (about 1 GB, fp32).

    ``config_dir``: a folder with the published ``config.json`` (and optionally
    ``preprocessor_config.json``) of Salesforce/blip-image-captioning-base; without it BlipConfig's
    defaults at 384 px, 16 px patches (the same shapes). Returns ``dest``."""
    import torch
    from transformers import BertTokenizer, BlipConfig, BlipForConditionalGeneration, BlipProcessor
    from transformers.models.blip.image_processing_pil_blip import BlipImageProcessorPil

    from mlcore.hfutils import quiet_transformers

    tok = BertTokenizer(vocab=_wordpiece_vocab())
    tok.add_special_tokens({"bos_token": "[DEC]"})
    size = 384
    if config_dir:
        config = BlipConfig.from_pretrained(config_dir)
        pre = os.path.join(config_dir, "preprocessor_config.json")
        if os.path.exists(pre):
            with open(pre) as fh:
                raw = json.load(fh).get("size", size)
            size = int(raw["height"] if isinstance(raw, dict) else raw)
    else:
        config = BlipConfig(
            text_config=dict(vocab_size=30524, bos_token_id=tok.bos_token_id, sep_token_id=tok.sep_token_id,
                             pad_token_id=tok.pad_token_id, eos_token_id=tok.sep_token_id),
            vision_config=dict(image_size=size, patch_size=16),
        )
    processor = BlipProcessor(image_processor=BlipImageProcessorPil(size={"height": size, "width": size}),
                              tokenizer=tok)
    torch.manual_seed(seed)
    with quiet_transformers():
        model = BlipForConditionalGeneration(config).eval()
        model.save_pretrained(dest)
        processor.save_pretrained(dest)
    return dest


MIXED_SIZES = [(640, 480), (1024, 768), (1600, 1200), (2048, 1536), (3000, 2000), (4000, 3000), (1200, 1600),
               (3024, 4032)]
COCO_SIZES = [(640, 480), (480, 640), (640, 427), (500, 375), (640, 360), (427, 640), (612, 612), (640, 512)]
PHONE_SIZES = [(4000, 3000), (3000, 4000), (4032, 3024), (3024, 4032)]  # 12 MP
PHOTO_SETS = {"mixed": MIXED_SIZES, "coco": COCO_SIZES, "phone": PHONE_SIZES}


def make_photos(folder: str, n: int = 16, seed: int = 0, quality: int = 90,
                sizes: list[tuple[int, int]] | None = None) -> list[str]:
    """Write ``n`` photo-like JPEGs (smooth gradients, shapes and sensor-like noise, quality 90)
    into ``folder``, sizes cycling through ``sizes`` (default MIXED_SIZES: 640x480 to 4000x3000, 12 MP,
    a phone photo; COCO_SIZES: the <= 640 px of COCO val2017; PHONE_SIZES: 12 MP). Returns their
    paths, sorted. Deterministic for a seed."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    sizes = sizes or MIXED_SIZES
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    paths = []
    for i in range(n):
        w, h = sizes[i % len(sizes)]
        # a low-resolution colour field upscaled: smooth gradients like sky, walls, out-of-focus areas
        field = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8), "RGB").resize((w, h), Image.BICUBIC)
        draw = ImageDraw.Draw(field)
        for _ in range(12):
            x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
            x1, y1 = x0 + int(rng.integers(w // 20, w // 3)), y0 + int(rng.integers(h // 20, h // 3))
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)([x0, y0, x1, y1], fill=colour)
        field = field.filter(ImageFilter.GaussianBlur(radius=max(1, w // 800)))
        arr = np.asarray(field, dtype=np.int16)
        noise = rng.normal(0, 6, (h, w, 1)).astype(np.int16)  # luminance grain, as a camera sensor
        photo = Image.fromarray(np.clip(arr + noise, 0, 255).astype(np.uint8), "RGB")
        path = os.path.join(folder, f"photo_{i:02d}_{w}x{h}.jpg")
        photo.save(path, "JPEG", quality=quality)
        paths.append(path)
    return sorted(paths)


def load_photos(folder: str, captioner=None, limit: int | None = None) -> list:
    """The image files of ``folder`` (sorted by name, at most ``limit``) as the RGB PIL images the
    worker would give ``captioner``: mlcore.images.load_image at the captioner's target size. Files
    that are not accepted images are skipped."""
    from mlcore.images import (
        DEFAULT_MAX_PIXELS,
        ImageLoadError,
        captioner_target_size,
        load_image,
    )

    target = captioner_target_size(captioner)
    out = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            continue
        try:
            out.append(load_image(path, max_pixels=DEFAULT_MAX_PIXELS, target_size=target).image)
        except ImageLoadError:
            continue
        if limit and len(out) >= limit:
            break
    return out


def peak_reset(device: str = "cpu") -> None:
    """Reset the peak memory figure: CUDA's allocator peak, or on Linux the process VmHWM."""
    import torch

    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    else:
        try:  # Linux: writing 5 resets the peak resident set size (VmHWM)
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
        except OSError:
            pass


def peak_mib(device: str = "cpu") -> float | None:
    """Peak memory since the last ``peak_reset`` in MiB (CUDA allocated, or VmHWM on Linux)."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return peak_rss_mib()


def peak_rss_mib() -> float | None:
    """This process's peak resident set size (VmHWM) in MiB; None where /proc is not there."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def naive_caption(captioner, images, params) -> list[str]:
    """The seed's path: one image per call, processor + generate, fp32, decode."""
    import torch

    model, proc, tok = captioner.model, captioner.image_processor, captioner.tokenizer
    kw = captioner.generation_kwargs(params)
    kw.update(output_logits=False, return_dict_in_generate=False, num_return_sequences=1)
    prompt = captioner.caption_prompt(params) if hasattr(captioner, "caption_prompt") else None
    out = []
    for img in images:
        pix = proc(images=img, return_tensors="pt")["pixel_values"].to(captioner.device)
        extra = {}
        if prompt:  # BLIP's conditional prompt ("a picture of "), as the model card shows it
            extra = {k: v.to(captioner.device) for k, v in tok([prompt], return_tensors="pt").items()
                     if k in ("input_ids", "attention_mask")}
        with torch.no_grad():
            seq = model.generate(pixel_values=pix, **extra, **kw)
        # BLIP's generate drops the prompt's trailing [SEP]: the continuation starts at len - 1
        skip = extra["input_ids"].shape[1] - 1 if prompt else 0
        out.append(tok.decode(seq[0][skip:], skip_special_tokens=True).strip())
    return out


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def run(
    captioner=None,
    naive=None,
    images=None,
    batch_sizes=(1, 4, 8, 16),
    beams=(1, 3),
    max_length: int = 20,
    n_images: int = 16,
    n_naive: int | None = None,
    int8: bool = False,
    bf16: bool = False,
    repeats: int = 2,
    log=print,
) -> dict[str, Any]:
    import torch

    from mlcore.params import GenerationParams

    from .testing import make_test_images

    device = captioner.device
    original_batch = captioner.max_batch_size
    images = images or make_test_images(n_images, size=(640, 480), seed=1)
    n_naive = min(n_naive or len(images), len(images))
    rows: list[dict[str, Any]] = []
    extras: list[tuple[str, Any]] = []  # (label, captioner) compared with fp32 captions
    if device == "cpu":
        from mlcore.predictors.hf import HFCaptioner, quantize_dynamic_int8

        def variant(model, dtype):
            return HFCaptioner(model, captioner.image_processor, captioner.tokenizer, arch=captioner.arch,
                               model_id=captioner.model_id, model_version=captioner.model_version + "-" + dtype,
                               device="cpu", dtype=dtype)

        if bf16:
            import copy

            extras.append(("ours bfloat16", variant(copy.deepcopy(captioner.model).to(torch.bfloat16), "bfloat16")))
        if int8:
            extras.append(("ours int8 (dynamic)", variant(quantize_dynamic_int8(captioner.model), "int8")))
    for nb in beams:
        # min_length = max_length: random weights would otherwise stop at arbitrary lengths, and
        # both paths must do the same work.
        params = GenerationParams(num_beams=nb, max_length=max_length, min_length=max_length, num_alternatives=1)
        naive_cap = naive or captioner
        naive_caption(naive_cap, images[:1], params)  # warm-up
        best: dict[Any, dict[str, Any]] = {}
        naive_texts: list[str] = []
        ref_texts: list[str] = []
        # Rounds alternate the paths and keep each one's best, so a busy shared machine penalises
        # neither side more than the other.
        for _ in range(max(1, repeats)):
            peak_reset(device)
            _sync(device)
            t0, c0 = time.perf_counter(), time.process_time()
            naive_texts = naive_caption(naive_cap, images[:n_naive], params)
            _sync(device)
            ips = n_naive / (time.perf_counter() - t0)
            cpu = (time.process_time() - c0) / n_naive
            if ips > best.get("naive", {}).get("img_s", 0):
                best["naive"] = {"beams": nb, "path": "naive fp32 x1", "batch": 1, "img_s": ips,
                                 "peak_mib": peak_mib(device)}
            best["naive"]["cpu_s"] = min(cpu, best["naive"].get("cpu_s", cpu))
            for bs in batch_sizes:
                captioner.max_batch_size = bs
                captioner.caption(images[: min(bs, 2)], params)  # warm-up
                peak_reset(device)
                _sync(device)
                t0, c0 = time.perf_counter(), time.process_time()
                res = captioner.caption(images, params)
                _sync(device)
                ips = len(images) / (time.perf_counter() - t0)
                cpu = (time.process_time() - c0) / len(images)
                texts = [r.raw_text for r in res]
                ref_texts = ref_texts or texts
                if ips > best.get(bs, {}).get("img_s", 0):
                    best[bs] = {"beams": nb, "path": f"ours {captioner.dtype}", "batch": bs, "img_s": ips,
                                "peak_mib": peak_mib(device),
                                "same_as_naive": sum(a == b for a, b in zip(texts[:n_naive], naive_texts, strict=False)) / n_naive}
                best[bs]["cpu_s"] = min(cpu, best[bs].get("cpu_s", cpu))
            for label, extra in extras:
                bs = max(batch_sizes)
                extra.max_batch_size = bs
                extra.caption(images[:2], params)
                peak_reset(device)
                t0, c0 = time.perf_counter(), time.process_time()
                res = extra.caption(images, params)
                ips = len(images) / (time.perf_counter() - t0)
                cpu = (time.process_time() - c0) / len(images)
                differ = sum(r.raw_text != t for r, t in zip(res, ref_texts, strict=False)) / len(images)
                if ips > best.get(label, {}).get("img_s", 0):
                    best[label] = {"beams": nb, "path": label, "batch": bs, "img_s": ips,
                                   "peak_mib": peak_mib(device), "differs_from_fp32": differ}
                best[label]["cpu_s"] = min(cpu, best[label].get("cpu_s", cpu))
        naive_ips = best["naive"]["img_s"]
        for key in ["naive", *batch_sizes, *[label for label, _ in extras]]:
            row = dict(best[key], ratio=best[key]["img_s"] / naive_ips)
            row["cpu_ratio"] = best["naive"]["cpu_s"] / best[key]["cpu_s"] if best[key].get("cpu_s") else None
            rows.append(row)
            log(_fmt(row))
    captioner.max_batch_size = original_batch
    return {
        "machine": _machine(device),
        "model_id": captioner.model_id,
        "n_images": len(images),
        "n_naive": n_naive,
        "max_length": max_length,
        "torch": torch.__version__,
        "rows": rows,
    }


def _fmt(row: dict[str, Any]) -> str:
    extra = ""
    if "same_as_naive" in row:
        extra = f"  same captions as naive: {row['same_as_naive']:.0%}"
    if "differs_from_fp32" in row:
        extra = f"  captions differing from fp32: {row['differs_from_fp32']:.0%}"
    peak = f"{row['peak_mib']:.0f}" if row.get("peak_mib") else "-"
    cpu = f"  cpu {row['cpu_s']:.2f} s/img (x{row['cpu_ratio']:.2f})" if row.get("cpu_s") and row.get("cpu_ratio") else ""
    return (f"beams={row['beams']}  {row['path']:<22} batch={row['batch']:<4} {row['img_s']:8.3f} img/s  "
            f"x{row['ratio']:5.2f}{cpu}  peak {peak} MiB{extra}")


def _machine(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}"
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, torch threads {torch.get_num_threads()}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="spec to load (default: random BLIP-base architecture)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--dtype", default=None, help="dtype of our path (default: best for the device)")
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--naive-images", type=int, default=None, help="images for the naive path (default: all)")
    ap.add_argument("--batch-sizes", default=None, help="e.g. 1,2,4,8,16,32,64 (default: 1,4,16 CPU; 1..256 GPU)")
    ap.add_argument("--beams", default="1,3")
    ap.add_argument("--max-length", type=int, default=20)
    ap.add_argument("--int8", action="store_true", help="CPU: also int8 dynamic quantisation")
    ap.add_argument("--bf16", action="store_true", help="CPU: also a bfloat16 copy (fast on AVX512-BF16/AMX CPUs)")
    ap.add_argument("--repeats", type=int, default=2, help="alternating rounds; the best of each is kept")
    ap.add_argument("--json", default=None, help="write the results here")
    ap.add_argument("--photos", default=None, help="a folder of photos to use instead of synthetic 640x480 images")
    args = ap.parse_args(argv)

    from mlcore.hfutils import resolve_device, resolve_dtype

    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    if args.batch_sizes:
        batch_sizes = [int(x) for x in args.batch_sizes.split(",")]
    else:
        batch_sizes = [1, 4, 16, 64, 256] if device.startswith("cuda") else [1, 4, 16]
    if args.model:
        from mlcore.predictors.hf import HFCaptioner

        ours = HFCaptioner.from_pretrained(args.model, device=device, dtype=dtype)
        naive = HFCaptioner.from_pretrained(args.model, device=device, dtype="float32") if dtype != "float32" else ours
    else:
        ours = random_blip_base(device, dtype)
        naive = random_blip_base(device, "float32") if dtype != "float32" else ours
    photos = load_photos(args.photos, ours, args.images) if args.photos else None
    if args.photos and not photos:
        print(f"No accepted image files in {args.photos}", file=sys.stderr)
        return 2
    shown = f"{len(photos)} photos from {args.photos}" if photos else f"{args.images} images 640x480"
    print(f"# benchmarks.bench: {ours.model_id} on {_machine(device)}; {shown}, "
          f"max_length={args.max_length} (= min_length), ours: {dtype}", flush=True)
    out = run(ours, naive, images=photos, batch_sizes=batch_sizes, beams=[int(b) for b in args.beams.split(",")],
              max_length=args.max_length, n_images=args.images, n_naive=args.naive_images, int8=args.int8,
              bf16=args.bf16, repeats=args.repeats,
              log=lambda s: print(s, flush=True))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
