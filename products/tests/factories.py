from decimal import Decimal

from products.models import Product
from products.search import product_search_index


def product_make(sku: str, name: str = "Teak stool", description: str = "", price="9.99", active=True) -> Product:
    """A product with its search row, as staff edits leave it (imports leave it to a catch-up)."""
    product = Product.objects.create(
        sku=sku, name=name, description=description, price=None if price is None else Decimal(price), active=active
    )
    product_search_index(product_ids=[product.pk])
    return product
