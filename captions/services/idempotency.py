"""Idempotent uploads: the `Idempotency-Key` header of the upload and batch endpoints.

The first request with a key runs normally; its answer (status and body) is stored in the SAME
transaction as the images it announces (captions.services.media.staged_atomic: image_submit's own
transaction joins it), so either both exist or neither. A later request of the same user to the
same endpoint with the same key gets that answer back, whatever its body, and stores nothing. A
request whose first attempt failed (an error answer, a rollback) left no record: its retry runs
again. Two requests with one key at the same moment: the second to commit gets a 409 and its work
is rolled back; retrying it returns the first one's answer. Records go after IDEMPOTENCY_KEEP."""

from collections.abc import Callable
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from captions.models import IdempotentRequest
from captions.services.media import staged_atomic

IDEMPOTENCY_KEEP = timedelta(hours=24)
MAX_KEY_LENGTH = 255


class IdempotencyConflict(Exception):
    """Another request with this key committed first; retry to get its answer."""


def idempotency_key_clean(raw: str | None) -> str:
    """The header's key ("" when absent); raises ValidationError for one that is too long or
    not printable ASCII."""
    key = (raw or "").strip()
    if len(key) > MAX_KEY_LENGTH or not all(32 <= ord(char) < 127 for char in key):
        raise ValidationError(
            {"Idempotency-Key": [f"Use at most {MAX_KEY_LENGTH} printable ASCII characters (a UUID is ideal)."]}
        )
    return key


def idempotent_answer(*, owner, endpoint: str, key: str) -> tuple[int, dict] | None:
    """(status, body) answered to the first request with this key, or None."""
    if not key:
        return None
    found = (
        IdempotentRequest.objects.filter(
            owner=owner, endpoint=endpoint, key=key, created_at__gte=timezone.now() - IDEMPOTENCY_KEEP
        )
        .values_list("status_code", "body")
        .first()
    )
    return (found[0], found[1]) if found else None


def idempotent_submit(*, owner, endpoint: str, key: str, run: Callable[[], tuple[int, dict]]) -> tuple[int, dict]:
    """Run `run` (which submits and renders the answer) in one transaction with the record of its
    answer under `key`; without a key, just run it."""
    if not key:
        return run()
    try:
        with staged_atomic():
            status_code, body = run()
            if status_code < 500:
                with transaction.atomic():
                    IdempotentRequest.objects.filter(created_at__lt=timezone.now() - IDEMPOTENCY_KEEP).delete()
                    IdempotentRequest.objects.create(
                        owner=owner, endpoint=endpoint, key=key, status_code=status_code, body=body
                    )
    except IntegrityError:
        raise IdempotencyConflict() from None
    return status_code, body
