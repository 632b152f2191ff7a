"""The captioning defaults move to captions: which model the workers use (the newest
ModelActivation) and the review threshold (the newest applied ConfidenceCalibration) become
one captions.CaptioningDefaults row. The feedback rows stay as the activation and calibration
history."""

from django.db import migrations


def copy_forward(apps, schema_editor):
    defaults = apps.get_model("captions", "CaptioningDefaults")
    activation_model = apps.get_model("feedback", "ModelActivation")
    calibration_model = apps.get_model("feedback", "ConfidenceCalibration")
    if defaults.objects.exists():
        return
    activation = activation_model.objects.order_by("-created_at", "-id").first()
    calibration = (
        calibration_model.objects.filter(applied=True, threshold__isnull=False).order_by("-created_at", "-id").first()
    )
    if activation is None and calibration is None:
        return
    reasons = []
    if activation is not None:
        reasons.append(f"model activated {activation.created_at:%Y-%m-%d %H:%M}")
    if calibration is not None:
        reasons.append(f"calibration {calibration.pk} applied")
    defaults.objects.create(
        model_spec=activation.model_spec if activation else "",
        review_threshold=calibration.threshold if calibration else None,
        changed_by_id=activation.activated_by_id if activation else None,
        reason=("Carried over: " + ", ".join(reasons))[:200],
    )


class Migration(migrations.Migration):
    dependencies = [
        ("feedback", "0002_schedule_finetune_check"),
        ("captions", "0004_captioningdefaults"),
    ]

    operations = [migrations.RunPython(copy_forward, migrations.RunPython.noop)]
