"""Rating a caption from the web: one feedback per user and caption, editable, validated."""

import html

import pytest
from django.template import RequestContext, Template
from django.test import RequestFactory
from django.urls import reverse

from feedback.models import Feedback
from tests.review.conftest import HTMX, client_for

pytestmark = pytest.mark.django_db


def test_rating_and_correction_are_saved_and_can_be_changed(client, owner, captioned):
    caption = captioned(owner, confidence=0.4)
    client_for(client, owner)
    url = reverse("feedback:feedback", args=[caption.pk])

    response = client.post(url, {"rating": "2"}, **HTMX)
    assert response.status_code == 200
    assert b"Thanks, saved." in response.content
    response = client.post(url, {"rating": "2", "corrected_caption": "  a brown   dog "}, **HTMX)
    assert response.status_code == 204 and response["HX-Refresh"] == "true"  # the owner's correction: see below
    feedback = Feedback.objects.get()
    assert (feedback.user, feedback.caption, feedback.rating, feedback.corrected_caption) == (owner, caption, 2, "a brown dog")

    response = client.post(url, {"rating": "5", "corrected_caption": ""}, **HTMX)
    assert response.status_code == 200
    feedback = Feedback.objects.get()
    assert (feedback.rating, feedback.corrected_caption) == (5, "")
    # The widget comes back showing the saved rating.
    assert b'value="5" checked' in response.content


@pytest.mark.parametrize(
    "data, message",
    [
        ({"rating": "0"}, "Select a valid choice"),
        ({"rating": "6"}, "Select a valid choice"),
        ({}, "This field is required"),
        ({"rating": "4", "corrected_caption": "    "}, "cannot be empty or only whitespace"),
        ({"rating": "4", "corrected_caption": "y" * 301}, "at most 300"),
    ],
)
def test_bad_feedback_is_refused_with_the_reason(client, owner, captioned, data, message):
    caption = captioned(owner, confidence=0.4)
    client_for(client, owner)
    response = client.post(reverse("feedback:feedback", args=[caption.pk]), data, **HTMX)
    assert response.status_code == 400
    assert message in html.unescape(response.content.decode())
    assert not Feedback.objects.exists()


def test_without_htmx_the_rating_redirects_back(client, owner, captioned):
    caption = captioned(owner, confidence=0.4)
    client_for(client, owner)
    detail = reverse("captions:image_detail", args=[caption.image.public_id])
    response = client.post(reverse("feedback:feedback", args=[caption.pk]), {"rating": "4", "next": detail})
    assert response.status_code == 302 and response["Location"] == detail
    page = client.get(reverse("feedback:feedback", args=[caption.pk]))
    assert page.status_code == 200 and b'value="4" checked' in page.content


def test_each_user_has_their_own_feedback_on_a_caption(client, owner, reviewer, captioned):
    caption = captioned(owner, confidence=0.4)
    client_for(client, owner).post(reverse("feedback:feedback", args=[caption.pk]), {"rating": "1"})
    client_for(client, reviewer).post(reverse("feedback:feedback", args=[caption.pk]), {"rating": "5"})
    assert sorted(Feedback.objects.values_list("user__email", "rating")) == [
        ("owner@example.com", 1), ("reviewer@example.com", 5)
    ]


def test_widget_tag_renders_the_users_rating(client, owner, captioned):
    caption = captioned(owner, confidence=0.4)
    Feedback.objects.create(user=owner, caption=caption, rating=3, corrected_caption="a fox")
    request = RequestFactory().get("/")
    request.user = owner
    rendered = Template("{% load feedback_tags %}{% caption_feedback caption %}").render(
        RequestContext(request, {"caption": caption})
    )
    assert 'value="3" checked' in rendered
    assert 'value="a fox"' in rendered
    assert reverse("feedback:feedback", args=[caption.pk]) in rendered


def test_the_owners_correction_becomes_the_alt_text_everywhere(client, owner, captioned):
    """A defect found by a trial: the detail page's "better caption" is the image's caption from then
    on (source human), the model's caption stays in the history, and the feedback is kept."""
    from captions.models import Caption, Image

    caption = captioned(owner, text="a dog on the grass", confidence=0.9)
    image = caption.image
    client_for(client, owner)
    detail_url = reverse("captions:image_detail", args=[image.public_id])
    response = client.post(
        reverse("feedback:feedback", args=[caption.pk]),
        {"rating": "3", "corrected_caption": "a black labrador asleep on a lawn", "next": detail_url},
    )
    assert response.status_code == 302 and response["Location"] == detail_url

    image.refresh_from_db()
    current = image.current_caption
    assert (current.text, current.source, current.created_by) == ("a black labrador asleep on a lawn", Caption.Source.HUMAN, owner)
    assert Feedback.objects.get().corrected_caption == "a black labrador asleep on a lawn"  # still training data
    page = client.get(detail_url).content.decode()
    assert 'id="alt-text">a black labrador asleep on a lawn<' in page
    assert "a dog on the grass" in page  # in the history
    assert "Thank you: your caption is now the image&#x27;s alt text." in page
    gallery = client.get(reverse("captions:gallery")).content.decode()
    assert 'alt="a black labrador asleep on a lawn"' in gallery
    assert Image.objects.count() == 1


