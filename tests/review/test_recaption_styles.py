"""Re-caption in the review queue with another style and language: refused with a form
error when the model cannot write it, queued with the style and language otherwise."""

import html

import pytest
from django.urls import reverse

from captions.models import Image
from feedback.models import ReviewAction
from tests.review.conftest import HTMX, QUEUE, client_for

pytestmark = pytest.mark.django_db


def form_for(model: str, **change) -> dict:
    return {"model_spec": model, "num_beams": 4, "max_length": 20, "num_alternatives": 1, "decision": "reject",
            **change}


def test_recaption_offers_styles_and_refuses_what_the_model_cannot_write(client, owner, captioned, settings,
                                                                        tiny_blip_dir, tiny_vlm_dir):
    settings.CAPTION_MODEL = tiny_blip_dir
    settings.CAPTION_MODEL_CHOICES = [tiny_vlm_dir]
    caption = captioned(owner, confidence=0.1)
    client_for(client, owner)
    form = client.get(QUEUE).context["recaption_form"]
    assert {"alt", "description", "tags"} <= {value for value, _ in form.fields["style"].choices}
    assert form.initial["style"] == "alt" and form.initial["language"] == "en"

    for change, field, words in (
        ({"style": "tags"}, "style", "cannot write the caption style 'tags'"),
        ({"language": "fr"}, "language", "cannot write the language 'fr'"),
        ({"language": "not a tag"}, "language", "BCP 47"),
    ):
        response = client.post(reverse("feedback:recaption", args=[caption.pk]), form_for(tiny_blip_dir, **change),
                               **HTMX)
        assert response.status_code == 400, change
        assert words in html.unescape(response.content.decode()), change
        assert field in response.context["recaption_form"].errors, change
    assert Image.objects.get(pk=caption.image_id).status == "done" and not ReviewAction.objects.exists()

    response = client.post(
        reverse("feedback:recaption", args=[caption.pk]),
        form_for(tiny_vlm_dir, style="description", language="pt-br"), **HTMX,
    )
    assert response.status_code == 200, response.content.decode()
    image = Image.objects.get(pk=caption.image_id)
    assert (image.status, image.model_spec) == ("queued", tiny_vlm_dir)
    assert (image.params["style"], image.params["language"]) == ("description", "pt-BR")
