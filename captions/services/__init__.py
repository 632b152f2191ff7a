"""Every write of the captions app, one module per concern; import a service from its module
(`from captions.services.submission import image_submit`), never from this package:

- submission: image_submit, batch_submit, upload_submit, oversize_archives_refused
- queue: caption_workers_wake, image_requeue, image_retry, image_delete, images_claim, ...
- worker: caption_pending_run, images_caption, caption_record, caption_record_reused, ...
- defaults: captioning_defaults_set (KEEP: leave a value as it is)
- demo: demo_owner_get, demo_image_discard, demo_images_purge
- bulk: BULK_LIMIT, images_bulk_retry, images_bulk_recaption, images_bulk_delete, images_delete_all_of
- editing: caption_human_set, caption_text_unchanged, captions_review_clear, caption_approve_mark, caption_suggestion_use
- alttext: (the readers of sources, priority and purpose are captions.alttext) purpose and context
  (image_alt_request_set, alt_request_clean, decorative_finish), re-captions (recaption_params,
  image_recaption_queue, replace_human_clean), checks (caption_checks), OCR (image_ocr_run, alt_with_ocr)
- styles: custom styles, style choices
- media: media_sweep
- results: Refusal, SubmitResult, UploadRejected, WorkerRunSummary, SweepSummary
"""
