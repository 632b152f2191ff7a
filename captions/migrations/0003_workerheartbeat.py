from django.db import migrations, models

HEARTBEAT_SCHEDULE = "captions: worker heartbeat"
DEMO_PURGE_SCHEDULE = "captions: purge demo uploads"


def create_schedules(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name=HEARTBEAT_SCHEDULE,
        defaults={"func": "captions.tasks.worker_heartbeat", "schedule_type": "I", "minutes": 1, "repeats": -1},
    )
    Schedule.objects.update_or_create(
        name=DEMO_PURGE_SCHEDULE,
        defaults={"func": "captions.tasks.demo_images_purge", "schedule_type": "I", "minutes": 5, "repeats": -1},
    )


def delete_schedules(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name__in=[HEARTBEAT_SCHEDULE, DEMO_PURGE_SCHEDULE]).delete()


class Migration(migrations.Migration):
    dependencies = [("captions", "0002_schedule_sweep")]

    operations = [
        migrations.CreateModel(
            name="WorkerHeartbeat",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("worker_id", models.CharField(max_length=200, unique=True)),
                ("seen_at", models.DateTimeField(db_index=True)),
                ("model_spec", models.CharField(blank=True, help_text="CAPTION_MODEL as the worker saw it.", max_length=300)),
                ("model_id", models.CharField(blank=True, max_length=300)),
                ("model_ok", models.BooleanField(help_text="None until the worker has tried to load the model.", null=True)),
                ("model_error", models.TextField(blank=True)),
                ("model_checked_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={"ordering": ["-seen_at"]},
        ),
        migrations.RunPython(create_schedules, delete_schedules),
    ]
