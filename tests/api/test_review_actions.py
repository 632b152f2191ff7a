"""The API does what the website does: edit (PATCH the image or the caption: the text becomes the
alt text), approve, pick an alternative, reject or re-caption with other settings, each checked
as the website's review actions are (the same services, the same refusals)."""

import pytest
from django.urls import reverse

from captions.models import Caption, Image
from captions.services.submission import image_submit
from feedback.models import ReviewAction
from tests.api.conftest import assert_error_format
from tests.images import image_bytes, upload


@pytest.fixture
def captioned(user):
    def make(text="a dog on a beach", **extra) -> Caption:
        image = image_submit(owner=user, files=[upload("beach.jpg", image_bytes("JPEG"))]).accepted[0]
        fields = {"confidence": 0.31, "needs_review": True, "model_id": "tiny", "params": {"num_beams": 3},
                  "candidates": [{"text": text, "score": -0.2}, {"text": "a brown dog running on sand", "score": -0.5}]}
        fields.update(extra)
        caption = Caption.objects.create(image=image, text=text, **fields)
        Image.objects.filter(pk=image.pk).update(current_caption=caption, status=Image.Status.DONE)
        return caption

    return make


def current_of(caption: Caption) -> Caption:
    return Image.objects.get(pk=caption.image_id).current_caption


