"""The fair benchmark behind `manage.py benchmark --worker-path`: the product's whole path against
a competent plain transformers script, in one process, on the same photos, params, dtype and batch.

(a) script: what a competent transformers user writes: the model's class from_pretrained in the
    worker's dtype (bf16 where the CPU has native bf16), SDPA attention where the model supports
    it, batches of CAPTION_BATCH_SIZE, PIL open + convert("RGB") at full size, the processor,
    ``generate`` under ``torch.inference_mode``, ``batch_decode``;
(b) worker: image_submit of the photo files (real rows, real storage in a temporary MEDIA_ROOT,
    owned by a throwaway user) then caption_pending_run with the site's settings (CAPTION_DTYPE,
    CAPTION_BATCH_SIZE, CAPTION_ENGINE), which reads each stored file, decodes it at the model's
    size, captions the batch (with confidence scores) and records the captions;
(c) optionally (``strawman=True``) the seed's path: fp32, one image per ``generate``. It changes
    dtype and batch at once, so it is only ever shown as a labelled row, never as the ratio.

Rounds alternate the paths; each path keeps its best and its median round. Wall seconds and the
process's CPU seconds (all threads) are measured per path, with the load average before and after,
so a shared machine penalises neither side more than the other and the reader sees how busy it was.
Everything the run creates (user, images, captions, files, heartbeat) is deleted at the end.
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
SCRIPT = "plain transformers script (same dtype, same batch)"
WORKER = "captionsite whole path (submit + worker + record)"
STRAWMAN = "seed baseline: fp32, one image per generate (changes dtype AND batch)"
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
    cpu_seconds: float = 0.0  # process CPU time (all threads) over the timed part
    captions: list[str] = field(default_factory=list)

    @property
    def img_s(self) -> float:
        return self.images / self.seconds if self.seconds else 0.0

    @property
    def cpu_s_per_image(self) -> float:
        return self.cpu_seconds / self.images if self.images else 0.0


def photo_paths(folder: str) -> list[str]:
    """The files of ``folder`` (sorted by name) that are images by their extension."""
    extensions = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
    return sorted(
        os.path.join(folder, name) for name in os.listdir(folder)
        if name.lower().endswith(extensions) and os.path.isfile(os.path.join(folder, name))
    )


def _strawman(captioner, paths: list[str], params) -> PathFigures:
    from PIL import Image as PILImage

    from benchmarks.bench import naive_caption, peak_mib, peak_reset

    peak_reset()
    started, cpu = time.perf_counter(), time.process_time()
    for path in paths:
        with PILImage.open(path) as handle:
            rgb = handle.convert("RGB")
        naive_caption(captioner, [rgb], params)
    return PathFigures(STRAWMAN, time.perf_counter() - started, len(paths), peak_mib(),
                       cpu_seconds=time.process_time() - cpu)


class CompetentScript:
    """A plain transformers captioning script as a competent user writes it (see the module doc)."""

    def __init__(self, source: str, *, device: str, dtype: str, prompt: str | None):
        import torch
        import transformers
        from transformers import AutoConfig, AutoProcessor

        from mlcore.hfutils import quiet_transformers, torch_dtype
        from mlcore.predictors.hf import ARCHITECTURES

        with quiet_transformers():
            config = AutoConfig.from_pretrained(source)
            cls = getattr(transformers, ARCHITECTURES[config.model_type][0])
            self.attention = "sdpa" if getattr(cls, "_supports_sdpa", False) else "eager"
            self.model = cls.from_pretrained(source, dtype=torch_dtype(dtype), attn_implementation=self.attention)
            self.processor = AutoProcessor.from_pretrained(source)
        self.model.eval().to(device)
        self.device, self.dtype, self.prompt = device, torch_dtype(dtype), prompt
        self._torch = torch

    def caption(self, paths: list[str], *, batch: int, num_beams: int, max_new_tokens: int,
                min_new_tokens: int) -> list[str]:
        from PIL import Image as PILImage

        out: list[str] = []
        for first in range(0, len(paths), batch):
            images = []
            for path in paths[first:first + batch]:
                with PILImage.open(path) as handle:
                    images.append(handle.convert("RGB"))
            kw = {"images": images, "return_tensors": "pt"}
            if self.prompt:
                kw["text"] = [self.prompt] * len(images)
            inputs = self.processor(**kw).to(self.device, self.dtype)
            with self._torch.inference_mode():
                ids = self.model.generate(**inputs, num_beams=num_beams, max_new_tokens=max_new_tokens,
                                          min_new_tokens=min_new_tokens)
            out += [t.strip() for t in self.processor.batch_decode(ids, skip_special_tokens=True)]
        return out


def _script(script: CompetentScript, paths: list[str], params, batch: int) -> PathFigures:
    from benchmarks.bench import peak_mib, peak_reset

    peak_reset()
    started, cpu = time.perf_counter(), time.process_time()
    captions = script.caption(paths, batch=batch, num_beams=params.num_beams, max_new_tokens=params.max_length,
                              min_new_tokens=max(params.min_length, 1))
    return PathFigures(SCRIPT, time.perf_counter() - started, len(paths), peak_mib(),
                       cpu_seconds=time.process_time() - cpu, captions=captions)


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
    cpu = time.process_time()
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
    cpu_seconds = time.process_time() - cpu
    if summary.captioned != accepted:
        errors = list(Image.objects.filter(owner=owner).exclude(error="").values_list("error", flat=True)[:3])
        raise RuntimeError(f"the worker captioned {summary.captioned} of {accepted} images: {errors}")
    phases = {phase: summary.timings_ms.get(phase, 0.0) / accepted for phase in PHASES}
    # the whole path: submit (store, validate, rows) + worker (read, decode, caption, record)
    return PathFigures(WORKER, finished - started, accepted, peak_mib(),
                       submit_seconds=submitted - started, phases_ms=phases, cpu_seconds=cpu_seconds)


def run(
    *,
    photos: list[str],
    spec: str,
    beams: list[int],
    max_length: int,
    repeats: int,
    log: Callable[[str], None] = print,
    strawman: bool = False,
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
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="captionsite-bench-media-") as media, \
            override_settings(MEDIA_ROOT=media):
        owner = User.objects.create(email=f"benchmark-{uuid.uuid4().hex[:12]}{BENCHMARK_DOMAIN}")
        owner.set_unusable_password()
        owner.save()
        try:
            worker_captioner = inference.captioner_for(spec)
            info = worker_captioner.info()
            batch = settings.CAPTION_BATCH_SIZE
            gp0 = mlcore.GenerationParams.from_dict({"max_length": max_length, "min_length": max_length})
            prompt = worker_captioner.caption_prompt(gp0) if hasattr(worker_captioner, "caption_prompt") else None
            source = getattr(worker_captioner, "model_id", None) or spec
            script = CompetentScript(source, device=info["device"], dtype=_plain_dtype(info["dtype"]), prompt=prompt)
            strawman_captioner = (mlcore.load_captioner(spec, device=settings.CAPTION_DEVICE, dtype="float32")
                                  if strawman else None)
            log(f"# worker captioner: {info['model_id']} on {info['device']} in {info['dtype']} "
                f"({info['dtype_reason']}), vision encoder {info.get('vision_engine') or 'torch'} "
                f"({info.get('vision_engine_reason') or 'n/a'}), batch {batch}; script: {_plain_dtype(info['dtype'])}, batch {batch}, "
                f"{script.attention} attention; torch threads {_threads()}; load average {_loadavg()}")
            for nb in beams:
                params = {"num_beams": nb, "max_length": max_length, "min_length": max_length,
                          "num_alternatives": 1}
                gp = mlcore.GenerationParams.from_dict(params)
                _script(script, photos[:2], gp, batch)  # warm-up
                _worker(owner, photos[:2], params, spec)
                if strawman_captioner is not None:
                    _strawman(strawman_captioner, photos[:1], gp)
                rounds: dict[str, list[PathFigures]] = {}
                load_before = _loadavg()
                for _ in range(max(1, repeats)):
                    measured = [_script(script, photos, gp, batch), _worker(owner, photos, params, spec)]
                    if strawman_captioner is not None:
                        measured.append(_strawman(strawman_captioner, photos, gp))
                    log(f"  beams={nb} round: " + ", ".join(
                        f"{f.label.split(' (')[0]} {f.img_s:.3f} img/s {f.cpu_s_per_image:.2f} CPU-s/img" for f in measured))
                    for figures in measured:
                        rounds.setdefault(figures.label, []).append(figures)
                row = _row(nb, photos, rounds, load_before, _loadavg())
                rows.append(row)
                log(format_row(row))
        finally:
            Image.objects.filter(owner=owner).delete()
            WorkerHeartbeat.objects.filter(worker_id=f"benchmark-{owner.pk}").delete()
            owner.delete()
    return {"worker": info, "rows": rows, "torch_threads": _threads(), "batch": settings.CAPTION_BATCH_SIZE}


def _plain_dtype(worker_dtype: str) -> str:
    """The script's dtype: the worker's, except int8/ONNX engines, where the script keeps the float
    dtype a user would pick on this machine (bf16 with native bf16, else fp32)."""
    from mlcore.hfutils import resolve_dtype

    return worker_dtype if worker_dtype in ("float32", "bfloat16", "float16") else resolve_dtype("auto", "cpu")


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def _loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def _summary(figures: list[PathFigures]) -> dict[str, Any]:
    """Best and median round of one path (by wall img/s), with CPU-s per image of each."""
    import statistics

    best = max(figures, key=lambda f: f.img_s)
    return {
        "label": best.label,
        "best_img_s": best.img_s,
        "median_img_s": statistics.median(f.img_s for f in figures),
        "best_cpu_s_per_image": min(f.cpu_s_per_image for f in figures),
        "median_cpu_s_per_image": statistics.median(f.cpu_s_per_image for f in figures),
        "peak_rss_mib": best.peak_rss_mib,
        "rounds": len(figures),
    }


def _row(nb: int, photos: list[str], rounds: dict[str, list[PathFigures]], load_before: str, load_after: str):
    script, worker = _summary(rounds[SCRIPT]), _summary(rounds[WORKER])
    last_worker = max(rounds[WORKER], key=lambda f: f.img_s)
    row: dict[str, Any] = {
        "beams": nb,
        "images": len(photos),
        "script": script,
        "worker": worker,
        "ratio_median": worker["median_img_s"] / script["median_img_s"],
        "ratio_best": worker["best_img_s"] / script["best_img_s"],
        "cpu_ratio_median": script["median_cpu_s_per_image"] / worker["median_cpu_s_per_image"],
        "submit_ms_per_image": last_worker.submit_seconds * 1000 / last_worker.images,
        "worker_ms_per_image": last_worker.phases_ms,
        "load_average_before": load_before,
        "load_average_after": load_after,
    }
    if STRAWMAN in rounds:
        row["strawman"] = _summary(rounds[STRAWMAN])
    return row


def format_row(row: dict[str, Any]) -> str:
    phases = "  ".join(f"{name[:-3]} {row['worker_ms_per_image'].get(name, 0.0):.0f}" for name in PHASES)
    lines = [f"beams={row['beams']}  {row['images']} photos  load average {row['load_average_before']} -> "
             f"{row['load_average_after']}"]
    for key in ("script", "worker", "strawman"):
        if key in row:
            f = row[key]
            lines.append(f"  {f['label']}: median {f['median_img_s']:.3f} img/s (best {f['best_img_s']:.3f}), "
                         f"{f['median_cpu_s_per_image']:.2f} CPU-s/image, peak RSS {f['peak_rss_mib'] or 0:.0f} MiB")
    lines.append(f"  ratio whole path / script: x{row['ratio_median']:.2f} wall (median; best x{row['ratio_best']:.2f}), "
                 f"x{row['cpu_ratio_median']:.2f} CPU-s per image")
    lines.append(f"  worker ms per image: submit {row['submit_ms_per_image']:.0f}  {phases}")
    return "\n".join(lines)
