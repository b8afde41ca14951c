"""Every main page at a phone's width and a laptop's: no sideways scrolling, primary actions in reach."""

import json
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone
from playwright.sync_api import expect

from imports.services import import_job_create, import_job_run
from products.tests.factories import product_make
from webhooks.models import Delivery, DeliveryAttempt, Event
from webhooks.tests.factories import endpoint_make

SCREENS = {"phone": {"width": 390, "height": 844}, "laptop": {"width": 1366, "height": 900}}
LONG_NAME = "Hand-finished solid European oak dining table with extending leaves and brushed steel legs"

# Each main page and its primary actions (role, name): every one must be visible and clickable.
PAGES = {
    "imports": ("/imports/", [("button", "Upload and import"), ("link", "Browse products")]),
    "import detail": ("{job}", [("link", "← Imports"), ("link", "Download all errors (CSV)")]),
    "products": ("/products/", [
        ("button", "New product"), ("button", "Delete all products"), ("button", "Edit WIDE-SKU-0001"),
        ("button", "Delete WIDE-SKU-0001"), ("button", "Deactivate WIDE-SKU-0001"), ("checkbox", "Select WIDE-SKU-0001"),
        ("link", "Next ›"),
    ]),
    "webhooks": ("/webhooks/", [("link", "Add endpoint")]),
    "endpoint detail": ("{endpoint}", [
        ("button", "Test"), ("link", "Edit"), ("button", "Rotate secret"), ("button", "Delete"), ("button", "Disable"),
    ]),
    "endpoint form": ("{endpoint}edit/", [("button", "Save"), ("link", "Cancel")]),
    "delivery detail": ("{delivery}", [("button", "Redeliver")]),
}
NAVIGATION = ["Imports", "Products", "Webhooks", "Admin"]


@pytest.fixture
def catalogue(transactional_db, staff_user):
    """Data that stretches pages: long names and URLs, a failed row, a delivery retried once."""
    csv = "sku,name,description,price\n" + "".join(
        f"WIDE-SKU-{number:04},{LONG_NAME},{LONG_NAME} {LONG_NAME},{number}.99\n" for number in range(1, 61)
    ) + "BAD-1,Broken,,-4\n"
    name = "spring-catalogue-with-a-rather-long-file-name-2026.csv"
    job = import_job_create(file=ContentFile(csv.encode(), name=name), name=name, user=staff_user, enqueue=False)
    job = import_job_run(job_id=job.pk)
    product_make("NOPRICE", "Lamp", price=None)
    endpoint = endpoint_make(url="https://hooks.example-receiver-with-a-long-domain-name.com/webhooks/products/v1/ingest")
    event = Event.objects.create(type="product.updated", payload=json.dumps({"type": "product.updated", "data": {"products": [{"sku": "WIDE-SKU-0001", "name": LONG_NAME}]}}))
    delivery = Delivery.objects.create(endpoint=endpoint, event=event, status=Delivery.Status.SUCCEEDED, attempts=2,
                                       last_attempt_at=timezone.now(), last_status_code=200, last_response_ms=12)
    for seconds, code in ((5, 500), (0, 200)):
        DeliveryAttempt.objects.create(delivery=delivery, attempted_at=timezone.now() - timedelta(seconds=seconds),
                                       status_code=code, response_ms=12, response_excerpt="x" * 300)
    return {"job": job.get_absolute_url(), "endpoint": endpoint.get_absolute_url(), "delivery": delivery.get_absolute_url()}


def _overflow(page) -> int:
    return page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")


@pytest.mark.parametrize("screen", SCREENS)
def test_main_pages_fit_the_screen_with_their_actions_in_reach(staff_page, catalogue, screen):
    """On every main page: no horizontal page overflow; the navigation and each primary action can be clicked."""
    staff_page.set_viewport_size(SCREENS[screen])
    for name, (path, actions) in PAGES.items():
        staff_page.goto(path.format(**catalogue))
        expect(staff_page.get_by_role("heading", level=1)).to_be_visible()
        assert _overflow(staff_page) <= 0, f"{name} is {_overflow(staff_page)} px too wide"
        navigation = staff_page.get_by_role("navigation", name="Main")
        for label in NAVIGATION:
            navigation.get_by_role("link", name=label).click(trial=True)
        staff_page.get_by_role("button", name="Sign out").click(trial=True)
        for role, label in actions:
            action = staff_page.get_by_role(role, name=label, exact=True).first
            action.scroll_into_view_if_needed()
            expect(action, f"{label} on {name}").to_be_visible()
            action.click(trial=True)


@pytest.mark.parametrize("screen", SCREENS)
def test_login_page_fits_the_screen(page, screen):
    """The sign-in form fits and its button can be clicked."""
    page.set_viewport_size(SCREENS[screen])
    page.goto("/login/")
    assert _overflow(page) <= 0
    page.get_by_role("button", name="Sign in").click(trial=True)


@pytest.mark.parametrize("screen", SCREENS)
def test_dialogs_fit_the_screen(staff_page, catalogue, screen):
    """The new-product, delete-all and confirmation dialogs lie inside the viewport."""
    staff_page.set_viewport_size(SCREENS[screen])
    staff_page.goto("/products/")
    for opener, dialog_id in (("New product", "create-dialog"), ("Delete all products", "delete-all-dialog"),
                              ("Delete WIDE-SKU-0001", "confirm-dialog")):
        staff_page.get_by_role("button", name=opener, exact=True).click()
        dialog = staff_page.locator(f"#{dialog_id}")
        expect(dialog).to_be_visible()
        box = dialog.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= SCREENS[screen]["width"]
        assert _overflow(staff_page) <= 0
        staff_page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
