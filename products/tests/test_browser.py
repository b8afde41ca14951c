import re

import pytest
from django.db.models.functions import Now
from playwright.sync_api import expect

from config import locks
from products import search
from products.models import Product
from products.tests.factories import product_make


@pytest.fixture
def three_products(transactional_db):
    product_make("TEAK-1", "Rustic Teak Stool")
    product_make("OAK-2", "Oak Table")
    product_make("TEAK-3", "Teak Bench")


def rows(page):
    return page.locator("#product-list tbody tr")


def test_filter_as_you_type_updates_the_list_and_the_url(staff_page, three_products):
    """Typing in the name filter narrows the list without a submit and keeps the filter in the URL."""
    staff_page.goto("/products/")
    expect(rows(staff_page)).to_have_count(3)
    filters = staff_page.get_by_role("search", name="Filter products")
    filters.get_by_label("Name").press_sequentially("teak")
    expect(rows(staff_page)).to_have_count(2)
    expect(staff_page.locator("#list-summary")).to_have_text("Showing 1–2 of 2")
    expect(staff_page).to_have_url(re.compile(r"name=teak"))
    filters.get_by_label("Status").select_option("Inactive")
    expect(staff_page.get_by_text("No products match these filters.")).to_be_visible()
    staff_page.reload()
    expect(filters.get_by_label("Name")).to_have_value("teak")


def test_edit_a_row_inline(staff_page, three_products):
    """Edit turns the row into inputs; Save shows the new values and a toast."""
    staff_page.goto("/products/")
    staff_page.get_by_role("button", name="Edit OAK-2").click()
    row = staff_page.locator("#product-list tr.editing")
    row.get_by_role("textbox", name="Name").fill("Oak Dining Table")
    row.get_by_role("button", name="Save").click()
    expect(staff_page.locator("#product-list")).to_contain_text("Oak Dining Table")
    expect(staff_page.locator("#toasts")).to_contain_text("Product OAK-2 saved.")
    assert Product.objects.get(sku="OAK-2").name == "Oak Dining Table"


def test_toggle_active_with_one_click(staff_page, three_products):
    """The status badge flips a product between active and inactive."""
    staff_page.goto("/products/")
    staff_page.get_by_role("button", name="Deactivate OAK-2").click()
    expect(staff_page.get_by_role("button", name="Activate OAK-2")).to_have_text("Inactive")
    assert not Product.objects.get(sku="OAK-2").active


def test_create_a_product_in_the_modal(staff_page, three_products):
    """The modal shows a duplicate SKU error next to the field, then creates a valid product."""
    staff_page.goto("/products/")
    staff_page.get_by_role("button", name="New product").click()
    dialog = staff_page.locator("#create-dialog")
    dialog.get_by_label("SKU").fill("teak-1")
    dialog.get_by_label("Name").fill("Walnut Shelf")
    dialog.get_by_role("button", name="Create product").click()
    expect(dialog.locator("#id_sku_errors")).to_have_text("A product with SKU “TEAK-1” already exists (SKUs ignore letter case).")
    dialog.get_by_label("SKU").fill("WAL-4")
    dialog.get_by_role("button", name="Create product").click()
    expect(dialog).to_be_hidden()
    expect(staff_page.locator("#toasts")).to_contain_text("Product WAL-4 created.")
    expect(rows(staff_page)).to_have_count(4)


def test_delete_a_product_after_confirming(staff_page, three_products):
    """Delete asks in the page's dialog: Cancel keeps the row, confirming deletes it."""
    staff_page.goto("/products/")
    staff_page.get_by_role("button", name="Delete OAK-2").click()
    confirm = staff_page.get_by_role("dialog")
    expect(confirm).to_contain_text("Delete product OAK-2? This cannot be undone.")
    confirm.get_by_role("button", name="Cancel").click()
    expect(confirm).to_be_hidden()
    expect(rows(staff_page)).to_have_count(3)
    staff_page.get_by_role("button", name="Delete OAK-2").click()
    confirm.get_by_role("button", name="Delete product").click()
    expect(rows(staff_page)).to_have_count(2)
    expect(staff_page.locator("#toasts")).to_contain_text("Product OAK-2 deleted.")
    assert not Product.objects.filter(sku="OAK-2").exists()


