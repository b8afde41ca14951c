from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from products import services
from products.models import Product
from products.tests.factories import product_make
from webhooks.events import PRODUCT_CREATED, PRODUCT_DELETED, PRODUCT_UPDATED

pytestmark = pytest.mark.django_db


def test_create_trims_the_sku_and_emits_product_created(emitted):
    """Creating stores the trimmed SKU and emits product.created inside the transaction."""
    product = services.product_create(sku="  ABC-1 ", name="Stool", price=Decimal("5.00"))
    assert product.sku == "ABC-1"
    assert [event["type"] for event in emitted()] == [PRODUCT_CREATED]
    assert emitted()[0]["data"]["products"][0]["sku"] == "ABC-1"


def test_create_with_a_taken_sku_in_another_case_is_a_validation_error(emitted):
    """A duplicate that got past the form (a race) is a field error on sku, not an IntegrityError."""
    product_make("ABC-1")
    with pytest.raises(ValidationError) as raised:
        services.product_create(sku="abc-1", name="Other")
    assert raised.value.message_dict == {"sku": ["A product with SKU “ABC-1” already exists (SKUs ignore letter case)."]}
    assert emitted() == []
    assert Product.objects.count() == 1


def test_update_emits_product_updated(emitted):
    """Updating saves the fields and emits product.updated with the new values."""
    product = product_make("ABC-1")
    services.product_update(product=product, data={"name": "New name", "active": False})
    product.refresh_from_db()
    assert (product.name, product.active) == ("New name", False)
    assert [event["type"] for event in emitted()] == [PRODUCT_UPDATED]
    assert emitted()[0]["data"]["products"][0]["name"] == "New name"


def test_delete_emits_product_deleted_with_the_deleted_product(emitted):
    """Deleting emits product.deleted carrying the product as it was, id included."""
    product = product_make("ABC-1")
    product_id = product.pk
    services.product_delete(product=product)
    assert not Product.objects.filter(pk=product_id).exists()
    assert [event["type"] for event in emitted()] == [PRODUCT_DELETED]
    assert emitted()[0]["data"]["products"][0]["id"] == product_id


def test_a_rolled_back_create_queues_no_event(emitted):
    """The event is written in the change's transaction: when that rolls back, nothing is sent."""
    with pytest.raises(RuntimeError), transaction.atomic():
        services.product_create(sku="ABC-1", name="Stool")
        raise RuntimeError("the caller's later step failed")
    assert not Product.objects.exists()
    assert emitted() == []


def test_active_set_changes_only_products_that_differ_and_announces_them(emitted):
    """Deactivating a mixed set updates and announces only the active ones, searchable at once."""
    teak, oak = product_make("TEAK-1", active=True), product_make("OAK-2", active=False)
    changed = services.products_active_set(products=[teak, oak], active=False)
    assert [product.sku for product in changed] == ["TEAK-1"]
    assert not Product.objects.filter(active=True).exists()
    assert [event["type"] for event in emitted()] == [PRODUCT_UPDATED]
    assert [(p["sku"], p["active"]) for p in emitted()[0]["data"]["products"]] == [("TEAK-1", False)]
    assert list(Product.objects.filter(search__active=False).order_by("id").values_list("sku", flat=True)) == ["TEAK-1", "OAK-2"]
