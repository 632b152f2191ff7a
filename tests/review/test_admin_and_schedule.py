"""Feedback in the Django admin (filters, export of a selection), run activation from the
admin, and the schedule that starts a fine-tuning run once enough corrections have arrived."""

import json

import pytest
from django.urls import reverse

from captions.selectors import captioning_defaults
from feedback import services, tasks
from feedback.models import Feedback, ModelActivation, TrainingRun
from tests.review.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user(make_user):
    return make_user("admin@example.com", is_staff=True, is_superuser=True)


def test_admin_lists_and_filters_feedback(client, admin_user, owner, captioned):
    low = captioned(owner, text="a low one", confidence=0.2, model_id="test/model-a")
    high = captioned(owner, text="a high one", confidence=0.8, model_id="test/model-b")
    Feedback.objects.create(user=owner, caption=low, rating=1, corrected_caption="a better one")
    Feedback.objects.create(user=owner, caption=high, rating=5)
    client_for(client, admin_user)
    url = reverse("admin:feedback_feedback_changelist")

    everything = client.get(url)
    assert everything.status_code == 200 and b"a low one" in everything.content and b"a high one" in everything.content
    by_rating = client.get(url, {"rating": 1})
    assert b"a low one" in by_rating.content and b"a high one" not in by_rating.content
    by_model = client.get(url, {"caption__model_id": "test/model-b"})
    assert b"a high one" in by_model.content and b"a low one" not in by_model.content
    with_correction = client.get(url, {"has_correction": "yes"})
    assert b"a low one" in with_correction.content and b"a high one" not in with_correction.content


def test_admin_action_exports_the_selection(client, admin_user, owner, captioned):
    chosen = captioned(owner, text="chosen", confidence=0.2)
    other = captioned(owner, text="other", confidence=0.2)
    picked = Feedback.objects.create(user=owner, caption=chosen, rating=2, corrected_caption="the chosen one, fixed")
    Feedback.objects.create(user=owner, caption=other, rating=2, corrected_caption="not exported")
    client_for(client, admin_user)
    response = client.post(
        reverse("admin:feedback_feedback_changelist"),
        {"action": "export_jsonl", "_selected_action": [picked.pk]},
    )
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="feedback-')
    rows = [json.loads(line) for line in response.content.decode().splitlines()]
    assert [(r["caption"], r["sha256"]) for r in rows] == [("the chosen one, fixed", chosen.image.sha256)]


def test_admin_action_activates_a_finished_run_only(client, admin_user, settings):
    settings.CAPTION_MODEL = "configured/model"
    finished = TrainingRun.objects.create(base_model="b", output_dir="/models/new", status="succeeded")
    failed = TrainingRun.objects.create(base_model="b", output_dir="/models/broken", status="failed")
    client_for(client, admin_user)
    url = reverse("admin:feedback_trainingrun_changelist")

    client.post(url, {"action": "activate", "_selected_action": [failed.pk]})
    assert captioning_defaults().model_spec == "configured/model"
    client.post(url, {"action": "activate", "_selected_action": [finished.pk]})
    assert captioning_defaults().model_spec == "/models/new"
    assert ModelActivation.objects.get().activated_by == admin_user


def test_models_page_is_for_staff(client, owner, staff):
    assert client_for(client, owner).get(reverse("feedback:models")).status_code == 403
    assert client_for(client, staff).get(reverse("feedback:models")).status_code == 200
    assert client.post(reverse("feedback:model_activate"), {"run": "nonsense"}).status_code == 404


def test_schedule_starts_a_run_once_enough_corrections_arrived(owner, reviewer, captioned, settings, tmp_path, django_capture_on_commit_callbacks):
    settings.FINETUNE_MIN_NEW_FEEDBACK = 3
    settings.FINETUNE_OUTPUT_DIR = tmp_path
    settings.CAPTION_MODEL = "configured/model"
    first, second, third = (captioned(owner, text=f"c{n}", confidence=0.2) for n in range(3))
    services.caption_edit(caption=first, reviewer=reviewer, text="an edit")
    Feedback.objects.create(user=owner, caption=second, rating=1, corrected_caption="a correction")
    Feedback.objects.create(user=owner, caption=third, rating=5)  # a rating without correction does not count
    assert tasks.finetune_if_due() == {"started": None}

    services.caption_pick(caption=Feedback.objects.get(caption=third).caption, reviewer=reviewer, index=0)
    with django_capture_on_commit_callbacks() as callbacks:
        started = tasks.finetune_if_due()["started"]
    run = TrainingRun.objects.get(pk=started)
    assert (run.status, run.base_model, run.params["epochs"]) == ("queued", "configured/model", settings.FINETUNE_EPOCHS)
    assert run.output_dir.startswith(str(tmp_path))
    assert len(callbacks) == 1  # the task that runs it is enqueued once committed
    # While it is queued (or running) no second run starts, and none without new corrections.
    assert tasks.finetune_if_due() == {"started": None}
    TrainingRun.objects.filter(pk=run.pk).update(status="succeeded")
    assert tasks.finetune_if_due() == {"started": None}
