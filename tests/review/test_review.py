"""The review queue and its actions, through HTTP, as owner, reviewer, staff and stranger."""

import html

import pytest
from django.urls import reverse

from captions.models import Caption, Image
from feedback.models import ReviewAction, ReviewerSettings
from tests.review.conftest import HTMX, QUEUE, client_for, current_item, walk_queue

pytestmark = pytest.mark.django_db

def text_of(response) -> str:
    return html.unescape(response.content.decode())


def test_queue_holds_unsure_current_captions_lowest_confidence_first(client, owner, captioned):
    middle = captioned(owner, text="middle", confidence=0.3)
    lowest = captioned(owner, text="lowest", confidence=0.05)
    captioned(owner, text="confident", confidence=0.9)
    unknown = captioned(owner, text="no score", confidence=None)
    # A superseded caption of an image is history, not work.
    replaced = captioned(owner, text="old", confidence=0.1)
    newer = Caption.objects.create(image=replaced.image, text="new and sure", confidence=0.95, source="model")
    Image.objects.filter(pk=replaced.image_id).update(current_caption=newer)

    client_for(client, owner)
    response = client.get(QUEUE)
    assert response.status_code == 200
    assert response.context["remaining"] == 3
    assert b"3</strong> left to review" in response.content
    assert walk_queue(client) == [unknown.pk, lowest.pk, middle.pk]


def test_owner_sees_only_own_images_reviewers_and_staff_see_all(client, owner, stranger, reviewer, staff, captioned):
    mine = captioned(owner, confidence=0.1)
    theirs = captioned(stranger, confidence=0.2)

    assert walk_queue(client_for(client, owner)) == [mine.pk]
    assert walk_queue(client_for(client, stranger)) == [theirs.pk]
    assert walk_queue(client_for(client, reviewer)) == [mine.pk, theirs.pk]
    assert walk_queue(client_for(client, staff)) == [mine.pk, theirs.pk]


def test_queue_filters_by_batch_and_model(client, owner, captioned, captioned_batch):
    batch_captions = captioned_batch(owner, [0.3, 0.1])
    single = captioned(owner, confidence=0.2, model_id="test/model-b")
    batch_id = batch_captions[0].image.batch_id
    client_for(client, owner)

    assert walk_queue(client, batch=batch_id) == [batch_captions[1].pk, batch_captions[0].pk]
    assert walk_queue(client, model="test/model-b") == [single.pk]
    page = client.get(QUEUE)
    assert page.context["filters"]["models"] == ["test/model-a", "test/model-b"]
    assert [pk for pk, _ in page.context["filters"]["batches"]] == [batch_id]


def test_personal_threshold_replaces_the_sites(client, owner, captioned, settings):
    settings.CAPTION_REVIEW_THRESHOLD = 0.5
    low = captioned(owner, confidence=0.2)
    fair = captioned(owner, confidence=0.6)
    client_for(client, owner)
    assert walk_queue(client) == [low.pk]

    response = client.post(reverse("feedback:settings"), {"review_threshold": "0.7"})
    assert response.status_code == 302
    assert walk_queue(client) == [low.pk, fair.pk]

    client.post(reverse("feedback:settings"), {"review_threshold": "0.1"})
    assert walk_queue(client) == []

    client.post(reverse("feedback:settings"), {"review_threshold": "1.5"})
    assert ReviewerSettings.objects.get(user=owner).review_threshold == 0.1  # refused, unchanged

    client.post(reverse("feedback:settings"), {"review_threshold": ""})
    assert walk_queue(client) == [low.pk]


def test_approve_records_the_decision_and_shows_the_next_item(client, owner, captioned):
    first = captioned(owner, text="first", confidence=0.1)
    second = captioned(owner, text="second", confidence=0.2)
    client_for(client, owner)

    response = client.post(reverse("feedback:approve", args=[first.pk]), {"position": 0}, **HTMX)
    assert response.status_code == 200
    assert response.templates[0].name == "feedback/_review_panel.html"
    assert current_item(response).pk == second.pk
    assert response.context["remaining"] == 1

    first.refresh_from_db()
    assert first.needs_review is False
    action = ReviewAction.objects.get()
    assert (action.action, action.reviewer, action.caption, action.text_before, action.text_after) == (
        "approve", owner, first, "first", "first"
    )
    assert action.confidence == 0.1
    assert walk_queue(client) == [second.pk]


