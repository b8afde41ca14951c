import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from products import search
from products.models import Product
from products.tests.factories import product_make

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


def test_list_page_shows_products_and_the_range(staff_client):
    """The full page lists products with "Showing 1–2 of 2"."""
    product_make("ABC-1", "Teak stool")
    product_make("ABC-2", "Oak table")
    response = staff_client.get(reverse("products:index"))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Showing 1–2 of 2" in body and "Teak stool" in body and "Oak table" in body


def test_htmx_request_gets_only_the_list_fragment(staff_client):
    """A filter request from htmx answers with the list, not the whole page."""
    product_make("ABC-1", "Teak stool")
    product_make("ABC-2", "Oak table")
    response = staff_client.get(reverse("products:index"), {"name": "TEAK"}, headers=HTMX)
    body = response.content.decode()
    assert "<html" not in body and 'id="product-list"' in body
    assert "Teak stool" in body and "Oak table" not in body
    assert 'hx-get="/products/?name=TEAK"' in body  # reloads itself with its filters


def test_page_size_and_page_come_from_the_query_string(staff_client):
    """per_page and page select the rows; invalid values fall back to defaults."""
    for number in range(30):
        product_make(f"P-{number:02}")
    body = staff_client.get(reverse("products:index"), {"per_page": 25, "page": 2}).content.decode()
    assert "Showing 26–30 of 30" in body
    body = staff_client.get(reverse("products:index"), {"per_page": 7, "page": "x"}).content.decode()
    assert "Showing 1–30 of 30" in body


def test_empty_catalogue_and_no_match_states(staff_client):
    """An empty catalogue invites an import; a filter without matches says so."""
    assert "No products yet" in staff_client.get(reverse("products:index")).content.decode()
    product_make("ABC-1")
    body = staff_client.get(reverse("products:index"), {"sku": "zzz"}).content.decode()
    assert "No products match these filters." in body


def test_create_product(staff_client):
    """A valid form creates the product, answers a fresh form and toasts."""
    response = staff_client.post(
        reverse("products:create"), {"sku": "  NEW-1 ", "name": "Lamp", "price": "3.50", "active": "on"}, headers=HTMX
    )
    assert response.status_code == 200
    assert Product.objects.get().sku == "NEW-1"
    assert "Product NEW-1 created." in response["HX-Trigger"]
    assert "products-changed" in response["HX-Trigger"]


def test_new_product_form_is_empty_on_the_page_and_after_a_create(staff_client):
    """The page's "New product" form and a create's answer are empty, whatever was posted before."""
    staff_client.post(reverse("products:create"), {"sku": "REFUSED-1", "name": "", "price": "-1"}, headers=HTMX)
    created = staff_client.post(reverse("products:create"), {"sku": "NEW-1", "name": "Lamp", "price": "3.50"}, headers=HTMX)
    page = staff_client.get(reverse("products:index")).content.decode()
    forms = [created.content.decode(), re.search(r'<form class="form" hx-post=.*?</form>', page, re.S).group(0)]
    for form in forms:
        assert f'hx-post="{reverse("products:create")}"' in form and 'name="sku"' in form
        assert "REFUSED-1" not in form and "NEW-1" not in form and "errorlist" not in form


def test_create_with_sku_taken_in_another_case_shows_the_error_next_to_the_field(staff_client):
    """A SKU that exists in any letter case is a 422 with the error under the SKU field."""
    product_make("ABC-1")
    response = staff_client.post(reverse("products:create"), {"sku": "abc-1", "name": "Other"}, headers=HTMX)
    assert response.status_code == 422
    assert response.context["form"].errors == {"sku": ["A product with SKU “ABC-1” already exists (SKUs ignore letter case)."]}
    assert 'id="id_sku_errors"' in response.content.decode()
    assert Product.objects.count() == 1


def test_create_requires_sku_and_name_and_a_price_not_below_zero(staff_client):
    """Missing SKU and name and a negative price are field errors."""
    response = staff_client.post(reverse("products:create"), {"sku": " ", "name": "", "price": "-1"}, headers=HTMX)
    assert response.status_code == 422
    assert set(response.context["form"].errors) == {"sku", "name", "price"}
    assert not Product.objects.exists()


def test_inline_edit_shows_inputs_then_saves(staff_client):
    """GET edit swaps in an edit row; POST saves it and answers the display row."""
    product = product_make("ABC-1", "Old")
    response = staff_client.get(reverse("products:edit", args=[product.pk]), headers=HTMX)
    assert 'name="name"' in response.content.decode()
    response = staff_client.post(
        reverse("products:edit", args=[product.pk]),
        {"sku": "abc-1", "name": "New", "description": "", "price": "1", "active": "on"},
        headers=HTMX,
    )
    assert response.status_code == 200
    product.refresh_from_db()
    assert (product.sku, product.name) == ("abc-1", "New")  # its own SKU in another case is fine
    assert "Product abc-1 saved." in response["HX-Trigger"]