def test_patch_the_image_edits_its_alt_text(api, captioned):
    caption = captioned()
    url = reverse("api:image-detail", args=[caption.image.public_id])
    response = api.patch(url, {"text": "A spaniel running along the shore"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["caption"]["text"] == "A spaniel running along the shore"
    now = current_of(caption)
    assert (now.text, now.source, now.needs_review) == ("A spaniel running along the shore", "human", False)
    assert Caption.objects.filter(pk=caption.pk).exists()  # the model's caption stays in the history
    assert ReviewAction.objects.get(caption=caption).action == ReviewAction.Kind.EDIT
    assert_error_format(api.patch(url, {"text": "   "}, format="json"), 400, field="text")
    assert_error_format(api.patch(url, {"txt": "x"}, format="json"), 400, field="txt")


def test_patch_an_image_without_a_caption_is_a_409_and_anothers_a_404(api, other_api, user):
    image = image_submit(owner=user, files=[upload("a.jpg", image_bytes("JPEG"))]).accepted[0]
    url = reverse("api:image-detail", args=[image.public_id])
    assert_error_format(api.patch(url, {"text": "x"}, format="json"), 409)
    assert_error_format(other_api.patch(url, {"text": "x"}, format="json"), 404)


def test_patch_a_caption_approve_and_pick(api, captioned):
    caption = captioned()
    approved = api.post(reverse("api:caption-approve", args=[caption.pk]))
    assert approved.status_code == 200 and approved.json()["needs_review"] is False
    assert ReviewAction.objects.get(caption=caption).action == ReviewAction.Kind.APPROVE

    other = captioned()
    picked = api.post(reverse("api:caption-pick", args=[other.pk]), {"index": 1}, format="json")
    assert picked.status_code == 200 and picked.json()["text"] == "a brown dog running on sand"
    assert current_of(other).text == "a brown dog running on sand"
    assert_error_format(api.post(reverse("api:caption-pick", args=[other.pk]), {"index": 7}, format="json"), 400, field="index")

    third = captioned()
    edited = api.patch(reverse("api:caption-edit", args=[third.pk]), {"text": "Two dogs"}, format="json")
    assert edited.status_code == 200 and current_of(third).text == "Two dogs"


def test_reject_and_recaption_queue_the_image_with_other_settings(api, captioned, tiny_model):
    caption = captioned()
    rejected = api.post(reverse("api:caption-reject", args=[caption.pk]), {"num_beams": 1, "max_length": 12}, format="json")
    assert rejected.status_code == 202, rejected.content
    assert rejected.json()["status"] == "queued"
    image = Image.objects.get(pk=caption.image_id)
    assert image.status == Image.Status.QUEUED and image.params["num_beams"] == 1
    assert ReviewAction.objects.get(caption=caption).action == ReviewAction.Kind.REJECT
    again = api.post(reverse("api:caption-recaption", args=[caption.pk]), {"num_beams": 2}, format="json")
    assert_error_format(again, 400)  # already waiting for its new caption

    other = captioned()
    bad = api.post(reverse("api:caption-recaption", args=[other.pk]), {"model": "no-such-model"}, format="json")
    assert_error_format(bad, 400, field="model")


def test_another_users_caption_is_a_404(other_api, captioned):
    caption = captioned()
    for name in ("api:caption-approve", "api:caption-pick", "api:caption-reject", "api:caption-recaption"):
        assert_error_format(other_api.post(reverse(name, args=[caption.pk]), {}, format="json"), 404)
    assert_error_format(other_api.patch(reverse("api:caption-edit", args=[caption.pk]), {"text": "x"}, format="json"), 404)


def test_bulk_actions_over_ids_or_a_filter_with_the_websites_limit(api, captioned, user, tiny_model):
    first, second = captioned(), captioned()
    url = reverse("api:images-bulk")
    approved = api.post(url, {"action": "approve", "ids": [str(first.image.public_id)]}, format="json")
    assert approved.status_code == 200 and approved.json() == {"action": "approve", "count": 1}
    assert ReviewAction.objects.filter(caption=first, action=ReviewAction.Kind.APPROVE).exists()

    queued = api.post(url, {"action": "recaption", "filter": {"needs_review": True}, "num_beams": 1}, format="json")
    assert queued.status_code == 200 and queued.json()["count"] == 1  # only the second still needs review
    assert Image.objects.get(pk=second.image_id).status == Image.Status.QUEUED

    Image.objects.filter(pk=first.image_id).update(status=Image.Status.FAILED)
    assert api.post(url, {"action": "retry", "filter": {"status": "failed"}}, format="json").json()["count"] == 1

    numeric = api.post(url, {"action": "delete", "filter": {"needs_review": 0}}, format="json")
    assert_error_format(numeric, 400, field="filter.needs_review")  # 0 is not false in JSON
    bad_style = api.post(url, {"action": "delete", "filter": {"search": "no such words"}, "style": "AAA"}, format="json")
    assert_error_format(bad_style, 400, field="style")  # checked even when nothing is selected
    nothing = api.post(url, {"action": "delete", "filter": {"search": "no such words"}}, format="json")
    assert nothing.json() == {"action": "delete", "count": 0}
    assert_error_format(api.post(url, {"action": "approve", "ids": [False]}, format="json"), 400, field="ids.0")
    for body in ("false", "[]", '"approve"', "3"):  # JSON that is not an object
        assert_error_format(api.post(url, body, content_type="application/json"), 400)
    assert_error_format(api.post(url, {"action": "fly", "ids": [str(first.image.public_id)]}, format="json"), 400, field="action")
    assert_error_format(api.post(url, {"action": "recaption", "ids": [str(first.image.public_id)], "model": "nope"},
                                 format="json"), 400, field="model")
    too_many = api.post(url, {"action": "delete", "ids": [str(first.image.public_id)] * 1001}, format="json")
    assert_error_format(too_many, 400, field="ids")

    image = first.image
    fields = {f.attname: getattr(image, f.attname) for f in Image._meta.concrete_fields
              if f.attname not in ("id", "public_id", "current_caption_id")}
    Image.objects.bulk_create([Image(**fields) for _ in range(1000)])
    refused = api.post(url, {"action": "delete", "filter": {"search": ""}}, format="json")
    assert_error_format(refused, 400)
    assert Image.objects.filter(owner=user).count() == 1002  # refused whole, nothing deleted

    deleted = api.post(url, {"action": "delete", "ids": [str(second.image.public_id)]}, format="json")
    assert deleted.json() == {"action": "delete", "count": 1}
    assert not Image.objects.filter(pk=second.image_id).exists()
