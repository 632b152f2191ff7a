"""Signals the captions app sends for the layers above it to observe (captions imports none of
them). Receivers connect in their AppConfig.ready."""

from django.dispatch import Signal

# A worker process started a captioning run. Keyword arguments: worker_id (str, host:pid).
worker_active = Signal()
