from django.db import migrations


# Schedules are made by `manage.py setup_schedules` from the task functions (core.tasks.ScheduleSpec);
# this migration once created them and is kept, doing nothing, so the migration history stays valid.
class Migration(migrations.Migration):
    dependencies = [("captions", "0001_initial"), ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more")]

    operations = [migrations.RunPython(migrations.RunPython.noop, migrations.RunPython.noop)]
