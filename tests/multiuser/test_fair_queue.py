"""Claims rotate between owners in the claim query: a small upload waits at most about one batch
behind another user's backlog, on SQLite and on PostgreSQL (SKIP LOCKED)."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from captions.models import Image
from captions.services.queue import images_claim
from captions.services.submission import image_submit
from tests.images import image_bytes, upload

pytestmark = pytest.mark.django_db


def submit_many(owner, count: int, start=0):
    for first in range(0, count, 25):
        files = [upload(f"p{start + n}.png", image_bytes("PNG", size=(8, 8), color=((start + n) % 250, (start + n) // 250, 10)))
                 for n in range(first, min(count, first + 25))]
        image_submit(owner=owner, files=files)


def test_one_owners_backlog_does_not_starve_another_owner(make_user):
    a, b = make_user("a@example.com"), make_user("b@example.com")
    submit_many(a, 60)
    submit_many(b, 5, start=100)
    # B uploaded last, behind all of A's backlog: a claim of 8 takes four of each (round-robin),
    # and B's fifth comes with the next claim, not after A's 60.
    _, claimed = images_claim(worker_id="w1", limit=8)
    owners = [image.owner_id for image in claimed]
    assert owners.count(b.pk) == 4 and owners.count(a.pk) == 4
    _, claimed = images_claim(worker_id="w1", limit=8)
    assert [image.owner_id for image in claimed].count(b.pk) == 1
    assert not Image.objects.filter(owner=b, status=Image.Status.QUEUED).exists()


def test_owners_alternate_and_each_owner_keeps_its_own_order(make_user):
    owners = [make_user(f"u{n}@example.com") for n in range(3)]
    for owner in owners:
        submit_many(owner, 4)
    taken = []
    while True:
        _, claimed = images_claim(worker_id="w", limit=3)
        if not claimed:
            break
        assert len({image.owner_id for image in claimed}) == len(claimed)  # one per owner per round
        taken += claimed
    assert len(taken) == 12
    for owner in owners:
        mine = [image.id for image in taken if image.owner_id == owner.pk]
        assert mine == sorted(mine)


def test_images_waiting_for_a_retry_are_not_claimed_early(make_user):
    a = make_user("a@example.com")
    submit_many(a, 3)
    later = timezone.now() + timedelta(minutes=5)
    Image.objects.filter(owner=a).update(available_at=later)
    assert images_claim(worker_id="w", limit=5)[1] == []


@pytest.mark.django_db(transaction=True)
def test_two_workers_claiming_at_once_take_different_images(make_user):
    import threading

    from django.db import connection

    a, b = make_user("a@example.com"), make_user("b@example.com")
    submit_many(a, 40)
    submit_many(b, 10, start=100)
    results, errors = [], []

    def claim(name):
        try:
            for _ in range(4):
                results.extend(image.id for image in images_claim(worker_id=name, limit=5)[1])
        except Exception as error:  # noqa: BLE001 (reported below)
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(f"w{n}",)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(results) == len(set(results)) and len(results) >= 20


@pytest.fixture
def members_installed(monkeypatch, tmp_path, tiny_blip_dir):
    """Every model the ensemble cases name is installed (only installed models are offered), so a
    refusal is the ensemble's own."""
    from mlcore.config import reload_config

    for name in ("blip-base", "blip-large", "git-base-coco", "vit-gpt2", "smolvlm-256m"):
        (tmp_path / "models").mkdir(exist_ok=True)
        (tmp_path / "models" / name).symlink_to(tiny_blip_dir)
    monkeypatch.setenv("MLCORE_MODELS_DIR", str(tmp_path / "models"))
    reload_config()
    yield
    monkeypatch.undo()
    reload_config()


@pytest.mark.parametrize("spec, message", [
    ("ensemble:blip-base,blip-base", "twice"),
    ("ensemble:blip-base,Salesforce/blip-image-captioning-base", "twice"),  # one model, two names
    ("ensemble:" + ",".join(["blip-base", "blip-large", "git-base-coco", "vit-gpt2", "smolvlm-256m"]), "at most 4"),
])
def test_costly_ensembles_repeated_or_too_many_members_are_a_400(make_user, spec, message, members_installed):
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import AccessToken

    owner = make_user("a@example.com")
    api = APIClient(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(owner)}")
    response = api.post("/api/v1/images/", {"files": [upload("p.png", image_bytes("PNG"))], "model": spec},
                        format="multipart")
    assert response.status_code == 400, response.json()
    assert message in json.dumps(response.json())
    assert not Image.objects.filter(owner=owner).exists()


