"""The product shape of webhook payloads, from Python and from SQL."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection

from products.events import product_event_columns_sql, product_event_data, product_event_data_from_row
from products.models import Product

pytestmark = pytest.mark.django_db


def test_sql_and_python_give_the_same_event_data():
    """An import builds event data in SQL, staff edits in Python: the same keys and the same text,
    for prices with and without decimals, no price, and timestamps with and without microseconds."""
    moments = [datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=UTC)]
    for sku, price, moment in [("a", Decimal("19.90"), moments[0]), ("b", None, moments[1]), ("c", Decimal("1000"), moments[1])]:
        Product.objects.create(sku=sku, name=f"Name {sku}", description="Oak, \"solid\"\n", price=price, active=sku != "b")
        Product.objects.filter(sku=sku).update(created_at=moment, updated_at=moment)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {product_event_columns_sql('p')} FROM products_product p ORDER BY p.sku")
        from_sql = [product_event_data_from_row(row) for row in cursor.fetchall()]
    from_python = [product_event_data(product) for product in Product.objects.order_by("sku")]
    assert from_sql == from_python
    assert [data["created_at"] for data in from_python] == [
        "2026-01-02T03:04:05.000000+00:00", "2026-01-02T03:04:05.120000+00:00", "2026-01-02T03:04:05.120000+00:00",
    ]
    assert [data["price"] for data in from_python] == ["19.90", None, "1000.00"]
