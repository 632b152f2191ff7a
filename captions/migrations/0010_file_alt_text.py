import importlib

from django.db import migrations, models

# SQLite remakes captions_image (a new column) and captions_caption (new choices), which would drop
# the full-text triggers of 0006: suspend them around the remakes.
search = importlib.import_module("captions.migrations.0006_image_search")


class Migration(migrations.Migration):

    dependencies = [
        ('captions', '0009_idempotent_requests'),
    ]

    operations = [
        search.sqlite_triggers_suspend(),
        migrations.AddField(
            model_name='image',
            name='file_metadata_note',
            field=models.TextField(blank=True),
        ),
        migrations.AlterField(
            model_name='caption',
            name='source',
            field=models.CharField(choices=[('model', 'Model'), ('cache', 'Model (reused)'), ('human', 'Human'), ('file', 'From the file')], default='model', max_length=8),
        ),
        search.sqlite_triggers_restore(),
    ]
