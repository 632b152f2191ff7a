"""WorkerHeartbeat moves to the monitoring app: removed from this app's state only; the table
(captions_workerheartbeat) and its rows stay, and monitoring.0002 takes them over."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("captions", "0004_captioningdefaults")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="WorkerHeartbeat")], database_operations=[]
        )
    ]
