"""Read and decode the next claimed batch in a background thread while the model captions the
current one (CAPTION_PREFETCH). Only file reads and Pillow decoding run in the thread (both
release the GIL); no database access, so no connection is shared between threads."""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor

from captions.models import Image


class Prefetcher:
    """One background thread; ``start(images, spec_of)`` begins reading and decoding the batch,
    ``take()`` waits for it and returns ({image pk: PIL image}, {"read_ms": .., "decode_ms": ..}).
    An image whose model cannot be loaded or whose file cannot be read is left out: the worker
    reads it again inline and reports the failure as it always does."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="caption-prefetch")
        self._pending: Future | None = None

    def start(self, images: list[Image], spec_of: dict[int, str]) -> None:
        self._pending = self._pool.submit(_decode_all, list(images), dict(spec_of))

    def take(self) -> tuple[dict[int, object], dict[str, float]]:
        if self._pending is None:
            return {}, {}
        pending, self._pending = self._pending, None
        return pending.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _decode_all(images: list[Image], spec_of: dict[int, str]) -> tuple[dict[int, object], dict[str, float]]:
    from captions import inference

    decoded: dict[int, object] = {}
    timings: dict[str, float] = {}
    started = time.perf_counter()
    for image in images:
        try:
            captioner = inference.captioner_for(spec_of[image.pk])
            decoded[image.pk] = inference.load_image_for_model(image, captioner, timings=timings)
        except Exception:  # noqa: S112 - read again inline, where the failure is recorded with its reason
            continue
    timings["prefetch_wall_ms"] = (time.perf_counter() - started) * 1000
    return decoded, timings
