"""Writes of the monitoring app."""

import json
from pathlib import Path

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from monitoring.models import EvaluationRun


def evaluation_run_record(
    *,
    model_spec: str,
    dataset: str,
    annotations_path: str,
    images_dir: str,
    result: dict | None = None,
    params: dict | None = None,
    error: str = "",
    duration_seconds: float | None = None,
) -> EvaluationRun:
    """Store one evaluation: its scores and, as a file, every image's caption and references.

    `result` is what mlcore.metrics.evaluate returns; without it (error set) the run is
    recorded as failed, so a broken model shows up in the comparison instead of vanishing.
    """
    result = result or {}
    scores = {name: float(value) for name, value in (result.get("scores") or {}).items() if _is_number(value)}
    captions_path = ""
    if result:
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        name = f"evaluations/{stamp}-{slugify(dataset)[:40] or 'dataset'}-{slugify(Path(model_spec).name)[:60] or 'model'}.json"
        captions_path = default_storage.save(name, ContentFile(json.dumps(result, indent=2, default=str).encode()))
    try:
        with transaction.atomic():
            return EvaluationRun.objects.create(
                model_spec=model_spec[:300],
                model_id=str(result.get("model_id") or "")[:300],
                model_version=str(result.get("model_version") or "")[:64],
                dataset=dataset[:300],
                annotations_path=annotations_path[:500],
                images_dir=images_dir[:500],
                image_count=int(result.get("n_images") or 0),
                params=params if params is not None else dict(result.get("params") or {}),
                scores=scores,
                captions_file=captions_path,
                status=EvaluationRun.Status.FAILED if error else EvaluationRun.Status.DONE,
                error=error,
                duration_seconds=duration_seconds if duration_seconds is not None else result.get("seconds"),
            )
    except Exception:
        if captions_path:
            default_storage.delete(captions_path)
        raise


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
