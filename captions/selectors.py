"""Reads of the captions app."""

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from captions.models import Caption, Image


def gallery_images_for(user) -> QuerySet[Image]:
    """The user's images, newest first, with the caption shown under each."""
    return Image.objects.filter(owner=user).select_related("current_caption").order_by("-created_at", "-id")


def image_for(user, public_id) -> Image:
    """One of the user's images; anybody else's is a 404, never a 403 that confirms it exists."""
    return get_object_or_404(
        Image.objects.select_related("current_caption", "batch"), owner=user, public_id=public_id
    )


def caption_history_for(image: Image) -> QuerySet[Caption]:
    return image.captions.select_related("created_by").order_by("-created_at", "-id")
