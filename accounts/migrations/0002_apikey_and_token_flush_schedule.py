import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


# Schedules are made by `manage.py setup_schedules` from the task functions (core.tasks.ScheduleSpec);
# this migration once created them and is kept, doing nothing, so the migration history stays valid.
class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        migrations.CreateModel(
            name="ApiKey",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=100)),
                ("prefix", models.CharField(max_length=16, unique=True)),
                ("hashed_secret", models.CharField(max_length=255)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("last_used_at", models.DateTimeField(blank=True, null=True)),
                ("expires_at", models.DateTimeField(blank=True, null=True)),
                ("revoked_at", models.DateTimeField(blank=True, null=True)),
                (
                    "owner",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="api_keys",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={"verbose_name": "API key", "ordering": ["-created_at", "-id"]},
        ),
        migrations.RunPython(migrations.RunPython.noop, migrations.RunPython.noop),
    ]
