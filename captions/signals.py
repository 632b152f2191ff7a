"""Signals the captions app sends for the layers above it to observe (captions imports none of
them). Receivers connect in their AppConfig.ready."""

from django.dispatch import Signal

# A worker process lives: sent when it starts a captioning run and every CAPTION_WATCH_SECONDS by
# its watch thread. Keyword arguments: worker_id (str, host:pid), busy_since (time.time() at which
# its current captioning run started, None when idle), model_loaded (None, or the default model this
# process loaded for captioning: {"model_spec", "model_id", "model_info"}).
worker_active = Signal()
