from django.db import migrations, models

import webhooks.models


def _copy(apps, schema_editor, source: str, target: str) -> None:
    Event = apps.get_model("webhooks", "Event")
    events = Event.objects.order_by("pk").only("pk", source)
    last = 0
    while chunk := list(events.filter(pk__gt=last)[:200]):
        for event in chunk:
            setattr(event, target, getattr(event, source))
        Event.objects.bulk_update(chunk, [target])
        last = chunk[-1].pk


def compress(apps, schema_editor):
    _copy(apps, schema_editor, "payload", "compressed")


def decompress(apps, schema_editor):
    _copy(apps, schema_editor, "compressed", "payload")


class Migration(migrations.Migration):
    """Store event payloads as LZ4 frames in bytea (webhooks.models.CompressedTextField), with
    EXTERNAL storage so that PostgreSQL does not compress them again: the existing payloads are
    compressed into a new column, which then takes the old one's name."""

    dependencies = [
        ("webhooks", "0003_delivery_endpoint_pending"),
    ]

    operations = [
        migrations.AlterField(model_name="event", name="payload", field=models.TextField(null=True)),
        migrations.AddField(
            model_name="event", name="compressed", field=webhooks.models.CompressedTextField(null=True),
        ),
        migrations.RunPython(compress, decompress),
        migrations.RemoveField(model_name="event", name="payload"),
        migrations.RenameField(model_name="event", old_name="compressed", new_name="payload"),
        migrations.AlterField(model_name="event", name="payload", field=webhooks.models.CompressedTextField()),
        migrations.RunSQL(
            "ALTER TABLE webhooks_event ALTER COLUMN payload SET STORAGE EXTERNAL",
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
