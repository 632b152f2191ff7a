"""Full-text search over file names and caption text (captions.search): on SQLite an FTS5 table
kept in sync by triggers; on PostgreSQL Image.search_document (tsvector, GIN index) kept in sync
by triggers. Existing rows are indexed here. Other databases get the column only."""

import django.contrib.postgres.search
from django.db import migrations

SQLITE_FORWARD = [
    """CREATE VIRTUAL TABLE captions_image_fts USING fts5(
           filename, captions, tokenize = "unicode61 remove_diacritics 2")""",
    # The captions column: the text of all the image's captions (current, history and human).
    """CREATE TRIGGER captions_image_fts_ai AFTER INSERT ON captions_image BEGIN
           INSERT INTO captions_image_fts(rowid, filename, captions)
           VALUES (new.id, new.original_filename,
                   coalesce((SELECT group_concat(text, ' ') FROM captions_caption WHERE image_id = new.id), ''));
       END""",
    """CREATE TRIGGER captions_image_fts_au AFTER UPDATE OF original_filename ON captions_image BEGIN
           UPDATE captions_image_fts SET filename = new.original_filename WHERE rowid = new.id;
       END""",
    """CREATE TRIGGER captions_image_fts_ad AFTER DELETE ON captions_image BEGIN
           DELETE FROM captions_image_fts WHERE rowid = old.id;
       END""",
    """CREATE TRIGGER captions_caption_fts_ai AFTER INSERT ON captions_caption BEGIN
           UPDATE captions_image_fts SET captions =
               coalesce((SELECT group_concat(text, ' ') FROM captions_caption WHERE image_id = new.image_id), '')
           WHERE rowid = new.image_id;
       END""",
    """CREATE TRIGGER captions_caption_fts_au AFTER UPDATE OF text, image_id ON captions_caption BEGIN
           UPDATE captions_image_fts SET captions =
               coalesce((SELECT group_concat(text, ' ') FROM captions_caption WHERE image_id = new.image_id), '')
           WHERE rowid = new.image_id;
           UPDATE captions_image_fts SET captions =
               coalesce((SELECT group_concat(text, ' ') FROM captions_caption WHERE image_id = old.image_id), '')
           WHERE rowid = old.image_id;
       END""",
    """CREATE TRIGGER captions_caption_fts_ad AFTER DELETE ON captions_caption BEGIN
           UPDATE captions_image_fts SET captions =
               coalesce((SELECT group_concat(text, ' ') FROM captions_caption WHERE image_id = old.image_id), '')
           WHERE rowid = old.image_id;
       END""",
    """INSERT INTO captions_image_fts(rowid, filename, captions)
       SELECT i.id, i.original_filename,
              coalesce((SELECT group_concat(c.text, ' ') FROM captions_caption c WHERE c.image_id = i.id), '')
       FROM captions_image i""",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS captions_caption_fts_ad",
    "DROP TRIGGER IF EXISTS captions_caption_fts_au",
    "DROP TRIGGER IF EXISTS captions_caption_fts_ai",
    "DROP TRIGGER IF EXISTS captions_image_fts_ad",
    "DROP TRIGGER IF EXISTS captions_image_fts_au",
    "DROP TRIGGER IF EXISTS captions_image_fts_ai",
    "DROP TABLE IF EXISTS captions_image_fts",
]

# Punctuation becomes a space first, so that "beach-day_02.jpg" is the words beach, day, 02, jpg
# (PostgreSQL's parser would otherwise keep it as one "file" token).
# Accents go too (translate() of the Latin letters, as FTS5's remove_diacritics does and as
# captions.search.search_terms does to the query), without needing the unaccent extension.
# Letters whose accent Unicode decomposes (NFKD), as FTS5 and search_terms fold them.
_FOLD = {"a": "àáâãäåāăą", "c": "çćč", "d": "ď", "e": "èéêëēėęě", "i": "ìíîïīį", "n": "ñńň",
         "o": "òóôõöōő", "u": "ùúûüūůűų", "y": "ýÿ", "z": "žźż", "s": "śšş"}
