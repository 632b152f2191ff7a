"""Rating a caption from the web: one feedback per user and caption, editable, validated."""

import html

import pytest
from django.template import RequestContext, Template
from django.test import RequestFactory
from django.urls import reverse

from feedback.models import Feedback
from tests.feedback.conftest import HTMX, client_for

pytestmark = pytest.mark.django_db


def test_rating_and_correction_are_saved_and_can_be_changed(client, owner, captioned):
    caption = captioned(owner, confidence=0.4)
    client_for(client, owner)
    url = reverse("feedback:feedback", args=[caption.pk])

    response = client.post(url, {"rating": "2", "corrected_caption": "  a brown   dog "}, **HTMX)
    assert response.status_code == 200
    assert b"Thanks, saved." in response.content
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
