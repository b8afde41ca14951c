from decimal import Decimal

from django.db import transaction

from products.models import Product
from products.search import product_search_backlog_extend, product_search_backlog_start, product_search_index


def product_make(sku: str, name: str = "Teak stool", description: str = "", price="9.99", active=True) -> Product:
    """A product with its search row, as staff edits leave it (imports leave it to a catch-up)."""
    product = Product.objects.create(
        sku=sku, name=name, description=description, price=None if price is None else Decimal(price), active=active
    )
    product_search_index(product_ids=[product.pk])
    return product


def products_import_make(*rows: tuple[str, str, str]) -> None:
    """Products (sku, name, description) created as an import batch does: no search rows, their
    ids in the search backlog."""
    after_id = product_search_backlog_start()
    with transaction.atomic():
        for sku, name, description in rows:
            Product.objects.create(sku=sku, name=name, description=description)
        product_search_backlog_extend(after_id=after_id)