PG_ACCENTED = "".join(_FOLD.values())
PG_PLAIN = "".join(plain * len(accented) for plain, accented in _FOLD.items())
_PG_DOCUMENT = (
    "to_tsvector('simple', translate(lower(regexp_replace("
    "coalesce({filename}, '') || ' ' || coalesce((SELECT string_agg(c.text, ' ') FROM captions_caption c "
    "WHERE c.image_id = {image_id}), ''), '[^[:alnum:]]+', ' ', 'g')), "
    f"'{PG_ACCENTED}', '{PG_PLAIN}'))"
)

POSTGRES_FORWARD = [
    "CREATE INDEX captions_image_search_gin ON captions_image USING gin (search_document)",
    f"""CREATE FUNCTION captions_image_search_row() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.search_document := {_PG_DOCUMENT.format(filename="NEW.original_filename", image_id="NEW.id")};
            RETURN NEW;
        END $$""",
    """CREATE TRIGGER captions_image_search_biu BEFORE INSERT OR UPDATE OF original_filename ON captions_image
       FOR EACH ROW EXECUTE FUNCTION captions_image_search_row()""",
    f"""CREATE FUNCTION captions_caption_search_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP IN ('UPDATE', 'DELETE') THEN
                UPDATE captions_image i SET search_document =
                    {_PG_DOCUMENT.format(filename="i.original_filename", image_id="i.id")}
                WHERE i.id = OLD.image_id;
            END IF;
            IF TG_OP IN ('INSERT', 'UPDATE') THEN
                UPDATE captions_image i SET search_document =
                    {_PG_DOCUMENT.format(filename="i.original_filename", image_id="i.id")}
                WHERE i.id = NEW.image_id;
            END IF;
            RETURN NULL;
        END $$""",
    """CREATE TRIGGER captions_caption_search_aiud AFTER INSERT OR DELETE OR UPDATE OF text, image_id
       ON captions_caption FOR EACH ROW EXECUTE FUNCTION captions_caption_search_refresh()""",
    f"UPDATE captions_image i SET search_document = {_PG_DOCUMENT.format(filename='i.original_filename', image_id='i.id')}",
]
POSTGRES_BACKWARD = [
    "DROP TRIGGER IF EXISTS captions_caption_search_aiud ON captions_caption",
    "DROP FUNCTION IF EXISTS captions_caption_search_refresh()",
    "DROP TRIGGER IF EXISTS captions_image_search_biu ON captions_image",
    "DROP FUNCTION IF EXISTS captions_image_search_row()",
    "DROP INDEX IF EXISTS captions_image_search_gin",
]


# SQLite remakes a table (new table, copy, drop, rename) for many schema changes; the FTS triggers
# name both tables, so a later migration that alters captions_image or captions_caption drops the
# triggers first and creates them again after (sqlite_triggers_suspend / sqlite_triggers_restore).
SQLITE_TRIGGERS = SQLITE_FORWARD[1:7]
SQLITE_TRIGGERS_DROP = SQLITE_BACKWARD[:6]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


def sqlite_triggers_suspend():
    """RunPython operation (both directions): drop the FTS triggers on SQLite, nothing elsewhere."""
    return migrations.RunPython(_run({"sqlite": SQLITE_TRIGGERS_DROP}), _run({"sqlite": SQLITE_TRIGGERS}))


def sqlite_triggers_restore():
    """RunPython operation (both directions): create the FTS triggers again on SQLite."""
    return migrations.RunPython(_run({"sqlite": SQLITE_TRIGGERS}), _run({"sqlite": SQLITE_TRIGGERS_DROP}))


class Migration(migrations.Migration):
    dependencies = [("captions", "0005_workerheartbeat_to_monitoring")]

    operations = [
        migrations.AddField(
            model_name="image",
            name="search_document",
            field=django.contrib.postgres.search.SearchVectorField(editable=False, null=True),
        ),
        migrations.RunPython(
            _run({"sqlite": SQLITE_FORWARD, "postgresql": POSTGRES_FORWARD}),
            _run({"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRES_BACKWARD}),
        ),
    ]