def test_delete_all_from_the_modal(staff_page, three_products, celery_worker):
    """The modal warns and counts; confirming runs the job in the background and toasts the count."""
    staff_page.goto("/products/")
    staff_page.get_by_role("button", name="Delete all products").click()
    dialog = staff_page.locator("#delete-all-dialog")
    expect(dialog).to_contain_text("Are you sure? This cannot be undone.")
    expect(dialog).to_contain_text("3 products")
    dialog.get_by_role("button", name="Yes, delete all products").click()
    expect(dialog).to_be_hidden()
    expect(staff_page.locator("#toasts")).to_contain_text("Deleted 3 products.", timeout=20_000)
    expect(staff_page.get_by_text("No products yet")).to_be_visible()
    assert not Product.objects.exists()


def test_search_notice_goes_and_the_list_finds_the_products_once_search_caught_up(staff_page, other_session):
    """While a catch-up is pending the list says so; when it ends the notice goes and the filter finds the import."""
    product = product_make("PINE-2", "Oak Bench")
    Product.objects.filter(pk=product.pk).update(name="Pine Bench", updated_at=Now())  # as an import changes it
    other_session.execute("SELECT pg_advisory_lock(%s)", [locks.SEARCH_CATCH_UP])  # a catch-up running elsewhere
    search.product_search_catch_up_soon()
    staff_page.goto("/products/?name=pine")
    notice = staff_page.get_by_role("status").filter(has_text="Search is catching up with the latest import")
    expect(notice).to_be_visible()
    expect(staff_page.get_by_text("No products match these filters.")).to_be_visible()

    other_session.execute("SELECT pg_advisory_unlock(%s)", [locks.SEARCH_CATCH_UP])
    search.product_search_catch_up()  # or a worker's task got there first

    expect(notice).to_be_hidden(timeout=10_000)
    expect(rows(staff_page)).to_have_count(1)


def test_export_csv_downloads_the_current_filter(staff_page, three_products):
    """Export CSV downloads the products the filtered list shows, through the API with the session."""
    staff_page.goto("/products/")
    staff_page.get_by_role("search", name="Filter products").get_by_label("Name").press_sequentially("teak")
    expect(rows(staff_page)).to_have_count(2)
    with staff_page.expect_download() as download:
        staff_page.get_by_role("link", name="Export CSV").click()
    content = open(download.value.path(), encoding="utf-8").read()
    assert content.splitlines() == [
        "sku,name,description,price,active",
        'TEAK-1,Rustic Teak Stool,"",9.99,t',  # COPY quotes an empty text, unlike a missing price
        'TEAK-3,Teak Bench,"",9.99,t',
    ]


def test_bulk_deactivate_then_delete_the_ticked_products(staff_page, three_products):
    """Ticking rows shows the bulk bar with their count; Deactivate changes them, Delete asks first."""
    staff_page.goto("/products/")
    bar = staff_page.get_by_role("form", name="Selected products")
    expect(bar).to_be_hidden()
    staff_page.get_by_role("checkbox", name="Select TEAK-1").check()
    staff_page.get_by_role("checkbox", name="Select OAK-2").check()
    expect(bar).to_contain_text("2 selected")
    bar.get_by_role("button", name="Deactivate").click()
    expect(staff_page.locator("#toasts")).to_contain_text("2 products deactivated.")
    expect(staff_page.get_by_role("button", name="Activate TEAK-1")).to_have_text("Inactive")
    assert list(Product.objects.filter(active=True).values_list("sku", flat=True)) == ["TEAK-3"]

    staff_page.get_by_role("checkbox", name="Select all products on this page").check()
    expect(bar).to_contain_text("3 selected")
    bar.get_by_role("button", name="Delete").click()
    staff_page.locator("#confirm-dialog").get_by_role("button", name="Delete products").click()
    expect(staff_page.get_by_text("No products yet")).to_be_visible()
    assert not Product.objects.exists()


def test_sorting_by_a_column_keeps_the_filter_while_typing(staff_page, three_products):
    """A header sorts the list; typing in a filter afterwards keeps that order."""
    staff_page.goto("/products/")
    staff_page.get_by_role("link", name="Name").click()
    expect(rows(staff_page).first).to_contain_text("Oak Table")
    expect(staff_page).to_have_url(re.compile(r"sort=name"))
    staff_page.get_by_role("link", name="Name").click()
    expect(rows(staff_page).first).to_contain_text("Teak Bench")
    staff_page.get_by_role("search", name="Filter products").get_by_label("SKU").press_sequentially("teak")
    expect(rows(staff_page)).to_have_count(2)
    expect(rows(staff_page).first).to_contain_text("Teak Bench")
    expect(staff_page).to_have_url(re.compile(r"sku=teak.*sort=-name|sort=-name.*sku=teak"))