def test_stranger_gets_404_and_changes_nothing(client, owner, stranger, captioned):
    caption = captioned(owner, confidence=0.1)
    client_for(client, stranger)
    for name, data in [
        ("feedback:approve", {}),
        ("feedback:edit", {"text": "mine now"}),
        ("feedback:pick", {"index": 0}),
        ("feedback:recaption", {"model_spec": "x", "num_beams": 5, "max_length": 20, "num_alternatives": 1}),
        ("feedback:feedback", {"rating": 5}),
    ]:
        assert client.post(reverse(name, args=[caption.pk]), data).status_code == 404, name
    assert client.get(reverse("feedback:image_original", args=[caption.image.public_id])).status_code == 404
    assert ReviewAction.objects.count() == 0
    caption.refresh_from_db()
    assert caption.needs_review is True
    assert Image.objects.get(pk=caption.image_id).current_caption_id == caption.pk


def test_reviewer_acts_on_anybodys_caption_and_sees_the_image(client, owner, reviewer, captioned):
    caption = captioned(owner, confidence=0.1)
    client_for(client, reviewer)
    image = client.get(reverse("feedback:image_original", args=[caption.image.public_id]))
    assert image.status_code == 200 and image["Content-Type"] == "image/jpeg"
    assert client.post(reverse("feedback:approve", args=[caption.pk]), {}).status_code == 302
    assert ReviewAction.objects.get().reviewer == reviewer


def test_anonymous_is_sent_to_log_in(client, owner, captioned):
    caption = captioned(owner, confidence=0.1)
    for response in (client.get(QUEUE), client.post(reverse("feedback:approve", args=[caption.pk]))):
        assert response.status_code == 302 and reverse("accounts:login") in response["Location"]


def test_edit_makes_a_human_caption_current_and_keeps_the_model_one(client, owner, captioned):
    model_caption = captioned(owner, text="a cat on a mat", confidence=0.1)
    client_for(client, owner)

    form = client.get(QUEUE, {"edit": "1"}, **HTMX)
    assert b'id="edit-text"' in form.content and b"autofocus" in form.content

    response = client.post(reverse("feedback:edit", args=[model_caption.pk]), {"text": "  a dog   on a rug "}, **HTMX)
    assert response.status_code == 200
    assert response.context["remaining"] == 0

    image = Image.objects.get(pk=model_caption.image_id)
    human = image.current_caption
    assert (human.text, human.source, human.created_by) == ("a dog on a rug", "human", owner)
    assert set(image.captions.values_list("text", flat=True)) == {"a cat on a mat", "a dog on a rug"}
    action = ReviewAction.objects.get()
    assert (action.action, action.text_before, action.text_after, action.result_caption) == (
        "edit", "a cat on a mat", "a dog on a rug", human
    )
    # The detail page shows the history with both.
    detail = client.get(reverse("captions:image_detail", args=[image.public_id]))
    assert b"a cat on a mat" in detail.content and b"a dog on a rug" in detail.content


@pytest.mark.parametrize(
    "text, message",
    [("", "cannot be empty"), ("   \t ", "cannot be empty"), ("x" * 301, "at most 300")],
)
def test_bad_edits_are_refused_with_the_reason(client, owner, captioned, text, message):
    caption = captioned(owner, confidence=0.1)
    client_for(client, owner)
    response = client.post(reverse("feedback:edit", args=[caption.pk]), {"text": text}, **HTMX)
    assert response.status_code == 400
    assert message in text_of(response)
    assert response.context["editing"] is True
    assert ReviewAction.objects.count() == 0
    assert Caption.objects.filter(source="human").count() == 0


