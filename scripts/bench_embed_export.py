"""Memory of an export with alt text embedded: 1,000 images (default) streamed as one zip.

Builds a throw-away site (its own VAR_DIR: SQLite database and media folder), stores N JPEGs of
WIDTHxHEIGHT with a caption in three languages each, then reads the batch's `format=zip` export
through the website's view (the Django test client, as a browser downloads it), consuming the
stream chunk by chunk and discarding it. Samples the process's RSS (psutil, every 5 ms) and prints
the peak growth over the RSS before the download, the bytes streamed and the time. The export
holds one image and its embedded copy at a time, so the growth should not depend on N.
Not a test: numbers depend on the machine.

    .venv/bin/python scripts/bench_embed_export.py [--count 1000] [--width 1600 --height 1200]
"""

import argparse
import io
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--height", type=int, default=1200)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench-embed-"))
    os.environ.update({"VAR_DIR": str(root), "DJANGO_SETTINGS_MODULE": "captionsite.settings",
                       "DATABASE_URL": f"sqlite:///{root / 'db.sqlite3'}", "MEDIA_ROOT": str(root / "media")})
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from django.urls import reverse
    from PIL import Image as PILImage

    from accounts.models import User
    from captions.models import Batch, Caption, Image

    call_command("migrate", verbosity=0)
    user = User.objects.create(email="bench@example.com")
    batch = Batch.objects.create(owner=user)
    media = Path(os.environ["MEDIA_ROOT"]) / "images"
    media.mkdir(parents=True)
    noise = PILImage.effect_noise((args.width, args.height), 60).convert("RGB")
    buffer = io.BytesIO()
    noise.save(buffer, format="JPEG", quality=90)
    data = buffer.getvalue()
    for index in range(args.count):
        (media / f"{index}.jpg").write_bytes(data)
    images = Image.objects.bulk_create(
        Image(owner=user, batch=batch, file=f"images/{index}.jpg", original_filename=f"photos/{index}.jpg",
              sha256="0" * 64, width=args.width, height=args.height, format="JPEG", byte_size=len(data),
              status=Image.Status.DONE, available_at=batch.created_at)
        for index in range(args.count)
    )
    for image in images:
        Caption.objects.create(image=image, text="A grainy grey photograph of nothing in particular", language="ja")
        Caption.objects.create(image=image, text="صورة رمادية محببة", language="ar")
        current = Caption.objects.create(image=image, text="A grainy grey photograph, " + "x" * 200, language="en")
        Image.objects.filter(pk=image.pk).update(current_caption=current)

    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    process = psutil.Process()
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.005)

    url = reverse("captions:batch_export", args=[batch.pk])
    client.get(url, {"format": "csv"})  # imports and first queries before the baseline
    baseline = process.memory_info().rss
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    response = client.get(url, {"format": "zip"})
    streamed = 0
    for chunk in response.streaming_content:
        streamed += len(chunk)
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    print(f"images: {args.count} JPEG {args.width}x{args.height} ({len(data) / 1024:.0f} KiB each), "
          f"3 languages each")
    print(f"streamed: {streamed / 2**20:.1f} MiB in {elapsed:.1f} s ({args.count / elapsed:.0f} images/s)")
    print(f"RSS before: {baseline / 2**20:.1f} MiB; peak growth during the export: {(peak[0] - baseline) / 2**20:.1f} MiB")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
