"""The worker-path benchmark behind `manage.py benchmark --worker-path`: plain transformers against
submit + captions.services.worker.caption_pending_run, in one process, on the same photos and params.

(a) plain: for each photo, PIL open + convert("RGB") at full size, then the processor + generate of
    a float32 copy of the model on the worker's device, one image per call (benchmarks.bench.naive_caption);
(b) worker: image_submit of the photo files (real rows, real storage in a temporary MEDIA_ROOT,
    owned by a throwaway user) then caption_pending_run with the site's settings (CAPTION_DTYPE,
    CAPTION_BATCH_SIZE), which reads each stored file, decodes it at the model's size, captions
    the batch and records the captions.

Rounds alternate (a) and (b) and keep each one's best round, so a shared machine penalises
neither side more than the other. Everything the run creates (user, images, captions, files,
heartbeat) is deleted at the end.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

BENCHMARK_DOMAIN = "@benchmark.invalid"  # the throwaway users' e-mail domain
PHASES = ("claim_ms", "read_ms", "decode_ms", "preprocess_ms", "generate_ms", "record_ms")


@dataclass
class PathFigures:
    """One measured path: wall seconds, images per second, peak RSS (MiB, VmHWM since reset)."""

    label: str
    seconds: float
    images: int
    peak_rss_mib: float | None
    submit_seconds: float = 0.0
    phases_ms: dict[str, float] = field(default_factory=dict)  # per image

    @property
    def img_s(self) -> float:
        return self.images / self.seconds if self.seconds else 0.0


def photo_paths(folder: str) -> list[str]:
    """The files of ``folder`` (sorted by name) that are images by their extension."""
    extensions = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
    return sorted(
        os.path.join(folder, name) for name in os.listdir(folder)
        if name.lower().endswith(extensions) and os.path.isfile(os.path.join(folder, name))
    )


def _plain(captioner, paths: list[str], params) -> PathFigures:
    from PIL import Image as PILImage

    from benchmarks.bench import naive_caption, peak_mib, peak_reset

    peak_reset()
    started = time.perf_counter()
    for path in paths:
        with PILImage.open(path) as handle:
            rgb = handle.convert("RGB")
        naive_caption(captioner, [rgb], params)
    return PathFigures("plain transformers fp32", time.perf_counter() - started, len(paths), peak_mib())


def _worker(owner, paths: list[str], params: dict, spec: str) -> PathFigures:
    from django.conf import settings
    from django.core.files.uploadedfile import SimpleUploadedFile

    from benchmarks.bench import peak_mib, peak_reset
    from captions.caption_request import caption_request_check
    from captions.models import Image
    from captions.services.submission import image_submit
    from captions.services.worker import caption_pending_run

    Image.objects.filter(owner=owner).delete()  # the previous round's rows (and their captions)
    peak_reset()
    started = time.perf_counter()
    accepted = 0
    request = caption_request_check({"model": spec, **params}, offered_model=False)
    step = max(1, settings.MAX_FILES_PER_UPLOAD)
    for first in range(0, len(paths), step):
        files = []
        for path in paths[first:first + step]:
            with open(path, "rb") as handle:
                files.append(SimpleUploadedFile(os.path.basename(path), handle.read()))
        result = image_submit(owner=owner, files=files, request=request)
        if result.refused:
            raise RuntimeError("; ".join(f"{r.filename}: {r.reason}" for r in result.refused))
        accepted += len(result.accepted)
    submitted = time.perf_counter()
    summary = caption_pending_run(worker_id=f"benchmark-{owner.pk}")
    finished = time.perf_counter()
    if summary.captioned != accepted:
        errors = list(Image.objects.filter(owner=owner).exclude(error="").values_list("error", flat=True)[:3])
        raise RuntimeError(f"the worker captioned {summary.captioned} of {accepted} images: {errors}")
    phases = {phase: summary.timings_ms.get(phase, 0.0) / accepted for phase in PHASES}
    return PathFigures("worker path", finished - submitted, accepted, peak_mib(),
                       submit_seconds=submitted - started, phases_ms=phases)


def run(
    *,
    photos: list[str],
    spec: str,
    beams: list[int],
    max_length: int,
    repeats: int,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Measure both paths for each beam count; returns {'worker': info, 'rows': [...]}.

    Raises RuntimeError when the worker does not caption every photo (the reason of the first
    failures is in the message)."""
    from django.conf import settings
    from django.test import override_settings

    import mlcore
    from accounts.models import User
    from captions import inference
    from captions.models import Image
    from mlcore.images import ImageLoadError, load_image
    from monitoring.models import WorkerHeartbeat

    for path in photos:  # a refused photo would fail the worker path only: refuse the run at once
        try:
            load_image(path, max_pixels=settings.MAX_IMAGE_PIXELS, target_size=384)
        except ImageLoadError as error:
            raise RuntimeError(f"{os.path.basename(path)}: {error}") from None
    # an earlier run that was killed before its clean-up: its throwaway user, rows and heartbeat
    for stale in User.objects.filter(email__endswith=BENCHMARK_DOMAIN):
        Image.objects.filter(owner=stale).delete()
        WorkerHeartbeat.objects.filter(worker_id=f"benchmark-{stale.pk}").delete()
        stale.delete()
    waiting = Image.objects.filter(status__in=[Image.Status.QUEUED, Image.Status.PROCESSING]).count()
    if waiting:
        raise RuntimeError(
            f"{waiting} images are queued or being captioned in this database; the benchmark's worker would take "
            "them too. Run it against an idle database (e.g. VAR_DIR=/tmp/bench-var after manage.py migrate)."
        )
    # plain transformers in fp32 on the worker's device (CAPTION_DEVICE; CPU or CUDA)
    plain_captioner = mlcore.load_captioner(spec, device=settings.CAPTION_DEVICE, dtype="float32")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="captionsite-bench-media-") as media, \
            override_settings(MEDIA_ROOT=media):
        owner = User.objects.create(email=f"benchmark-{uuid.uuid4().hex[:12]}{BENCHMARK_DOMAIN}")
        owner.set_unusable_password()
        owner.save()
        try:
            worker_captioner = inference.captioner_for(spec)
            info = worker_captioner.info()
            log(f"# worker captioner: {info['model_id']} on {info['device']} in {info['dtype']} "
                f"({info['dtype_reason']}), batch {settings.CAPTION_BATCH_SIZE}; plain: float32, one image per call")
            for nb in beams:
                params = {"num_beams": nb, "max_length": max_length, "min_length": max_length,
                          "num_alternatives": 1}
                gp = mlcore.GenerationParams.from_dict(params)
                _plain(plain_captioner, photos[:1], gp)  # warm-up
                _worker(owner, photos[:2], params, spec)
                best: dict[str, PathFigures] = {}
                for _ in range(max(1, repeats)):
                    measured = [_plain(plain_captioner, photos, gp), _worker(owner, photos, params, spec)]
                    log(f"  beams={nb} round: " + ", ".join(f"{f.label} {f.img_s:.3f} img/s" for f in measured))
                    for figures in measured:
                        kept = best.get(figures.label)
                        if kept is None or figures.img_s > kept.img_s:
                            best[figures.label] = figures
                plain = best.pop("plain transformers fp32")
                worker = best["worker path"]
                row = {
                    "beams": nb,
                    "images": len(photos),
                    "plain_img_s": plain.img_s,
                    "plain_peak_rss_mib": plain.peak_rss_mib,
                    "worker_img_s": worker.img_s,
                    "worker_peak_rss_mib": worker.peak_rss_mib,
                    "ratio": worker.img_s / plain.img_s,
                    "submit_ms_per_image": worker.submit_seconds * 1000 / worker.images,
                    "ratio_with_submit": (worker.images / (worker.seconds + worker.submit_seconds)) / plain.img_s,
                    "worker_ms_per_image": worker.phases_ms,
                }
                rows.append(row)
                log(format_row(row))
        finally:
            Image.objects.filter(owner=owner).delete()
            WorkerHeartbeat.objects.filter(worker_id=f"benchmark-{owner.pk}").delete()
            owner.delete()
    return {"worker": info, "rows": rows}


def format_row(row: dict[str, Any]) -> str:
    phases = "  ".join(f"{name[:-3]} {row['worker_ms_per_image'].get(name, 0.0):.0f}" for name in PHASES)
    return (
        f"beams={row['beams']}  plain {row['plain_img_s']:.3f} img/s (peak RSS {row['plain_peak_rss_mib'] or 0:.0f} MiB)  "
        f"worker {row['worker_img_s']:.3f} img/s (peak RSS {row['worker_peak_rss_mib'] or 0:.0f} MiB)  "
        f"x{row['ratio']:.2f}  (x{row['ratio_with_submit']:.2f} with submit, {row['submit_ms_per_image']:.0f} ms/img)\n"
        f"         worker ms per image: {phases}"
    )
