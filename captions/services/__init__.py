"""Every write of the captions app, by concern:

- captions.services.submission: generation_params_clean, image_submit, batch_submit, upload_submit,
  oversize_archives_refused
- captions.services.queue: caption_workers_wake, image_requeue, image_retry, image_delete,
  images_claim, image_attempt_failed, images_requeue_stale, worker_identity, claim_owner,
  images_lease_renew, images_release_dead_local_claims
- captions.services.worker: caption_pending_run, images_caption, caption_record,
  caption_record_reused, caption_cache_key
- captions.services.defaults: captioning_defaults_set (KEEP: leave a value as it is)
- captions.services.demo: demo_owner_get, demo_image_discard, demo_images_purge
- captions.services.bulk: BULK_LIMIT, images_bulk_retry, images_bulk_recaption, images_bulk_delete,
  images_delete_all_of
- captions.services.editing: caption_human_set, caption_text_unchanged, captions_review_clear
- captions.services.styles: custom_styles_sync, caption_style_save, caption_style_delete,
  caption_request_clean, model_spec_clean, style_choices (issue 12: styles, languages, model choice)
- captions.services.results: Refusal, SubmitResult, UploadRejected, WorkerRunSummary, SweepSummary

The public names are re-exported here: `from captions.services import image_submit` works.
"""

from captions.services.bulk import (
    BULK_LIMIT,
    images_bulk_delete,
    images_bulk_recaption,
    images_bulk_retry,
    images_delete_all_of,
)
from captions.services.defaults import KEEP, captioning_defaults_set
from captions.services.demo import demo_image_discard, demo_images_purge, demo_owner_get
from captions.services.editing import caption_human_set, caption_text_unchanged, captions_review_clear
from captions.services.queue import (
    caption_workers_wake,
    claim_owner,
    image_attempt_failed,
    image_delete,
    image_requeue,
    image_retry,
    images_claim,
    images_lease_renew,
    images_release_dead_local_claims,
    images_requeue_stale,
    worker_identity,
)
from captions.services.results import (
    Refusal,
    SubmitResult,
    SweepSummary,
    UploadRejected,
    WorkerRunSummary,
)
from captions.services.styles import (
    caption_request_clean,
    caption_style_delete,
    caption_style_save,
    custom_styles_sync,
    model_spec_clean,
    style_choices,
)
from captions.services.submission import (
    batch_submit,
    generation_params_clean,
    image_submit,
    oversize_archives_refused,
    upload_submit,
)
from captions.services.worker import (
    caption_cache_key,
    caption_pending_run,
    caption_record,
    caption_record_reused,
    images_caption,
)

__all__ = [
    "BULK_LIMIT",
    "caption_human_set",
    "caption_text_unchanged",
    "captions_review_clear",
    "images_bulk_delete",
    "images_bulk_recaption",
    "images_bulk_retry",
    "images_delete_all_of",
    "KEEP",
    "captioning_defaults_set",
    "Refusal",
    "SubmitResult",
    "SweepSummary",
    "UploadRejected",
    "WorkerRunSummary",
    "batch_submit",
    "caption_cache_key",
    "caption_pending_run",
    "caption_record",
    "caption_record_reused",
    "caption_workers_wake",
    "demo_image_discard",
    "demo_images_purge",
    "demo_owner_get",
    "generation_params_clean",
    "image_attempt_failed",
    "image_delete",
    "image_requeue",
    "image_retry",
    "image_submit",
    "oversize_archives_refused",
    "upload_submit",
    "images_caption",
    "images_claim",
    "images_requeue_stale",
    "worker_identity",
    "claim_owner",
    "images_lease_renew",
    "images_release_dead_local_claims",
    "caption_request_clean",
    "caption_style_delete",
    "caption_style_save",
    "custom_styles_sync",
    "model_spec_clean",
    "style_choices",
]