def test_a_reviewers_correction_of_someone_elses_image_is_feedback_only(client, owner, reviewer, captioned):
    caption = captioned(owner, text="a dog on the grass", confidence=0.2)
    client_for(client, reviewer)
    response = client.post(reverse("feedback:feedback", args=[caption.pk]),
                           {"rating": "2", "corrected_caption": "a cat"}, **HTMX)
    assert response.status_code == 200
    caption.image.refresh_from_db()
    assert caption.image.current_caption_id == caption.pk
    assert Feedback.objects.get().corrected_caption == "a cat"


def test_the_caption_can_be_edited_from_the_image_page(client, owner, captioned):
    caption = captioned(owner, text="a dog on the grass", confidence=0.9)
    client_for(client, owner)
    detail_url = reverse("captions:image_detail", args=[caption.image.public_id])
    assert 'id="edit-caption-text"' in client.get(detail_url).content.decode()
    response = client.post(reverse("feedback:edit", args=[caption.pk]), {"text": "a puppy in a park", "next": detail_url})
    assert response.status_code == 302 and response["Location"] == detail_url
    caption.image.refresh_from_db()
    assert caption.image.current_caption.text == "a puppy in a park"

    current = caption.image.current_caption
    refused = client.post(reverse("feedback:edit", args=[current.pk]), {"text": "   ", "next": detail_url}, follow=True)
    assert refused.redirect_chain[-1][0] == detail_url
    assert any("empty" in str(m) for m in refused.context["messages"])


def test_saving_an_unchanged_caption_twice_is_a_no_op(client, owner, captioned):
    caption = captioned(owner, text="a dog on the grass", confidence=0.9)
    client_for(client, owner)
    detail_url = reverse("captions:image_detail", args=[caption.image.public_id])
    client.post(reverse("feedback:edit", args=[caption.pk]), {"text": "a puppy in a park", "next": detail_url})
    caption.image.refresh_from_db()
    human = caption.image.current_caption
    assert caption.image.captions.count() == 2

    for text in ("a puppy in a park", "  a puppy   in a park "):  # the same words, spacing aside
        response = client.post(reverse("feedback:edit", args=[human.pk]), {"text": text, "next": detail_url}, follow=True)
        assert response.redirect_chain[-1][0] == detail_url
        assert any("No change" in str(m) for m in response.context["messages"])
    caption.image.refresh_from_db()
    assert caption.image.current_caption_id == human.pk
    assert caption.image.captions.count() == 2  # no second identical "Human" row
    assert human.image.captions.filter(source="human").count() == 1
    # the model's caption saved unchanged from the image page is no new row either
    other = captioned(owner, text="a cat on a sofa", confidence=0.9)
    client.post(reverse("feedback:edit", args=[other.pk]), {"text": "a cat on a sofa", "next": detail_url})
    assert other.image.captions.count() == 1


def test_a_human_caption_names_who_edited_it_instead_of_a_blank_model(client, owner, captioned):
    caption = captioned(owner, text="a dog on the grass", confidence=0.9)
    client_for(client, owner)
    detail_url = reverse("captions:image_detail", args=[caption.image.public_id])
    client.post(reverse("feedback:edit", args=[caption.pk]), {"text": "a puppy in a park", "next": detail_url})
    page = client.get(detail_url).content.decode()
    model_row = page.split('id="caption-model">', 1)[1].split("</dd>", 1)[0]
    assert "edited by you" in model_row


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/x"])
def test_next_never_leaves_the_site(client, owner, captioned, next_url):
    caption = captioned(owner, confidence=0.9)
    client_for(client, owner)
    response = client.post(reverse("feedback:feedback", args=[caption.pk]), {"rating": "4", "next": next_url})
    assert response.status_code == 302 and "evil" not in response["Location"]
    response = client.post(reverse("feedback:edit", args=[caption.pk]), {"text": "a new one", "next": next_url})
    assert "evil" not in response.get("Location", "")


def test_the_queue_opens_at_the_caption_of_the_image_page(client, owner, captioned):
    first = captioned(owner, text="first", confidence=0.1)
    second = captioned(owner, text="second", confidence=0.2)
    third = captioned(owner, text="third", confidence=0.3)
    client_for(client, owner)
    detail = client.get(reverse("captions:image_detail", args=[second.image.public_id])).content.decode()
    jump = f'{reverse("feedback:queue")}?caption={second.pk}'
    assert f'href="{jump}"' in detail
    page = client.get(jump)
    assert page.context["caption"] == second
    # A caption that is not in the queue (approved, or not the user's) just opens the queue.
    assert client.get(f'{reverse("feedback:queue")}?caption=999999').context["caption"] in (first, third, second)
