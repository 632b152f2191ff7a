from django.db import migrations, models


# Schedules are made by `manage.py setup_schedules` from the task functions (core.tasks.ScheduleSpec);
# this migration once created them and is kept, doing nothing, so the migration history stays valid.
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
        migrations.RunPython(migrations.RunPython.noop, migrations.RunPython.noop),
    ]
