"""The staff dashboard: who may see it, and that its numbers match the database."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from captions.models import Caption, Image
from monitoring.models import EvaluationRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, make_user):
    client.force_login(make_user("boss@example.com", is_staff=True, perms=["monitoring.view_operations"]))
    return client


def make_image(owner, *, status="done", finished_ago=timedelta(minutes=5), sha="x", **caption):
    now = timezone.now()
    image = Image.objects.create(
        owner=owner, file="images/x.jpg", original_filename="x.jpg", sha256=sha, width=4, height=4, format="JPEG",
        byte_size=10, status=status, available_at=now,
        finished_at=now - finished_ago if status in ("done", "failed") else None,
        claim_expires_at=now + timedelta(minutes=5) if status == "processing" else None,
    )
    if caption:
        created = Caption.objects.create(image=image, **caption)
        Caption.objects.filter(pk=created.pk).update(created_at=now - finished_ago)
        image.current_caption = created
        image.save(update_fields=["current_caption"])
    return image


def model_caption(text, ms, confidence, needs_review=False):
    return dict(text=text, source="model", model_id="tiny", inference_ms=ms, confidence=confidence, needs_review=needs_review)


def tile(html: str, tile_id: str) -> str:
    match = re.search(rf'id="{tile_id}"><span class="value">(.*?)</span>', html)
    assert match, tile_id
    return match.group(1)


def test_the_dashboard_needs_a_staff_account(client, user):
    anonymous = client.get("/dashboard/")
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    client.force_login(user)
    assert client.get("/dashboard/").status_code == 403


def test_the_nav_links_to_the_dashboard_for_staff_only(client, user, make_user):
    client.force_login(user)
    assert 'href="/dashboard/"' not in client.get("/").content.decode()
    client.force_login(make_user("boss@example.com", is_staff=True, perms=["monitoring.view_operations"]))
    assert 'href="/dashboard/"' in client.get("/").content.decode()


def test_the_numbers_are_computed_from_the_database(staff_client, user):
    make_image(user, **model_caption("a red dog on the grass", 100, 0.95))
    make_image(user, **model_caption("a red dog", 200, 0.65))
    make_image(user, **model_caption("two cats", 300, 0.15, needs_review=True))
    make_image(user, **model_caption("a red dog", 400, 0.55))
    make_image(user, text="a red dog", source="cache", model_id="tiny", inference_ms=0, confidence=0.65)
    make_image(user, status="failed")
    make_image(user, status="queued")
    make_image(user, status="queued")
    make_image(user, status="processing")

    html = staff_client.get("/dashboard/").content.decode()

    assert tile(html, "tile-captioned") == "5"
    assert tile(html, "tile-p50") == "200 ms"  # nearest rank of 100, 200, 300, 400 (the reused one is not timed)
    assert tile(html, "tile-p95") == "400 ms"
    assert tile(html, "tile-errors") == "16.7%"  # 1 failed of 6 finished
    assert tile(html, "tile-cache") == "20.0%"  # 1 reused of 5 captions
    assert tile(html, "tile-queue") == "2 / 1"
    assert tile(html, "tile-review") == "20.0%"  # 1 of 5 done images
    # computed captions: "a red dog on the grass" "a red dog" "two cats" "a red dog" -> 8 distinct of 14 words
    assert tile(html, "tile-diversity") == "57.1%"
    assert "8 distinct of 14 words" in html


def test_charts_are_inline_svg_with_a_labelled_bar_per_bucket(staff_client, user):
    make_image(user, **model_caption("a dog", 100, 0.95))
    make_image(user, **model_caption("a red dog on grass", 100, 0.91))
    html = staff_client.get("/dashboard/").content.decode()

    confidence = html.split('id="chart-confidence"')[1].split("</svg>")[0]
    assert "<svg" in confidence
    assert "<title>0.9: 2</title>" in confidence
    assert "<title>0.0: 0</title>" in confidence
    length = html.split('id="chart-length"')[1].split("</svg>")[0]
    assert "<title>2: 1</title>" in length and "<title>5: 1</title>" in length
    per_hour = html.split('id="chart-captioned"')[1].split("</svg>")[0]
    assert per_hour.count("<rect") == 25  # every hour of the last 24, both ends included
    assert "cdn" not in html.lower() and "<script src=\"http" not in html


def test_the_period_chooses_what_is_counted(staff_client, user):
    make_image(user, **model_caption("recent", 100, 0.9))
    make_image(user, finished_ago=timedelta(days=3), **model_caption("older", 100, 0.9))
    make_image(user, finished_ago=timedelta(days=20), **model_caption("oldest", 100, 0.9))

    assert tile(staff_client.get("/dashboard/").content.decode(), "tile-captioned") == "1"
    assert tile(staff_client.get("/dashboard/?period=7d").content.decode(), "tile-captioned") == "2"
    month = staff_client.get("/dashboard/?period=30d").content.decode()
    assert tile(month, "tile-captioned") == "3"
    assert month.split('id="chart-captioned"')[1].split("</svg>")[0].count("<rect") == 31  # one per day
    assert tile(staff_client.get("/dashboard/?period=nonsense").content.decode(), "tile-captioned") == "1"


def test_ratings_are_shown_when_the_feedback_app_is_installed(staff_client, user, make_user):
    from django.apps import apps

    if not apps.is_installed("feedback"):
        pytest.fail("feedback is in INSTALLED_APPS in this project; the ratings chart reads its Feedback model")
    Feedback = apps.get_model("feedback", "Feedback")
    image = make_image(user, **model_caption("a dog", 100, 0.9))
    for index, stars in enumerate([5, 5, 4, 1]):
        Feedback.objects.create(user=make_user(f"r{index}@example.com"), caption=image.current_caption, rating=stars)

    ratings = staff_client.get("/dashboard/").content.decode().split('id="chart-ratings"')[1].split("</section>")[0]
    assert "<title>5★: 2</title>" in ratings
    assert "<title>3★: 0</title>" in ratings
    assert "4 ratings" in ratings


def test_evaluation_runs_are_compared_side_by_side(staff_client, settings):
    base = EvaluationRun.objects.create(
        model_spec="blip-base", model_id="Salesforce/blip-base", dataset="coco-val", annotations_path="a.json",
        images_dir="img", image_count=50, scores={"Bleu_4": 0.21, "CIDEr": 0.65},
    )
    tuned = EvaluationRun.objects.create(
        model_spec="/models/tuned", model_id="tuned-v2", dataset="coco-val", annotations_path="a.json",
        images_dir="img", image_count=50, scores={"Bleu_4": 0.25, "CIDEr": 0.81},
    )
    EvaluationRun.objects.create(
        model_spec="broken", dataset="coco-val", annotations_path="a.json", images_dir="img",
        status=EvaluationRun.Status.FAILED, error="ModelLoadError",
    )
    settings.CAPTION_MODEL = "/models/tuned"

    html = staff_client.get("/dashboard/").content.decode()
    table = html.split('id="runs-table"')[1].split("</table>")[0]
    assert table.index(f"#{base.pk}") < table.index(f"#{tuned.pk}")  # oldest first
    assert "0.2100" in table and "0.8100" in table
    assert "broken" not in table
    chart = html.split('id="evaluation-runs"')[1].split("</svg>")[0]
    assert f"#{tuned.pk} tuned-v2: CIDEr = 0.8100" in chart
    active = html.split('id="active-model"')[1].split("</section>")[0]
    assert "/models/tuned" in active and "CIDEr 0.810" in active

    only_base = staff_client.get(f"/dashboard/?run={base.pk}").content.decode()
    table = only_base.split('id="runs-table"')[1].split("</table>")[0]
    assert f"#{base.pk}" in table and f"#{tuned.pk}" not in table
