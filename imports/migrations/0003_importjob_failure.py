"""Record why an import job failed, so Retry is offered only when another run can help.

Jobs that failed before keep a blank kind, which still allows a retry, as before."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('imports', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='importjob',
            name='failure',
            field=models.CharField(blank=True, choices=[('file', 'The file cannot be imported'), ('interrupted', 'Its runs kept stopping'), ('error', 'Unexpected error')], help_text='The kind of failure; a bad file is never retried.', max_length=16),
        ),
    ]
