"""Peak memory of decoding big photos, as the web process and the caption worker do it.

Makes (in a throw-away process) a 200-megapixel baseline JPEG (16384x12208, what 200 MP phone
sensors write), the same as a progressive JPEG, and a 100-megapixel PNG (12000x8334), then for
each file starts a fresh Python process that runs exactly what the site runs:

  web     captions.imaging.decode_image(file, MAX_IMAGE_PIXELS, target_size=THUMBNAIL_SIZE,
          fit=2*THUMBNAIL_SIZE) and make_thumbnail, as captions.services.submission does per file
  worker  decode_image(the stored file, MAX_IMAGE_PIXELS, target_size=384) (BLIP's input), as
          captions.inference does

and reports its peak RSS (getrusage ru_maxrss) minus its RSS after the imports, and the peak RSS
of the child process that decodes an image without reduced decoding (DECODE_IN_PROCESS_MAX_PIXELS).
``--in-process`` sets DECODE_IN_PROCESS_MAX_PIXELS above the images, to compare with decoding them
in the process itself. Not a test: numbers depend on the machine and Pillow's build.

    .venv/bin/python scripts/bench_big_photos.py [--in-process] [--keep DIR]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

MAKE = r"""
import sys
from PIL import Image, ImageFilter
kind, path = sys.argv[1], sys.argv[2]
width, height = (16384, 12208) if kind.startswith("jpeg") else (12000, 8334)
horizontal = Image.linear_gradient("L").rotate(90).resize((width, height))
vertical = Image.linear_gradient("L").resize((width, height))
texture = Image.effect_noise((width, height), 40)
picture = Image.merge("RGB", (horizontal, vertical, texture))
if kind == "jpeg":
    picture.save(path, "JPEG", quality=85)
elif kind == "jpeg-progressive":
    picture.save(path, "JPEG", quality=85, progressive=True)
else:
    picture.save(path, "PNG", compress_level=1)
"""

MEASURE = r"""
import json, os, resource, sys
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "captionsite.settings")
django.setup()
from django.conf import settings
from captions.imaging import decode_image, make_thumbnail

def rss_kib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

role, path = sys.argv[1], sys.argv[2]
base = rss_kib()
if role == "web":
    with open(path, "rb") as handle:
        decoded = decode_image(handle, max_pixels=settings.MAX_IMAGE_PIXELS, target_size=settings.THUMBNAIL_SIZE,
                               fit=2 * settings.THUMBNAIL_SIZE)
        thumbnail = make_thumbnail(decoded.image, size=settings.THUMBNAIL_SIZE)
else:
    with open(path, "rb") as handle:
        decoded = decode_image(handle, max_pixels=settings.MAX_IMAGE_PIXELS, target_size=384)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"base_mib": base / 1024, "peak_growth_mib": (peak - base) / 1024, "child_peak_mib": child / 1024,
                  "decoded": list(decoded.image.size), "full": [decoded.width, decoded.height]}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--in-process", action="store_true", help="decode every image in the measured process")
    parser.add_argument("--keep", help="folder to keep (and reuse) the generated images in")
    args = parser.parse_args()
    folder = Path(args.keep or tempfile.mkdtemp(prefix="bigphotos-"))
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MAX_IMAGE_PIXELS": "250000000", "MAX_UPLOAD_BYTES": str(200 * 1024 * 1024)}
    if args.in_process:
        env["DECODE_IN_PROCESS_MAX_PIXELS"] = str(10**12)
    files = {"200 MP JPEG": ("jpeg", folder / "200mp.jpg"),
             "200 MP progressive JPEG": ("jpeg-progressive", folder / "200mp-progressive.jpg"),
             "100 MP PNG": ("png", folder / "100mp.png")}
    for label, (kind, path) in files.items():
        if not path.exists():
            subprocess.run([sys.executable, "-c", MAKE, kind, str(path)], check=True)
        print(f"{label}: {path.stat().st_size / 2**20:.1f} MiB on disk")
    print(f"{'file':<26}{'role':<8}{'base':>8}{'growth':>9}{'child':>9}  decoded")
    for label, (_, path) in files.items():
        for role in ("web", "worker"):
            out = subprocess.run([sys.executable, "-c", MEASURE, role, str(path)], env=env, cwd=REPO,
                                 capture_output=True, text=True, check=True).stdout
            result = json.loads(out.strip().splitlines()[-1])
            print(f"{label:<26}{role:<8}{result['base_mib']:>7.0f}M{result['peak_growth_mib']:>8.0f}M"
                  f"{result['child_peak_mib']:>8.0f}M  {result['decoded']} of {result['full']}")
    if not args.keep:
        for _, path in files.values():
            path.unlink()
        folder.rmdir()


if __name__ == "__main__":
    main()