def test_pick_an_alternative(client, owner, captioned):
    caption = captioned(
        owner,
        text="a man riding a horse",
        confidence=0.2,
        candidates=[
            {"text": "a man riding a horse", "score": 0.2},
            {"text": "a woman riding a horse", "score": 0.18},
            {"text": "a person on a horse", "score": 0.15},
        ],
    )
    client_for(client, owner)
    page = client.get(QUEUE)
    assert [a["text"] for a in page.context["alternatives"]] == ["a woman riding a horse", "a person on a horse"]
    assert b'data-key="2"' in page.content

    assert client.post(reverse("feedback:pick", args=[caption.pk]), {"index": 7}, **HTMX).status_code == 400
    response = client.post(reverse("feedback:pick", args=[caption.pk]), {"index": 2}, **HTMX)
    assert response.status_code == 200
    current = Image.objects.get(pk=caption.image_id).current_caption
    assert (current.text, current.source, current.model_id) == ("a person on a horse", "human", caption.model_id)
    assert ReviewAction.objects.get().action == "pick"


def test_decision_on_a_caption_someone_replaced_meanwhile_is_refused(client, owner, reviewer, captioned):
    caption = captioned(owner, text="original", confidence=0.1)
    client_for(client, reviewer).post(reverse("feedback:edit", args=[caption.pk]), {"text": "the reviewer's"})
    client_for(client, owner)
    response = client.post(reverse("feedback:approve", args=[caption.pk]), {}, **HTMX)
    assert response.status_code == 400
    assert "no longer the image's current caption" in text_of(response)
    assert Image.objects.get(pk=caption.image_id).current_caption.text == "the reviewer's"
    assert list(ReviewAction.objects.values_list("action", flat=True)) == ["edit"]


def test_reject_queues_the_image_with_other_settings(client, owner, captioned, settings):
    settings.CAPTION_MODEL = "test/model-a"
    settings.CAPTION_MODEL_CHOICES = ["test/model-b"]
    caption = captioned(owner, confidence=0.1)
    client_for(client, owner)
    page = client.get(QUEUE)
    # One list of models on every surface: the upload form's (captions.selectors.caption_model_choices),
    # the active one first, then the configured ones, then mlcore's registry names.
    from captions.selectors import caption_model_choices

    offered = [value for value, _ in page.context["recaption_form"].fields["model_spec"].choices]
    assert offered == caption_model_choices()
    # registry names are offered only where installed (captions.selectors.caption_model_choices)
    assert offered[:2] == ["test/model-a", "test/model-b"]

    form = {"model_spec": "test/model-b", "num_beams": 4, "max_length": 30, "num_alternatives": 3, "decision": "reject"}
    response = client.post(reverse("feedback:recaption", args=[caption.pk]), form, **HTMX)
    assert response.status_code == 200, response.content.decode()

    image = Image.objects.get(pk=caption.image_id)
    assert (image.status, image.attempts, image.model_spec) == ("queued", 0, "test/model-b")
    assert (image.params["num_beams"], image.params["num_alternatives"]) == (4, 3)
    assert image.current_caption_id == caption.pk  # shown until the new caption arrives
    action = ReviewAction.objects.get()
    assert action.action == "reject" and action.details["model"] == "test/model-b"
    assert response.context["remaining"] == 0

    # The image is waiting: a second decision on it is refused.
    again = client.post(reverse("feedback:recaption", args=[caption.pk]), {**form, "num_beams": 6}, **HTMX)
    assert again.status_code == 400


@pytest.mark.parametrize(
    "change, message",
    [
        ({"model_spec": "someone/else"}, "Select a valid choice"),
        ({"num_beams": 0}, "greater than or equal to 1"),
        ({"num_beams": 2, "num_alternatives": 3}, "must not exceed num_beams"),
        ({}, "would give the same caption again"),
    ],
)
def test_bad_recaption_settings_are_refused(client, owner, captioned, settings, change, message):
    settings.CAPTION_MODEL = "test/model-a"
    caption = captioned(owner, confidence=0.1)
    same = {"model_spec": "test/model-a", "num_beams": 3, "max_length": 40, "num_alternatives": 1}
    client_for(client, owner)
    response = client.post(reverse("feedback:recaption", args=[caption.pk]), {**same, **change}, **HTMX)
    assert response.status_code == 400
    assert message in text_of(response)
    assert response.context["rejecting"] is True
    assert Image.objects.get(pk=caption.image_id).status == "done"
    assert ReviewAction.objects.count() == 0
