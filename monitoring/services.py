"""Writes of the monitoring app."""

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from captions import inference
from captions.selectors import captioning_defaults
from captions.services.queue import worker_identity
from monitoring.models import EvaluationRun, WorkerHeartbeat

logger = logging.getLogger(__name__)


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


# --- Worker heartbeats ----------------------------------------------------------------------------


HEARTBEAT_KEEP = timedelta(days=1)
_UNCHANGED = object()


def worker_heartbeat_record(*, check_model: bool, worker_id: str | None = None, busy_since=_UNCHANGED):
    """Record that this worker process lives; with check_model, also whether it can load
    the active captioning model (captions.selectors.captioning_defaults), loading it once per
    process as captioning does; with busy_since (a time.time() or None: idle), whether it is
    captioning. Returns the WorkerHeartbeat row; older rows than a day go."""
    now = timezone.now()
    values: dict = {"seen_at": now}
    if busy_since is not _UNCHANGED:
        values["busy_since"] = (
            None if busy_since is None else datetime.fromtimestamp(busy_since, tz=UTC)
        )
    if check_model:
        spec = captioning_defaults().model_spec
        values.update(model_spec=spec, model_checked_at=now, model_id="", model_error="", model_info={})
        try:
            captioner = inference.captioner_for(spec)
        except inference.ModelUnavailable as error:
            values.update(model_ok=False, model_error=str(error))
        except Exception as error:  # any failure to load is the operator's to see, not a crash
            logger.exception("Loading %s for the heartbeat failed", spec)
            values.update(model_ok=False, model_error=f"{type(error).__name__}: {error}")
        else:
            # device, dtype and why ("auto: CPU has AVX512-BF16"): shown on the dashboard
            info = captioner.info() if hasattr(captioner, "info") else {}
            values.update(model_ok=True, model_id=captioner.model_id, model_info=_json_safe(info))
    heartbeat, _ = WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id or worker_identity(), defaults=values
    )
    WorkerHeartbeat.objects.filter(seen_at__lt=now - HEARTBEAT_KEEP).delete()
    return heartbeat


def _json_safe(info: dict) -> dict:
    """Plain JSON values of a captioner's info(): numbers, strings, booleans and None kept, the rest as str."""
    return {str(k): v if isinstance(v, str | int | float | bool | type(None)) else str(v) for k, v in info.items()}


def worker_heartbeat_on_activity(
    sender=None, *, worker_id: str, busy_since=_UNCHANGED, model_loaded: dict | None = None, **kwargs
) -> None:
    """Receiver of captions.signals.worker_active: a worker lives, busy captioning or idle; when
    it has loaded the active model for captioning, that counts as the model check (the scheduled
    check may wait behind a long captioning task)."""
    heartbeat = worker_heartbeat_record(check_model=False, worker_id=worker_id, busy_since=busy_since)
    if model_loaded and model_loaded.get("model_spec") == captioning_defaults().model_spec:
        WorkerHeartbeat.objects.filter(pk=heartbeat.pk).update(
            model_spec=model_loaded["model_spec"], model_id=model_loaded["model_id"], model_ok=True,
            model_error="", model_checked_at=timezone.now(), model_info=_json_safe(model_loaded.get("model_info") or {}),
        )
