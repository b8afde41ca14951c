import pytest
from django.urls import reverse

from products import selectors
from products.models import DeleteAllJob, Product, ProductSearch
from products.selectors import ProductFilters, product_filter
from products.tests.factories import product_make, products_import_make
from webhooks.events import PRODUCT_CREATED, PRODUCT_DELETED, PRODUCT_UPDATED

pytestmark = pytest.mark.django_db


def test_product_admin_pages_render(admin_client):
    """The product changelist and change form work with the stored search column."""
    product = product_make("ABC-1")
    assert admin_client.get(reverse("admin:products_product_changelist"), {"q": "abc"}).status_code == 200
    assert admin_client.get(reverse("admin:products_product_change", args=[product.pk])).status_code == 200


@pytest.mark.parametrize("query", [{}, {"active__exact": "1"}, {"q": "abc"}])
def test_product_changelist_never_counts_every_product(admin_client, monkeypatch, query):
    """Past the exact-count size the changelist shows the catalogue's estimate, and a filtered
    one counts at most FILTERED_COUNT_CAP + 1 matches: no count(*) of the whole table."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from products import selectors

    for number in range(3):
        product_make(f"ABC-{number}")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE products_product")
    monkeypatch.setattr(selectors, "EXACT_COUNT_BELOW", 1)
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(reverse("admin:products_product_changelist"), query)
    assert response.status_code == 200 and response.context["cl"].result_count == 3
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper() and "products_product" in q["sql"]]
    assert all(f"LIMIT {selectors.FILTERED_COUNT_CAP + 1}" in sql for sql in counts), counts
    assert bool(counts) == bool(query)


def test_delete_all_jobs_are_visible_in_the_admin(admin_client, admin_user):
    """Staff see who ran a delete-all, when, and how many products went."""
    DeleteAllJob.objects.create(requested_by=admin_user, status=DeleteAllJob.Status.SUCCEEDED, deleted_count=1234)
    body = admin_client.get(reverse("admin:products_deletealljob_changelist")).content.decode()
    assert "admin" in body and "1234" in body


def _search_skus(**filters) -> list[str]:
    return [product.sku for product in product_filter(filters=ProductFilters(**filters)).order_by("id")]


def test_a_product_added_in_the_admin_is_searchable_at_once_and_announced(admin_client, emitted):
    """The admin saves through the service: search row written, product.created queued."""
    response = admin_client.post(
        reverse("admin:products_product_add"),
        {"sku": " ABC-1 ", "name": "Teak stool", "description": "Oiled teak", "price": "5.00", "active": "on"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Product.objects.get().sku == "ABC-1"
    assert _search_skus(name="stool") == ["ABC-1"]
    assert [(event["type"], event["data"]["products"][0]["sku"]) for event in emitted()] == [(PRODUCT_CREATED, "ABC-1")]


def test_a_product_changed_in_the_admin_is_searchable_at_once_and_announced(admin_client, emitted):
    product = product_make("ABC-1", "Teak stool")
    response = admin_client.post(
        reverse("admin:products_product_change", args=[product.pk]),
        {"sku": "ABC-1", "name": "Oak chair", "description": "", "price": "", "active": "on"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert _search_skus(name="chair") == ["ABC-1"] and _search_skus(name="stool") == []
    assert [(event["type"], event["data"]["products"][0]["name"]) for event in emitted()] == [(PRODUCT_UPDATED, "Oak chair")]


def test_a_sku_taken_in_another_case_is_a_form_error_in_the_admin(admin_client):
    """The admin's form names the existing SKU, as the staff pages do."""
    product_make("ABC-1")
    response = admin_client.post(reverse("admin:products_product_add"), {"sku": "abc-1", "name": "Other", "active": "on"})
    assert response.status_code == 200
    assert "A product with SKU “ABC-1” already exists (SKUs ignore letter case)." in response.content.decode()
    assert Product.objects.count() == 1


def test_products_deleted_in_the_admin_are_announced_in_one_event(admin_client, emitted):
    """The changelist's "delete selected" action and the delete page both emit product.deleted."""
    kept, first, second, third = (product_make(sku) for sku in ("KEEP-1", "DEL-1", "DEL-2", "DEL-3"))
    response = admin_client.post(
        reverse("admin:products_product_changelist"),
        {"action": "delete_selected", "_selected_action": [first.pk, second.pk], "post": "yes"},
    )
    assert response.status_code == 302
    response = admin_client.post(reverse("admin:products_product_delete", args=[third.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert list(Product.objects.values_list("sku", flat=True)) == ["KEEP-1"]
    assert not ProductSearch.objects.exclude(product=kept).exists()
    deleted = [sorted(product["sku"] for product in event["data"]["products"]) for event in emitted()]
    assert [event["type"] for event in emitted()] == [PRODUCT_DELETED, PRODUCT_DELETED]
    assert deleted == [["DEL-1", "DEL-2"], ["DEL-3"]]


def test_the_admin_search_finds_sku_or_name_in_any_case(admin_client):
    product_make("ABC-1", "Teak stool")
    product_make("XYZ-9", "Oak chair")
    product_make("ZZZ-1", "abc rack")  # the term in the name
    for term, expected in (("abc", ["ABC-1", "ZZZ-1"]), ("CHAIR", ["XYZ-9"]), ("nothing", [])):
        response = admin_client.get(reverse("admin:products_product_changelist"), {"q": term})
        found = sorted(product.sku for product in response.context["cl"].result_list)
        assert found == expected, term


@pytest.mark.parametrize("count_cap", [10_000, 1])
def test_the_admin_search_finds_products_an_import_just_wrote(admin_client, monkeypatch, count_cap):
    """Products still in the search backlog (no search row yet) are found by SKU or name, as in the staff list, with few matches or more than the count cap."""
    monkeypatch.setattr(selectors, "FILTERED_COUNT_CAP", count_cap)
    product_make("OLD-1", "Zebra stool")
    products_import_make(("IMP-1", "Zebra bench", ""), ("IMP-2", "Teak zebra", ""), ("IMP-3", "Oak table", ""))
    assert not ProductSearch.objects.filter(product__sku__startswith="IMP").exists()
    for term, expected in (("ZEBRA", ["IMP-1", "IMP-2", "OLD-1"]), ("imp-3", ["IMP-3"]), ("3 oak", ["IMP-3"]), ("nothing", [])):
        response = admin_client.get(reverse("admin:products_product_changelist"), {"q": term})
        found = sorted(product.sku for product in response.context["cl"].result_list)
        assert found == expected, term
