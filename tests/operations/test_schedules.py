"""`manage.py setup_schedules`: one schedule per declared task, made from the task functions,
idempotent, and repairing a schedule whose task moved."""

import pytest
from django.core.management import call_command
from django_q.models import Schedule

from captions import tasks as caption_tasks
from core.tasks import ScheduleSpec, enqueue, task_path
from monitoring import tasks as monitoring_tasks

pytestmark = pytest.mark.django_db

EXPECTED = {
    "accounts: flush expired JWTs": ("accounts.tasks.flush_expired_tokens", Schedule.DAILY, None),
    "captions: requeue stale images": ("captions.tasks.requeue_stale", Schedule.MINUTES, 1),
    "captions: purge demo uploads": ("captions.tasks.demo_images_purge", Schedule.MINUTES, 5),
    "captions: sweep media": ("captions.tasks.media_sweep", Schedule.MINUTES, 15),
    "captions: worker heartbeat": ("monitoring.tasks.worker_heartbeat", Schedule.MINUTES, 1),
    "feedback: fine-tune when enough new corrections": ("feedback.tasks.finetune_if_due", Schedule.HOURLY, None),
}


def state():
    return {s.name: (s.func, s.schedule_type, s.minutes, s.repeats) for s in Schedule.objects.all()}


def test_migrations_make_no_schedule_and_the_command_makes_each_once(capsys):
    assert Schedule.objects.count() == 0
    call_command("setup_schedules")
    assert "created" in capsys.readouterr().out
    first = state()
    assert first == {name: (*spec, -1) for name, spec in EXPECTED.items()}
    ids = set(Schedule.objects.values_list("id", flat=True))
    call_command("setup_schedules")
    assert capsys.readouterr().out.count("unchanged") == len(EXPECTED)
    assert state() == first and set(Schedule.objects.values_list("id", flat=True)) == ids


def test_a_moved_or_duplicated_schedule_is_repaired(schedules):
    # What the old data migration left behind: the heartbeat under its old path, and a copy.
    Schedule.objects.filter(name="captions: worker heartbeat").update(func="captions.tasks.worker_heartbeat", minutes=7)
    Schedule.objects.create(name="captions: worker heartbeat", func="captions.tasks.worker_heartbeat", schedule_type="I", minutes=1)
    call_command("setup_schedules", verbosity=0)
    beats = Schedule.objects.filter(name="captions: worker heartbeat")
    assert [(b.func, b.minutes) for b in beats] == [("monitoring.tasks.worker_heartbeat", 1)]
    for schedule in Schedule.objects.all():  # every path imports and runs in a worker
        module, _, name = schedule.func.rpartition(".")
        assert callable(getattr(__import__(module, fromlist=[name]), name))


def test_task_paths_come_from_the_functions():
    assert task_path(caption_tasks.caption_pending) == "captions.tasks.caption_pending"
    assert task_path(monitoring_tasks.worker_heartbeat) == "monitoring.tasks.worker_heartbeat"
    with pytest.raises(ValueError):
        task_path(lambda: None)

    def nested():
        pass

    with pytest.raises(ValueError):
        task_path(nested)
    with pytest.raises(ValueError):
        ScheduleSpec("bad", nested, "I", minutes=1).fields()


def test_a_task_named_by_its_path_must_name_a_function():
    """A service names its own app's task by path (the task module imports the service)."""
    assert task_path("captions.tasks.caption_pending") == "captions.tasks.caption_pending"
    assert task_path("feedback.tasks.finetune_run") == "feedback.tasks.finetune_run"
    for bad in ["captions.tasks.no_such_task", "no_such_module.task", "caption_pending", "captions.tasks.MINUTES"]:
        with pytest.raises(ValueError):
            task_path(bad)


def test_enqueue_runs_the_function_by_its_path(tiny_model):
    task_id = enqueue(monitoring_tasks.worker_heartbeat, sync=True)
    assert task_id
    from monitoring.models import WorkerHeartbeat

    assert WorkerHeartbeat.objects.filter(model_checked_at__isnull=False).exists()
