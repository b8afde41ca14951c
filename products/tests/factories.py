from decimal import Decimal

from products.models import Product


def product_make(sku: str, name: str = "Teak stool", description: str = "", price="9.99", active=True) -> Product:
    return Product.objects.create(
        sku=sku, name=name, description=description, price=None if price is None else Decimal(price), active=active
    )
