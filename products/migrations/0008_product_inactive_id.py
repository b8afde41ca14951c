from django.db import migrations, models


class Migration(migrations.Migration):
    """Adds product_inactive_id: an index of the inactive products' ids, from which the
    "inactive" filter counts and pages them."""

    dependencies = [
        ('products', '0007_search_backlog'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='product',
            index=models.Index(condition=models.Q(('active', False)), fields=['id'], name='product_inactive_id'),
        ),
    ]
