import importlib

from django.db import migrations, models

# SQLite remakes captions_image to add a column, which would drop the full-text triggers of 0006:
# suspend them around the remake.
search = importlib.import_module("captions.migrations.0006_image_search")


class Migration(migrations.Migration):

    dependencies = [
        ('captions', '0011_image_claim_priority'),
    ]

    operations = [
        search.sqlite_triggers_suspend(),
        migrations.AddField(
            model_name='image',
            name='file_metadata_note',
            field=models.TextField(blank=True),
        ),
        search.sqlite_triggers_restore(),
    ]
