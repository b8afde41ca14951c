"""The search rows: indexed at once by staff edits, caught up in bulk for what imports wrote."""

import threading

import pytest
from django.core.files.base import ContentFile
from django.db import connection, models
from django.db.models.functions import Now

from config import locks
from config.tests.processes import wait_for
from imports.services import import_job_create
from imports.tests.processes import job_ended
from products import search, selectors, services
from products.models import Product, ProductSearch, ProductSearchBacklog
from products.selectors import ProductFilters, product_filter
from products.tests.factories import product_make, products_import_make

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


def test_catch_up_leaves_the_search_indexes_nothing_for_autovacuum_to_do():
    """After a catch-up the GIN indexes hold no pending entries and the BRIN index no unsummarized
    ranges (a btree has nothing to put off)."""
    product_make("OAK-1", "Oak table")
    Product.objects.bulk_create(Product(sku=f"IMPORTED-{n}", name=f"Pine bench {n}") for n in range(200))
    assert search.product_search_catch_up() == 200
    with connection.cursor() as cursor:
        for index in [index for index in ProductSearch._meta.indexes if type(index) is not models.Index]:
            upkeep = search.INDEX_UPKEEP[type(index)]
            # Each returns how much it still had to do: pending pages merged, ranges summarized.
            cursor.execute(f"SELECT {upkeep}(%s::regclass)", [index.name])
            assert cursor.fetchone()[0] == 0, index.name


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


def listed(**filters) -> tuple[list[str], list[str], list[str]]:
    """The SKUs the filters find in the list's page, the API's page and product_filter()."""
    found = ProductFilters(**filters)
    page = selectors.product_page(filters=found, number=1, per_page=50)
    keyset = selectors.product_keyset_page(filters=found, per_page=50)
    return [p.sku for p in page.products], [p.sku for p in keyset.products], skus(**filters)


# Every filter, also on words English stems in unusual ways ("dying" is "die").
FILTER_CASES = [
    {"name": "zebra"}, {"sku": "imp-2"}, {"sku": "-"}, {"description": "die"}, {"description": "possibilities"},
    {"description": "happy"}, {"description": "the"}, {"description": "walnut"}, {"name": "stool", "active": True},
    {"name": "stool", "description": "oiled", "active": True}, {"name": "zebra", "sku": "2"},
]  # fmt: skip


def test_imported_products_are_found_by_every_filter_before_the_catch_up_as_after_it():
    """Until the catch-up the backlog's products are read from the products table, with the same answers as their search rows give after it."""
    product_make("OLD-1", "Zebra stool", description="Walnut, dying art")
    products_import_make(
        ("IMP-1", "Zebra bench", "The possibility of oak"),
        ("IMP-2", "Teak stool", "Happiness is oiled walnut; dying slowly"),
        ("IMP-3", "Oak table", "the the"),
    )
    assert not ProductSearch.objects.filter(product__sku__startswith="IMP").exists()
    assert selectors.product_search_is_behind()
    before = {str(case): listed(**case) for case in FILTER_CASES}

    assert search.product_search_catch_up() == 3

    assert not selectors.product_search_backlog() and not selectors.product_search_is_behind()
    assert {str(case): listed(**case) for case in FILTER_CASES} == before
    assert before[str({"name": "zebra"})] == (["OLD-1", "IMP-1"],) * 3
    assert before[str({"description": "die"})] == (["OLD-1", "IMP-2"],) * 3
    assert before[str({"description": "possibilities"})] == (["IMP-1"],) * 3
    assert before[str({"description": "the"})] == ([],) * 3


# Words whose English stem is not in them ("hoping" is "hope") or that the stemmer special-cases.
STEMMED_WORDS = [
    "hoping", "hoped", "happy", "happiness", "possibility", "dying", "lying", "tying", "oaks", "ponies", "skies",
    "agreed", "generously", "relational", "organization", "feet", "oak-wood", "café", "news", "early", "gently",
    "ugly", "idly", "skis",
]  # fmt: skip


def test_a_word_is_found_in_the_backlog_by_its_every_form_as_after_the_catch_up():
    """Each description word, however English stems it, is found in the backlog's products, with the same answers as after the catch-up."""
    products_import_make(*((f"W-{number}", "Chair", f"Some {word}.") for number, word in enumerate(STEMMED_WORDS)))
    before = {word: listed(description=word) for word in STEMMED_WORDS}

    search.product_search_catch_up()

    assert {word: listed(description=word) for word in STEMMED_WORDS} == before
    for number, word in enumerate(STEMMED_WORDS):
        assert f"W-{number}" in before[word][0], word


