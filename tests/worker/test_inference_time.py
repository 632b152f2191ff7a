"""The inference time of a caption is its image's share of the batch, and the page says so."""

import time

import pytest
from django.urls import reverse
from django_q.tasks import async_task

from captions.models import Image
from captions.services.submission import image_submit
from tests.images import image_bytes, upload

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_images_of_one_batch_show_their_per_image_time(logged_in_client, user, tiny_model):
    files = [upload(f"{i}.png", image_bytes("PNG", color=(i * 90, 40, 200))) for i in range(2)]
    images = image_submit(owner=user, files=files).accepted
    started = time.perf_counter()
    async_task("captions.tasks.caption_pending", sync=True)
    wall_ms = (time.perf_counter() - started) * 1000

    captions = [Image.objects.get(pk=i.pk).current_caption for i in images]
    for caption in captions:
        assert caption.timings["batch_size"] == 2
        assert caption.inference_ms == pytest.approx(caption.timings["total_ms"])
    assert sum(c.inference_ms for c in captions) <= wall_ms  # shares of one batch, not the batch's time twice

    page = logged_in_client.get(reverse("captions:image_detail", args=[images[0].public_id])).content.decode()
    shown = page.split('id="inference-time">', 1)[1].split("</dd>", 1)[0]
    assert shown == f"about {captions[0].inference_ms:.0f} ms per image in a batch of 2"
