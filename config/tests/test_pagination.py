"""Any `?page=` on any paginated page answers a page, never a server error."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from products import selectors
from products.models import Product
from webhooks.tests.factories import endpoint_make

HOSTILE_QUERIES = [
    "page=99999999999999999999", "page=-1", "page=0", "page=abc", "page=1e400", "page=",
    "per_page=99999999999999999999", "per_page=-1", "per_page=abc", "page=99999999999999999999&per_page=100",
    "p=99999999999999999999", "p=-1", "p=abc",
]  # fmt: skip


@pytest.fixture
def superuser_client(client):
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "x"))
    return client


def _statuses(client, paths: list[str], **headers) -> dict[str, int]:
    """The status of every path with every hostile query string."""
    urls = [f"{path}{'&' if '?' in path else '?'}{query}" for path in paths for query in HOSTILE_QUERIES]
    return {url: client.get(url, headers=headers).status_code for url in urls}


@pytest.mark.django_db
def test_application_lists_clamp_any_page_number(superuser_client):
    """Products, import history and an endpoint's delivery log show a page for any number."""
    Product.objects.create(sku="A-1", name="Oak")
    endpoint = endpoint_make(url="https://receiver.example.com/hooks")
    paths = ["/products/", "/products/?active=yes", "/imports/", f"/webhooks/{endpoint.pk}/"]
    statuses = _statuses(superuser_client, paths) | _statuses(superuser_client, paths, **{"HX-Request": "true"})
    assert set(statuses.values()) == {200}, statuses


@pytest.mark.django_db
def test_product_list_clamps_pages_of_estimated_and_capped_totals(superuser_client, monkeypatch):
    """Where the total is an estimate or a capped count the page number reaches the OFFSET:
    a huge one shows an empty page instead of overflowing PostgreSQL's bigint."""
    Product.objects.bulk_create(Product(sku=f"A-{number}", name="Oak") for number in range(3))
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Product._meta.db_table}")
    monkeypatch.setattr(selectors, "EXACT_COUNT_BELOW", 0)
    monkeypatch.setattr(selectors, "FILTERED_COUNT_CAP", 1)
    for path in ("/products/", "/products/?active=yes"):
        assert superuser_client.get(path).context["page"].total.kind in {"about", "at_least"}
    statuses = _statuses(superuser_client, ["/products/", "/products/?active=yes"])
    assert set(statuses.values()) == {200}, statuses
    page = superuser_client.get("/products/?page=99999999999999999999").context["page"]
    assert (page.number, page.products) == (selectors.PAGE_NUMBER_MAX, [])


@pytest.mark.django_db
def test_admin_lists_answer_any_page_number(superuser_client):
    """The admin's change lists send a bad `?p=` back to the first page (Django's own `?e=1`)."""
    paths = ["/admin/products/product/", "/admin/imports/importjob/", "/admin/webhooks/delivery/"]
    statuses = _statuses(superuser_client, paths)
    assert set(statuses.values()) <= {200, 302}, statuses