@pytest.mark.parametrize("field, value", [("num_beams", 10), ("max_length", 100), ("num_alternatives", 5)])
def test_demo_maximum_settings_are_capped_for_the_anonymous_demo(field, value):
    from rest_framework.test import APIClient

    response = APIClient().post("/api/v1/demo/caption/", {"file": upload("p.png", image_bytes("PNG")), field: value},
                                format="multipart", REMOTE_ADDR="198.51.100.77")
    assert response.status_code == 400, response.content
    assert "The demo allows at most" in json.dumps(response.json()) and field in json.dumps(response.json())
    assert not Image.objects.exists()


def test_interactive_requests_go_before_bulk_work_even_the_owners_own(make_user):
    a, b = make_user("a@example.com"), make_user("b@example.com")
    submit_many(a, 30)
    submit_many(b, 30, start=100)
    waiting = image_submit(owner=a, files=[upload("now.png", image_bytes("PNG", size=(9, 9)))],
                           interactive=True).accepted[0]
    assert waiting.priority == Image.Priority.INTERACTIVE
    _, claimed = images_claim(worker_id="w", limit=1)
    assert [image.pk for image in claimed] == [waiting.pk]


def test_predict_through_the_api_is_interactive(make_user, settings):
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import AccessToken

    settings.PREDICT_WAIT_SECONDS = 0
    owner = make_user("a@example.com")
    api = APIClient(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(owner)}")
    assert api.post("/api/v1/predict/", {"file": upload("p.png", image_bytes("PNG"))},
                    format="multipart").status_code == 202
    assert api.post("/api/v1/images/", {"files": [upload("q.png", image_bytes("PNG", size=(9, 9)))]},
                    format="multipart").status_code in (201, 202)
    assert sorted(Image.objects.values_list("priority", flat=True)) == [Image.Priority.BULK, Image.Priority.INTERACTIVE]


def test_unlimited_web_writes_files_count_against_one_budget(client, make_user, settings):
    from django.urls import reverse

    settings.QUEUE_RATE_FILES = "4/h"
    owner = make_user("a@example.com")
    client.force_login(owner)
    files = lambda start: [upload(f"w{n}.png", image_bytes("PNG", size=(8, 8), color=(n, 60, 60)))  # noqa: E731
                           for n in range(start, start + 3)]
    assert client.post(reverse("captions:upload"), {"images": files(0)}).status_code == 302
    refused = client.post(reverse("captions:upload"), {"images": files(10)})
    assert refused.status_code == 429 and "as many images as allowed" in refused.content.decode()
    assert Image.objects.filter(owner=owner).count() == 3
    # The bulk re-caption of the three takes from the same budget (one left): refused whole.
    response = client.post(reverse("captions:images_bulk"), {"action": "recaption", "all": "1"}, follow=True)
    assert "as many images as allowed" in response.content.decode()
    # Another user has a budget of their own.
    client.force_login(make_user("b@example.com"))
    assert client.post(reverse("captions:upload"), {"images": files(20)}).status_code == 302


def test_api_uploads_count_files_not_requests(make_user, settings):
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import AccessToken

    settings.QUEUE_RATE_FILES = "5/h"
    owner = make_user("a@example.com")
    api = APIClient(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(owner)}")
    files = lambda start, n: [upload(f"f{k}.png", image_bytes("PNG", size=(8, 8), color=(k, 90, 90)))  # noqa: E731
                              for k in range(start, start + n)]
    assert api.post("/api/v1/images/", {"files": files(0, 4)}, format="multipart").status_code in (201, 202)
    refused = api.post("/api/v1/batches/", {"files": files(10, 2)}, format="multipart")
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "as many images as allowed" in refused.json()["detail"] and refused.json()["code"] == "throttled"
    assert Image.objects.filter(owner=owner).count() == 4
    assert api.post("/api/v1/images/", {"files": files(20, 1)}, format="multipart").status_code in (201, 202)