def test_inline_edit_to_another_products_sku_is_refused(staff_client):
    """Renaming a SKU to one taken in another case answers the edit row with the error."""
    product_make("ABC-1")
    product = product_make("XYZ-9")
    response = staff_client.post(
        reverse("products:edit", args=[product.pk]), {"sku": "Abc-1", "name": "X", "price": ""}, headers=HTMX
    )
    assert response.status_code == 422
    assert "A product with SKU “ABC-1” already exists (SKUs ignore letter case)." in response.content.decode()
    product.refresh_from_db()
    assert product.sku == "XYZ-9"


def test_toggle_active_flips_the_flag(staff_client):
    """One click makes an active product inactive and back."""
    product = product_make("ABC-1")
    staff_client.post(reverse("products:toggle_active", args=[product.pk]), headers=HTMX)
    product.refresh_from_db()
    assert not product.active
    response = staff_client.post(reverse("products:toggle_active", args=[product.pk]), headers=HTMX)
    product.refresh_from_db()
    assert product.active
    assert "is now active" in response["HX-Trigger"]


def test_delete_product(staff_client):
    """Deleting removes the product and tells the list to reload."""
    product = product_make("ABC-1")
    response = staff_client.post(reverse("products:delete", args=[product.pk]), headers=HTMX)
    assert not Product.objects.exists()
    assert "Product ABC-1 deleted." in response["HX-Trigger"]
    assert "products-changed" in response["HX-Trigger"]


def test_product_url_without_htmx_opens_the_list_filtered_to_it(staff_client):
    """get_absolute_url leads to the list showing that product."""
    product = product_make("A B&C")
    response = staff_client.get(product.get_absolute_url())
    assert response["Location"] == "/products/?sku=A+B%26C"


def test_page_links_keep_the_filters(staff_client):
    """Next and Last links carry the filters and page size along with the page number."""
    for number in range(30):
        product_make(f"P-{number:02}", name="Teak stool")
    body = staff_client.get(reverse("products:index"), {"name": "teak", "per_page": 25}).content.decode()
    assert 'href="?name=teak&amp;per_page=25&amp;page=2"' in body
    assert "Page 1 of 2" in body


SEARCH_BEHIND = "Search is catching up with the latest import"


def test_search_notice_shows_while_search_is_behind_and_goes_when_it_caught_up(staff_client):
    """The list says search is behind, what it may miss, and polls; once caught up the notice, its polling, goes and the list reloads."""
    Product.objects.create(sku="NEW-1", name="Pine bench")  # as an import writes it
    search.product_search_catch_up_soon()
    body = staff_client.get(reverse("products:index")).content.decode()
    assert SEARCH_BEHIND in body and 'hx-trigger="every 3s"' in body
    assert "products it changed may still be found by their earlier SKU, name or description" in body
    response = staff_client.get(reverse("products:search_status"), headers=HTMX)
    assert SEARCH_BEHIND in response.content.decode() and "HX-Trigger" not in response

    search.product_search_catch_up()

    response = staff_client.get(reverse("products:search_status"), headers=HTMX)
    assert SEARCH_BEHIND not in response.content.decode() and "hx-trigger" not in response.content.decode()
    assert "products-changed" in response["HX-Trigger"]
    assert SEARCH_BEHIND not in staff_client.get(reverse("products:index")).content.decode()


def test_first_page_reads_the_catalogue_size_once(staff_client):
    """Unfiltered, the list's total is the delete-all dialog's count: one estimate read, one count."""
    product_make("ABC-1")
    with CaptureQueriesContext(connection) as queries:
        body = staff_client.get(reverse("products:index")).content.decode()
    sqls = [query["sql"] for query in queries.captured_queries]
    assert sum("reltuples" in sql for sql in sqls) == 1
    assert sum("COUNT(*)" in sql.upper() for sql in sqls) == 1
    assert "<strong>1 products</strong>" in body


def test_full_page_reads_each_thing_it_shows_in_one_statement(staff_client):
    """The full page's statements: the session, the user and its permissions (two: the delete-all
    button), the catalogue's size (an estimate and a capped count when small), the page's
    products, the running imports, the pending delete-all and whether search is behind (one)."""
    for number in range(3):
        product_make(f"ABC-{number}")
    with CaptureQueriesContext(connection) as queries:
        assert staff_client.get(reverse("products:index")).status_code == 200
    assert len(queries) == 10, [query["sql"][:60] for query in queries.captured_queries]


@pytest.mark.parametrize(
    ("query", "headers", "counts"),
    [({}, HTMX, 1), ({"page": "2"}, HTMX, 1), ({"name": "stool"}, {}, 1), ({"name": "stool"}, HTMX, 0),
     ({"active": "no"}, HTMX, 0)],
)
def test_a_list_request_counts_at_most_once(staff_client, query, headers, counts):
    """A list request counts the catalogue at most once: for the unfiltered list or the full
    page's delete-all dialog; a filtered fragment not at all (its capped matches are its count)."""
    product_make("ABC-1", "Oak Stool")
    with CaptureQueriesContext(connection) as queries:
        assert staff_client.get(reverse("products:index"), query, headers=headers).status_code == 200
    sqls = [query["sql"].upper() for query in queries.captured_queries]
    assert sum("COUNT(" in sql for sql in sqls) == counts
    assert sum("RELTUPLES" in sql for sql in sqls) == counts


