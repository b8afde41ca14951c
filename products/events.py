"""The shape of a product in webhook payloads (`data.products` of product.* events)."""

from products.models import Product


def product_event_data(product: Product) -> dict:
    return {
        "id": product.id,
        "sku": product.sku,
        "name": product.name,
        "description": product.description,
        "price": None if product.price is None else str(product.price),
        "active": product.active,
        "created_at": product.created_at.isoformat(),
        "updated_at": product.updated_at.isoformat(),
    }
