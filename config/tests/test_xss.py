"""Stored XSS: text from an imported CSV is shown as text on every page that shows it."""

import csv
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from playwright.sync_api import expect

from imports.services import import_job_create, import_job_run
from products.models import Product
from webhooks.models import Delivery
from webhooks.tests.factories import endpoint_make

SCRIPT = "<script>window.xss=1</script>"
IMAGE = '"><img src=x onerror=window.xss=1>'
FILE_NAME = "<img src=x onerror=window.xss=1>.csv"
HTMX = {"HX-Request": "true"}


def _hostile_import():
    """Import hostile SKUs, names, descriptions, an unknown column and an invalid price."""
    content = io.StringIO()
    csv.writer(content).writerows([
        ["sku", "name", "description", "price", IMAGE],
        [SCRIPT, IMAGE, SCRIPT + IMAGE, "1", ""],
        [IMAGE, SCRIPT, "", "2", ""],
        ["bad-price", "Bad", "", IMAGE, ""],
    ])
    job = import_job_create(file=ContentFile(content.getvalue().encode()), name=FILE_NAME, user=None, enqueue=False)
    return import_job_run(job_id=job.pk)


def _assert_escaped(html: str, where: str) -> None:
    assert "<script>window.xss" not in html and "<img src=x" not in html, where
    assert "&lt;script&gt;" in html or "&lt;img src=x" in html, f"{where} does not show the hostile text"


@pytest.mark.django_db
def test_imported_text_is_escaped_on_every_page(staff_client):
    """Products list, row fragments, filter echo, import pages with row errors and warnings,
    and the webhook pages that show the events' payloads."""
    endpoint_make(url="https://receiver.example.com/hooks")  # subscribed: the import's events are kept
    job = _hostile_import()
    assert (job.created_count, job.error_count) == (2, 1)
    product = Product.objects.get(sku=SCRIPT)
    pages = {
        "products list": staff_client.get("/products/"),
        "products fragment": staff_client.get("/products/", headers=HTMX),
        "filtered list": staff_client.get("/products/", {"name": SCRIPT}),
        "row": staff_client.get(f"/products/{product.pk}/", headers=HTMX),
        "row form": staff_client.get(f"/products/{product.pk}/edit/", headers=HTMX),
        "imports": staff_client.get("/imports/"),
        "imports history": staff_client.get("/imports/", headers=HTMX),
        "import detail": staff_client.get(job.get_absolute_url()),
        "import progress": staff_client.get(f"/imports/{job.pk}/progress/", headers=HTMX),
    }
    for delivery in Delivery.objects.all():
        pages[f"delivery {delivery.event.type}"] = staff_client.get(delivery.get_absolute_url())
    assert {"delivery product.created", "delivery upload.completed"} <= set(pages)
    for where, response in pages.items():
        assert response.status_code == 200, where
        _assert_escaped(response.content.decode(), where)


@pytest.mark.django_db
def test_imported_text_is_escaped_in_the_admin(client):
    """The admin's product and import pages (lists, forms and the row error inline) escape it too."""
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "x"))
    job = _hostile_import()
    product = Product.objects.get(sku=IMAGE)
    for path in [
        "/admin/products/product/",
        f"/admin/products/product/{product.pk}/change/",
        "/admin/imports/importjob/",
        f"/admin/imports/importjob/{job.pk}/change/",
    ]:
        response = client.get(path)
        assert response.status_code == 200, path
        _assert_escaped(response.content.decode(), path)


@pytest.mark.django_db(transaction=True)
def test_hostile_text_never_runs_in_the_browser(staff_page):
    """In Chromium: the pages and a toast sent through HX-Trigger show the text and run nothing."""
    job = _hostile_import()
    staff_page.goto(job.get_absolute_url())
    expect(staff_page.locator("#row-errors")).to_contain_text(IMAGE)
    staff_page.goto("/products/")
    expect(staff_page.locator("tbody")).to_contain_text(SCRIPT)
    staff_page.get_by_role("button", name=f"Deactivate {SCRIPT}").click()
    expect(staff_page.locator("#toasts")).to_contain_text(f"Product {SCRIPT} is now inactive.")
    staff_page.get_by_role("button", name=f"Edit {IMAGE}").click()
    staff_page.get_by_role("button", name="Save").click()
    expect(staff_page.locator("#toasts")).to_contain_text(f"Product {IMAGE} saved.")
    assert staff_page.evaluate("window.xss") is None