def test_page_reads_the_pending_delete_all_once(staff_client):
    """The delete-all notice and the top bar's indicator share one read of the pending job."""
    with CaptureQueriesContext(connection) as queries:
        staff_client.get(reverse("products:index"))
    assert sum('FROM "products_deletealljob"' in query["sql"] for query in queries.captured_queries) == 1


def test_sort_links_toggle_the_order_and_keep_the_filters(staff_client):
    """A column header sorts ascending, then descending, from the first page, keeping the filters."""
    product_make("B-2", "Teak bench")
    product_make("a-1", "Teak stool")
    body = staff_client.get(reverse("products:index"), {"name": "teak", "page": 1, "sort": "sku"}).content.decode()
    assert body.index(">a-1<") < body.index(">B-2<")
    assert 'href="?name=teak&amp;sort=-sku"' in body and 'aria-sort="ascending"' in body
    assert 'id="list-sort" name="sort" value="sku"' in body  # typing in the filters keeps it
    body = staff_client.get(reverse("products:index"), {"name": "teak", "sort": "-sku"}).content.decode()
    assert body.index(">B-2<") < body.index(">a-1<")


def test_clear_filters_link_only_when_filtered(staff_client):
    """A filtered list offers "Clear filters"; the unfiltered one does not."""
    product_make("ABC-1")
    assert "Clear filters" not in staff_client.get(reverse("products:index")).content.decode()
    assert "Clear filters" in staff_client.get(reverse("products:index"), {"sku": "abc"}).content.decode()


def test_pagination_at_the_top_and_bottom_with_thousands_separators(staff_client):
    """Long lists page at both ends of the list; numbers carry separators."""
    for number in range(60):
        product_make(f"P-{number:02}")
    body = staff_client.get(reverse("products:index"), {"per_page": 25, "page": 2}).content.decode()
    assert 'aria-label="Pages, top"' in body and 'aria-label="Pages"' in body
    assert body.count("Last »") == 2 and body.count("« First") == 2


@pytest.mark.parametrize("headers", [{}, HTMX])
def test_page_links_are_rendered_once_for_both_places(staff_client, headers):
    """The links above and below the rows are the same: the page and its fragment render them once."""
    for number in range(60):
        product_make(f"P-{number:02}")
    response = staff_client.get(reverse("products:index"), {"per_page": 25, "page": 2}, headers=headers)
    assert [template.name for template in response.templates].count("products/_page_links.html") == 1
    top, bottom = re.findall(r'<nav class="pagination" aria-label="Pages(?:, top)?">(.*?)</nav>', response.content.decode(), re.S)
    assert top == bottom and 'href="?per_page=25&amp;page=3"' in top and 'href="?per_page=25&amp;page=1"' in top


@pytest.mark.parametrize(
    ("action", "expected_active", "toast"),
    [("deactivate", [False, False, True], "2 products deactivated."), ("activate", [True, True, True], "2 products activated.")],
)
def test_bulk_activate_and_deactivate(staff_client, action, expected_active, toast):
    """The ticked products change, the list reloads and a toast counts them."""
    first, second, third = product_make("A-1"), product_make("A-2", active=False), product_make("A-3")
    response = staff_client.post(reverse("products:bulk"), {"action": action, "ids": [first.pk, second.pk]}, headers=HTMX)
    assert response.status_code == 200
    assert toast in response["HX-Trigger"] and "products-changed" in response["HX-Trigger"]
    assert list(Product.objects.order_by("id").values_list("active", flat=True)) == expected_active


def test_bulk_delete(staff_client):
    """Bulk delete removes exactly the ticked products."""
    first, second, third = product_make("A-1"), product_make("A-2"), product_make("A-3")
    response = staff_client.post(reverse("products:bulk"), {"action": "delete", "ids": [first.pk, third.pk]}, headers=HTMX)
    assert "2 products deleted." in response["HX-Trigger"]
    assert list(Product.objects.values_list("sku", flat=True)) == ["A-2"]


def test_bulk_without_products_changes_nothing(staff_client):
    """Nothing ticked is an error toast, not a change."""
    product_make("A-1")
    response = staff_client.post(reverse("products:bulk"), {"action": "delete"}, headers=HTMX)
    assert "Select products first." in response["HX-Trigger"]
    assert Product.objects.count() == 1


def test_prices_carry_thousands_separators(staff_client):
    """A price of 1234.50 lists as 1,234.50."""
    product_make("ABC-1", price="1234.50")
    assert ">1,234.50</td>" in staff_client.get(reverse("products:index")).content.decode()


def test_row_links_are_the_reversed_urls_of_each_product(staff_client):
    """The rows' links are built from one reversed pattern per view: each still names its own product."""
    products = [product_make(f"P-{number}") for number in range(3)]
    body = staff_client.get(reverse("products:index")).content.decode()
    for product in products:
        for name in ("products:toggle_active", "products:edit", "products:delete"):
            assert f'"{reverse(name, args=[product.pk])}"' in body
