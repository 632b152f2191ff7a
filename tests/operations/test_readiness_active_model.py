"""Readiness follows the active model: after a staff member activates a fine-tuned model, a
worker heartbeat about that model makes /health/ready/ answer 200 (it used to look for
CAPTION_MODEL and answer 503 with healthy workers)."""

import pytest
from django.urls import reverse
from django_q.tasks import async_task

from accounts.models import User
from captions.selectors import captioning_defaults
from feedback.models import TrainingRun

pytestmark = pytest.mark.django_db


def test_activated_model_heartbeat_makes_it_ready(client, tiny_model, tmp_path):
    from benchmarks.testing import build_tiny_blip

    finetuned = str(build_tiny_blip(tmp_path / "finetuned"))
    run = TrainingRun.objects.create(
        base_model=tiny_model, output_dir=finetuned, status=TrainingRun.Status.SUCCEEDED, model_id=finetuned
    )
    from django.contrib.auth.models import Permission

    staff = User.objects.create(email="staff@example.com", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_operations", "add_modelactivation"]))
    client.force_login(staff)

    async_task("monitoring.tasks.worker_heartbeat", sync=True)  # a worker reports on CAPTION_MODEL
    assert client.get("/health/ready/").status_code == 200

    assert client.post(reverse("feedback:model_activate"), {"run": run.pk}).status_code == 302
    assert captioning_defaults().model_spec == finetuned
    before = client.get("/health/ready/")
    assert before.status_code == 503, "no worker has reported on the activated model yet"
    assert finetuned in before.json()["checks"]["model"]["detail"]

    async_task("monitoring.tasks.worker_heartbeat", sync=True)
    response = client.get("/health/ready/")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"]["model"]["model"] == finetuned

    # Back to the configured model: the earlier report about it counts again.
    client.post(reverse("feedback:model_activate"), {})
    assert client.get("/health/ready/").json()["checks"]["model"]["model"] == tiny_model


def test_captioning_defaults_set_validates_and_keeps_the_other_value(tiny_model):
    from django.core.exceptions import ValidationError

    from captions.services.defaults import captioning_defaults_set

    assert captioning_defaults().model_source == "settings"
    captioning_defaults_set(review_threshold=0.25, reason="test")
    captioning_defaults_set(model_spec="some/model")
    now = captioning_defaults()
    assert (now.model_spec, now.review_threshold) == ("some/model", 0.25)
    assert (now.model_source, now.threshold_source) == ("set", "set")
    for bad in (1.5, -0.1, "x"):
        with pytest.raises(ValidationError) as error:
            captioning_defaults_set(review_threshold=bad)
        assert "review_threshold" in error.value.message_dict
    with pytest.raises(ValidationError):
        captioning_defaults_set(model_spec="m" * 501)
    captioning_defaults_set(model_spec="", review_threshold=None)
    assert captioning_defaults().model_spec == tiny_model and captioning_defaults().threshold_source == "settings"
