"""The upgrade from the schema before the re-layering keeps the rows: worker heartbeats (moved
from captions to monitoring) and the active model and applied review threshold (now
captions.CaptioningDefaults)."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

OLD = [
    ("captions", "0003_workerheartbeat"),
    ("feedback", "0002_schedule_finetune_check"),
    ("monitoring", "0001_initial"),
]


@pytest.mark.django_db(transaction=True)
def test_upgrade_keeps_heartbeats_and_the_active_model(settings):
    executor = MigrationExecutor(connection)
    executor.migrate(OLD)
    old = executor.loader.project_state(OLD).apps
    user = old.get_model("accounts", "User").objects.create(email="staff@example.com", is_staff=True)
    old.get_model("captions", "WorkerHeartbeat").objects.create(
        worker_id="host:1", seen_at="2026-01-01T00:00:00Z", model_spec="/models/tuned", model_ok=True, model_id="tuned"
    )
    run = old.get_model("feedback", "TrainingRun").objects.create(
        base_model="base", output_dir="/models/tuned", status="succeeded"
    )
    activation = old.get_model("feedback", "ModelActivation")
    activation.objects.create(model_spec="/models/older")
    activation.objects.create(training_run=run, model_spec="/models/tuned", activated_by=user)
    calibration = old.get_model("feedback", "ConfidenceCalibration")
    calibration.objects.create(n=10, n_good=8, target_precision=0.9, threshold=0.3, applied=True)
    calibration.objects.create(n=10, n_good=8, target_precision=0.9, threshold=0.8, applied=False)

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    from captions.selectors import captioning_defaults
    from feedback.models import ModelActivation
    from monitoring.models import WorkerHeartbeat

    beat = WorkerHeartbeat.objects.get()
    assert (beat.worker_id, beat.model_spec, beat.model_ok) == ("host:1", "/models/tuned", True)
    defaults = captioning_defaults()
    assert defaults.model_spec == "/models/tuned" and defaults.review_threshold == 0.3
    assert defaults.model_source == "set" and defaults.threshold_source == "set"
    assert ModelActivation.objects.count() == 2  # the rollback history stays


@pytest.mark.django_db(transaction=True)
def test_upgrade_without_activation_keeps_the_settings(settings):
    executor = MigrationExecutor(connection)
    executor.migrate(OLD)
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    from captions.selectors import captioning_defaults

    settings.CAPTION_MODEL = "configured/model"
    defaults = captioning_defaults()
    assert defaults.model_spec == "configured/model" and defaults.model_source == "settings"
