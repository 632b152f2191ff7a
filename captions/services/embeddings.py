"""The semantic-search vectors of images (captions.models.ImageEmbedding): the worker refreshes an
image's vector once its alt text is recorded, an edit once the text changes. A failure to embed
is logged and never fails the caption or the edit: the image stays findable by keyword."""

import hashlib
import logging

from django.conf import settings
from django.db import transaction

from captions.alttext import image_is_decorative
from captions.models import Image, ImageEmbedding

logger = logging.getLogger(__name__)


def embedding_text(image: Image) -> str:
    """What an image's vector embeds: its current alt text and its OCR text ("" for none)."""
    caption = image.current_caption
    parts = [caption.text if caption is not None else "", image.ocr_text or ""]
    return "\n".join(p.strip() for p in parts if p and p.strip())


def image_embedding_refresh(*, image_id: int) -> bool:
    """Embed the image's current text unless its vector is up to date (or semantic search is
    off). True when the image has an up-to-date vector afterwards; False otherwise, an embedding
    error included (logged, never raised)."""
    if not settings.SEARCH_SEMANTIC_ENABLED:
        return False
    try:
        with transaction.atomic():  # a savepoint: an error here leaves a caller's transaction usable
            return _refresh(image_id)
    except Exception:  # noqa: BLE001 - an embedding never fails a caption or an edit
        logger.warning("Could not embed image %s for semantic search", image_id, exc_info=True)
        return False


def _refresh(image_id: int) -> bool:
    from mlcore import embeddings

    image = Image.objects.select_related("current_caption").filter(pk=image_id).first()
    if image is None:
        return False
    text = embedding_text(image)
    if not text or image_is_decorative(image):
        ImageEmbedding.objects.filter(image_id=image_id).delete()
        return False
    text_hash = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if ImageEmbedding.objects.filter(
        image_id=image_id, text_hash=text_hash, model_name=embeddings.MODEL_NAME
    ).exists():
        return True
    vector = embeddings.embed_one(text, settings.SEARCH_EMBEDDING_MODEL_DIR or None)
    ImageEmbedding.objects.update_or_create(
        image_id=image_id,
        defaults={
            "model_name": embeddings.MODEL_NAME,
            "text_hash": text_hash,
            "vector": embeddings.to_bytes(vector),
        },
    )
    return True
