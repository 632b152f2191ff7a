"""The site's frame over HTTP: error pages in the layout, the favicon, the
paused-captioning banner, who sees the Admin link, post/redirect/get, the upload script's JSON."""

from datetime import timedelta

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from captions.models import Image
from monitoring.context_processors import PAUSED_NO_MODEL, PAUSED_NO_WORKER
from monitoring.models import WorkerHeartbeat
from tests.images import image_bytes, upload

pytestmark = pytest.mark.django_db


def beat(worker_id="w1", age_seconds=5, model_ok=True, model_error=""):
    return WorkerHeartbeat.objects.create(
        worker_id=worker_id, seen_at=timezone.now() - timedelta(seconds=age_seconds), model_spec="blip-base",
        model_ok=model_ok, model_error=model_error, model_checked_at=timezone.now() if model_ok is not None else None,
    )


def test_favicon_is_served_at_the_root_and_linked_from_every_page(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert b"".join(response.streaming_content if response.streaming else [response.content])[:4] == b"\x00\x00\x01\x00"
    assert 'rel="icon"' in client.get(reverse("accounts:login")).content.decode()


def test_404_is_in_the_layout_with_a_way_back(logged_in_client):
    response = logged_in_client.get("/no/such/page/")
    html = response.content.decode()
    assert response.status_code == 404
    assert "Page not found" in html and '<main id="main"' in html and reverse("captions:gallery") in html


def test_403_is_in_the_layout(logged_in_client):
    response = logged_in_client.get(reverse("feedback:models"))  # staff only
    html = response.content.decode()
    assert response.status_code == 403
    assert "Not allowed" in html and '<main id="main"' in html and "Go to the gallery" in html


def test_500_renders_without_touching_the_database(django_assert_num_queries):
    from core.exceptions import server_error

    with django_assert_num_queries(0):
        response = server_error(RequestFactory().get("/boom/"))
    html = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong" in html and '<main id="main"' in html and reverse("captions:gallery") in html


@pytest.mark.parametrize(
    "is_staff, is_superuser, permission, sees_admin",
    [(False, False, None, False), (True, False, None, False), (True, False, "view_image", True), (True, True, None, True)],
)
def test_the_admin_link_is_only_for_staff_who_can_do_something_there(
    client, make_user, is_staff, is_superuser, permission, sees_admin
):
    from django.contrib.auth.models import Permission

    user = make_user(is_staff=is_staff, is_superuser=is_superuser)
    if permission:
        user.user_permissions.add(Permission.objects.get(codename=permission))
    client.force_login(user)
    html = client.get(reverse("captions:gallery")).content.decode()
    assert (f'href="{reverse("admin:index")}"' in html) is sees_admin
    if sees_admin:
        assert client.get(reverse("admin:index")).status_code == 200


def test_banner_says_when_no_worker_runs(logged_in_client):
    html = logged_in_client.get(reverse("captions:gallery")).content.decode()
    assert 'id="captioning-paused"' in html and PAUSED_NO_WORKER in html
    beat(age_seconds=10_000)  # a stale heartbeat is no worker either
    assert PAUSED_NO_WORKER in logged_in_client.get(reverse("captions:gallery")).content.decode()


def test_banner_says_when_the_model_is_missing_and_only_staff_see_why(client, make_user):
    beat(model_ok=False, model_error="model folder '/models/x' does not exist")
    client.force_login(make_user())
    html = client.get(reverse("captions:gallery")).content.decode()
    assert PAUSED_NO_MODEL in html and "/models/x" not in html
    client.force_login(make_user("staff@example.com", is_staff=True))
    html = client.get(reverse("captions:gallery")).content.decode()
    assert PAUSED_NO_MODEL in html and "/models/x" in html


def test_no_banner_when_a_worker_can_caption_or_for_visitors(logged_in_client, django_assert_num_queries):
    from django.test import Client

    beat(worker_id="broken", model_ok=False, model_error="x")
    beat(worker_id="fine", model_ok=True)
    assert 'id="captioning-paused"' not in logged_in_client.get(reverse("captions:gallery")).content.decode()
    WorkerHeartbeat.objects.all().delete()
    with django_assert_num_queries(0):
        html = Client().get(reverse("accounts:login")).content.decode()
    assert 'id="captioning-paused"' not in html


def test_an_upload_redirects_and_a_reload_stores_nothing_more(logged_in_client):
    response = logged_in_client.post(reverse("captions:upload"), {"images": [upload("a.jpg", image_bytes("JPEG"))]})
    assert response.status_code == 302
    assert Image.objects.count() == 1
    reloaded = logged_in_client.get(response["Location"])  # what a reload after the redirect does
    assert reloaded.status_code == 200 and Image.objects.count() == 1
    assert [str(m) for m in reloaded.context["messages"]] == ["1 image queued for captioning."]


def test_the_upload_script_gets_the_apis_upload_answer(logged_in_client):
    response = logged_in_client.post(
        reverse("captions:upload"),
        {"images": [upload("good.jpg", image_bytes("JPEG")), upload("bad.jpg", b"nope")]},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"batch", "images", "refused"}  # the shape of POST /api/v1/images/'s answer
    assert [image["filename"] for image in body["images"]] == ["good.jpg"]
    assert body["images"][0]["url"].endswith(f"/api/v1/images/{body['images'][0]['id']}/")
    assert [r["filename"] for r in body["refused"]] == ["bad.jpg"] and body["refused"][0]["reason"]

    nothing = logged_in_client.post(reverse("captions:upload"), {"images": [upload("bad.jpg", b"nope")]},
                                    headers={"Accept": "application/json"})
    assert nothing.status_code == 400 and nothing.json()["code"] == "files_refused"
    assert "bad.jpg" in nothing.json()["detail"] and [r["filename"] for r in nothing.json()["refused"]] == ["bad.jpg"]
    assert "bad.jpg" in " ".join(nothing.json()["errors"]["files"])

    bad_settings = logged_in_client.post(reverse("captions:upload"), {"images": [upload("a.jpg", image_bytes("JPEG"))],
                                         "num_beams": "99"}, headers={"Accept": "application/json"})
    assert bad_settings.status_code == 400 and list(bad_settings.json()["errors"]) == ["num_beams"]
    assert bad_settings.json()["detail"].startswith("num_beams: ")
    assert Image.objects.count() == 1


@pytest.mark.parametrize("value, saved", [("0.42", 0.42), ("0.333", 0.333), ("1.5", None), ("-0.1", None)])
def test_review_threshold_takes_any_value_in_range(logged_in_client, user, value, saved):
    from feedback.models import ReviewerSettings

    page = logged_in_client.get(reverse("feedback:queue")).content.decode()
    assert 'step="any"' in page
    response = logged_in_client.post(reverse("feedback:settings"), {"review_threshold": value}, follow=True)
    stored = ReviewerSettings.objects.filter(user=user).values_list("review_threshold", flat=True).first()
    assert stored == saved
    notices = [str(m) for m in response.context["messages"]]
    assert notices and all(not n.endswith("”.") for n in notices)


def test_generation_settings_are_in_plain_words_with_defaults_and_a_tied_hint(logged_in_client):
    html = logged_in_client.get(reverse("captions:gallery")).content.decode()
    assert "More careful (slower)" in html and "Longest caption" in html
    assert 'aria-describedby="id_num_beams-hint"' in html and 'id="id_num_beams-hint"' in html
    assert "Default: 3." in html and "Default: 40." in html
    assert "onclick=" not in html and "<script>" not in html


def test_the_gallery_poll_does_not_read_heartbeats(logged_in_client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = logged_in_client.get(reverse("captions:gallery_poll"), {"watch": ""}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert not [q for q in queries.captured_queries if "workerheartbeat" in q["sql"].lower()]
    with CaptureQueriesContext(connection) as queries:
        logged_in_client.get(reverse("captions:gallery"))
    assert [q for q in queries.captured_queries if "workerheartbeat" in q["sql"].lower()]
