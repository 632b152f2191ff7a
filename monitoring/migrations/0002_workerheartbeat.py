"""WorkerHeartbeat, moved here from captions with its table and rows (state only: the table
keeps its name, captions_workerheartbeat)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0001_initial"),
        ("captions", "0005_workerheartbeat_to_monitoring"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="WorkerHeartbeat",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("worker_id", models.CharField(max_length=200, unique=True)),
                        ("seen_at", models.DateTimeField(db_index=True)),
                        (
                            "model_spec",
                            models.CharField(blank=True, help_text="The active model as the worker saw it.", max_length=300),
                        ),
                        ("model_id", models.CharField(blank=True, max_length=300)),
                        (
                            "model_ok",
                            models.BooleanField(help_text="None until the worker has tried to load the model.", null=True),
                        ),
                        ("model_error", models.TextField(blank=True)),
                        ("model_checked_at", models.DateTimeField(blank=True, null=True)),
                    ],
                    options={"db_table": "captions_workerheartbeat", "ordering": ["-seen_at"]},
                )
            ],
            database_operations=[],
        )
    ]
