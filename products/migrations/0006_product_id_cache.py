from django.db import migrations

# Each session takes product ids 32 at a time instead of one by one: an import's COPY calls
# nextval() for every new product, and a cached value skips the sequence's buffer lock and
# WAL record (COPY of 485k new products: 1.79 -> 1.62 s, median of 9 paired runs).
# The cost: a session that ends leaves up to 31 ids unused, and products created at the same
# time in two sessions are not numbered in the order they were created.


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