def test_a_staff_edit_of_an_imported_product_is_searchable_at_once():
    """Editing a product still in the backlog finds it by its new values, and no longer by its old ones."""
    products_import_make(("IMP-1", "Zebra bench", "Oak"))
    services.product_update(product=Product.objects.get(), data={"name": "Teak chair", "description": "Walnut"})
    assert skus(name="chair") == ["IMP-1"] and skus(description="walnut") == ["IMP-1"]
    assert skus(name="zebra") == [] and skus(description="oak") == []


def test_catch_up_forgets_the_backlog_of_every_chunk_it_indexed(monkeypatch):
    """Backlog ranges across several chunks are forgotten as their products are indexed."""
    monkeypatch.setattr(search, "CATCH_UP_CHUNK", 2)
    products_import_make(*((f"P-{number}", "Chair", "") for number in range(3)))
    products_import_make(*((f"Q-{number}", "Chair", "") for number in range(3)))
    assert search.product_search_catch_up() == 6
    assert not ProductSearchBacklog.objects.exists()
    assert ProductSearch.objects.count() == 6


def test_a_backlog_range_below_a_chunk_stays_for_the_next_pass():
    """A range that begins below the chunk's start may have committed after the earlier chunks read its ids: the chunk leaves it."""
    products_import_make(("P-1", "Chair", ""), ("P-2", "Chair", ""))
    first, last = selectors.product_search_backlog()[0]
    with connection.cursor() as cursor:
        search._backlog_forget(cursor, start=first + 1, end=last + 1)
    assert selectors.product_search_backlog() == [(first, last)]
    with connection.cursor() as cursor:
        search._backlog_forget(cursor, start=first, end=last)
    assert selectors.product_search_backlog() == [(last, last)]


@pytest.mark.django_db(transaction=True)
def test_a_finished_import_is_found_by_every_filter_before_its_catch_up_and_after(celery_worker, other_session):
    """A job a real worker finished: its products are found by SKU, name and description while its catch-up waits, and the same after it."""
    other_session.execute("SELECT pg_advisory_lock(%s)", [locks.SEARCH_CATCH_UP])  # a catch-up running elsewhere
    content = b"sku,name,description\nz-1,Zebrawood Stool,Dying oak\nz-2,Oak Table,Possibilities\n"
    job = import_job_create(file=ContentFile(content), name="new.csv", user=None)
    assert job_ended(job.pk, 20).status == "completed"
    cases = [{"name": "zebrawood"}, {"sku": "z-2"}, {"description": "die"}, {"description": "possibility"}]
    before = [listed(**case) for case in cases]
    assert before == [(["z-1"],) * 3, (["z-2"],) * 3, (["z-1"],) * 3, (["z-2"],) * 3]
    assert not ProductSearch.objects.exists() and selectors.product_search_is_behind()

    other_session.execute("SELECT pg_advisory_unlock(%s)", [locks.SEARCH_CATCH_UP])
    search.product_search_catch_up()  # or the worker's task, if it got the lock first
    wait_for(lambda: not selectors.product_search_is_behind(), 20, "search to catch up")

    assert ProductSearch.objects.count() == 2
    assert [listed(**case) for case in cases] == before


def test_pages_past_the_count_cap_are_the_same_before_the_catch_up_as_after_it(monkeypatch):
    """Every page of a filter with more matches than the cap, in the list and the API, with the backlog's products read from the products table."""
    monkeypatch.setattr(selectors, "FILTERED_COUNT_CAP", 3)
    for number in range(4):
        product_make(f"OLD-{number}", "Oak chair")
    products_import_make(*((f"IMP-{number}", "Oak chair", "") for number in range(5)))
    product_make("NEW-1", "Oak chair")

    def pages() -> tuple[list, list]:
        found = ProductFilters(name="chair")
        listed_pages = [
            [p.sku for p in selectors.product_page(filters=found, number=number, per_page=2).products]
            for number in range(1, 7)
        ]
        keyset_pages, after = [], None
        while True:
            page = selectors.product_keyset_page(filters=found, per_page=2, after=after)
            keyset_pages.append([p.sku for p in page.products])
            if not page.has_more:
                break
            after = page.products[-1].pk
        return listed_pages, keyset_pages

    before = pages()
    search.product_search_catch_up()
    assert pages() == before
    assert [sku for page in before[1] for sku in page] == [
        *(f"OLD-{number}" for number in range(4)), *(f"IMP-{number}" for number in range(5)), "NEW-1"
    ]
    assert before[0] == before[1] + [[]]
