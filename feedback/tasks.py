"""django-q2 entry points: thin shells around services."""

from core.tasks import HOURLY, ScheduleSpec
from feedback import services
from feedback.models import TrainingRun


def finetune_run(run_id: int) -> dict:
    """Run one queued fine-tuning run (a re-delivered message finds it no longer queued)."""
    run = TrainingRun.objects.filter(pk=run_id).first()
    if run is None:
        return {"run": run_id, "status": "gone"}
    run = services.training_run_execute(run=run)
    return {"run": run.pk, "status": run.status}


def finetune_if_due() -> dict:
    """Scheduled: start a run once enough new corrections have arrived since the last one."""
    run = services.training_run_start_if_due()
    return {"started": run.pk if run else None}


SCHEDULES = [ScheduleSpec("feedback: fine-tune when enough new corrections", finetune_if_due, HOURLY)]
