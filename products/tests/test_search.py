"""The search rows: indexed at once by staff edits, caught up in bulk for what imports wrote."""

import threading

import pytest
from django.db import connection
from django.db.models.functions import Now

from config import locks
from products import search, selectors, services
from products.models import Product, ProductSearch
from products.selectors import ProductFilters, product_filter
from products.tests.factories import product_make

pytestmark = pytest.mark.django_db


def skus(**filters) -> list[str]:
    return [product.sku for product in product_filter(filters=ProductFilters(**filters)).order_by("id")]


def row_version(product: Product) -> str:
    """The search row's physical address, which every rewrite of the row changes."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT ctid::text FROM products_productsearch WHERE product_id = %s", [product.pk])
        return cursor.fetchone()[0]


def test_catch_up_indexes_missing_and_stale_rows_and_leaves_fresh_ones_alone():
    """A product without a search row or with an outdated one is indexed; an up-to-date row is not rewritten."""
    fresh = product_make("FRESH-1", "Teak stool")
    stale = product_make("STALE-1", "Oak table", description="Solid oak")
    # What an import does: write the products, not their search rows.
    Product.objects.filter(pk=stale.pk).update(name="Walnut table", description="Dark walnut", updated_at=Now())
    Product.objects.create(sku="NEW-1", name="Pine bench")
    fresh_version = row_version(fresh)
    assert skus(name="walnut") == [] and skus(name="pine") == []

    assert search.product_search_catch_up() == 2

    assert skus(name="walnut") == ["STALE-1"] and skus(description="walnut") == ["STALE-1"]
    assert skus(name="oak") == [] and skus(description="oak") == []
    assert skus(name="pine") == ["NEW-1"]
    assert row_version(fresh) == fresh_version
    assert search.product_search_catch_up() == 0


def test_catch_up_covers_every_chunk(monkeypatch):
    """Products spread over several id ranges are all indexed, one short transaction per range."""
    monkeypatch.setattr(search, "CATCH_UP_CHUNK", 2)
    for number in range(5):
        Product.objects.create(sku=f"P-{number}", name="Chair")
    assert search.product_search_catch_up() == 5
    assert skus(name="chair") == [f"P-{number}" for number in range(5)]


def test_an_edit_through_the_service_is_searchable_at_once():
    """Create and update index their product in their own transaction: no catch-up needed."""
    product = services.product_create(sku="ABC-1", name="Teak stool", description="Oiled teak")
    assert skus(name="stool") == ["ABC-1"] and skus(description="teak") == ["ABC-1"]
    services.product_update(product=product, data={"name": "Oak chair", "active": False})
    assert skus(name="stool") == [] and skus(name="chair", active=True) == []
    assert skus(name="chair", active=False) == ["ABC-1"]
    assert ProductSearch.objects.get(product=product).updated_at == Product.objects.get().updated_at


def test_deleting_a_product_deletes_its_search_row():
    """The search row goes with its product."""
    product = product_make("ABC-1")
    services.product_delete(product=product)
    assert not ProductSearch.objects.exists()


def test_catch_up_is_single_flight(other_session):
    """While another session runs a catch-up (holds its lock) a second one returns at once, indexing nothing."""
    Product.objects.create(sku="NEW-1", name="Pine bench")
    other_session.execute("SELECT pg_advisory_lock(%s)", [locks.SEARCH_CATCH_UP])
    assert search.product_search_catch_up() == 0
    other_session.execute("SELECT pg_advisory_unlock(%s)", [locks.SEARCH_CATCH_UP])
    assert search.product_search_catch_up() == 1


def test_search_is_behind_from_the_request_until_a_catch_up_finds_nothing_stale():
    """Asking for a catch-up marks search as behind; a finished catch-up clears it."""
    assert not selectors.product_search_is_behind()
    Product.objects.create(sku="NEW-1", name="Pine bench")
    search.product_search_catch_up_soon()
    assert selectors.product_search_is_behind()
    assert search.product_search_catch_up() == 1
    assert not selectors.product_search_is_behind()


@pytest.mark.django_db(transaction=True)
def test_a_row_a_staff_edit_indexes_while_a_chunk_runs_sends_the_chunk_round_again(other_session):
    """The chunk's INSERT waits for a staff edit's uncommitted search row, fails on its commit
    (the unique product id) and is retried: the catch-up ends normally, one row per product."""
    edited = Product.objects.create(sku="EDIT-1", name="Oak chair")
    Product.objects.create(sku="NEW-1", name="Pine bench")
    other_session.execute("BEGIN")
    other_session.execute(
        "INSERT INTO products_productsearch (product_id, sku, name, description, active, updated_at)"
        " SELECT id, lower(sku), lower(name), ''::tsvector, active, updated_at FROM products_product WHERE id = %s",
        [edited.pk],
    )
    threading.Timer(0.5, other_session.execute, ["COMMIT"]).start()

    search.product_search_catch_up()

    assert sorted(ProductSearch.objects.values_list("product__sku", flat=True)) == ["EDIT-1", "NEW-1"]
    assert skus(name="pine") == ["NEW-1"] and skus(name="chair") == ["EDIT-1"]
