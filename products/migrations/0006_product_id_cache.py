from django.db import migrations

# Each session takes product ids 32 at a time instead of one by one, so an import's COPY skips
# the sequence's lock and WAL record per product (docs/performance.md). The cost: a session
# that ends leaves up to 31 ids unused, and products created at the same time in two sessions
# are not numbered in the order they were created.


class Migration(migrations.Migration):

    dependencies = [
        ("products", "0005_product_sku_key_bytewise"),
    ]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE products_product ALTER COLUMN id SET CACHE 32",
            reverse_sql="ALTER TABLE products_product ALTER COLUMN id SET CACHE 1",
        ),
    ]
