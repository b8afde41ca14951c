"""In a real browser: add an endpoint, then press Test and watch the worker's result arrive."""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from webhooks.models import DeliveryAttempt, Endpoint
from webhooks.tests.factories import delivery_failed_once_make, endpoint_make
from webhooks.tests.receiver import Reply


@pytest.mark.django_db(transaction=True)
def test_add_endpoint_then_test_button_shows_the_receivers_answer(staff_page, celery_worker, receiver):
    """The secret is shown once on creation with a Copy button; Test shows Pending, then status, time and body."""
    receiver.script(Reply(status=200, body=b"received, thanks"))
    staff_page.goto("/webhooks/")
    staff_page.get_by_role("link", name="Add endpoint").click()
    staff_page.get_by_label("URL").fill(receiver.url)
    staff_page.get_by_label("Product created").check()
    staff_page.get_by_role("button", name="Save").click()
    expect(staff_page.get_by_test_id("secret")).to_have_text(re.compile(r"^whsec_[A-Za-z0-9+/=]{40,}$"))
    staff_page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    staff_page.get_by_role("button", name="Copy").click()
    expect(staff_page.get_by_role("button", name="Copied")).to_be_visible()
    assert staff_page.evaluate("navigator.clipboard.readText()") == Endpoint.objects.get().secret

    staff_page.get_by_role("link", name="Go to the endpoint").click()
    staff_page.get_by_role("button", name="Test").click()
    result = staff_page.locator("#test-result")
    expect(result).to_contain_text("Pending")
    expect(result).to_contain_text("HTTP 200")
    expect(result).to_contain_text("received, thanks")
    expect(result.locator(".response-time")).to_have_text(re.compile(r"^\d+ ms$"))
    assert receiver.requests[0].headers["webhook-signature"].startswith("v1,")


@pytest.mark.django_db(transaction=True)
def test_test_button_shows_a_refused_connection(staff_page, celery_worker, closed_port_url):
    """When nothing listens, the Test result names the error instead of a status."""
    endpoint = endpoint_make(url=closed_port_url)
    staff_page.goto(endpoint.get_absolute_url())
    staff_page.get_by_role("button", name="Test").click()
    expect(staff_page.locator("#test-result")).to_contain_text("Connection refused")


@pytest.mark.django_db(transaction=True)
def test_delivery_log_refresh_keeps_an_open_attempts_panel_open(staff_page, receiver):
    """The log of a pending delivery refreshes every few seconds; the panel the reader opened stays open."""
    delivery = delivery_failed_once_make(receiver=receiver)
    staff_page.goto(delivery.endpoint.get_absolute_url())
    row = staff_page.locator(f"#delivery-{delivery.pk}")
    row.get_by_text("All attempts").click()
    expect(row.locator("details")).to_have_attribute("open", "")
    DeliveryAttempt.objects.create(delivery=delivery, attempted_at=timezone.now(), status_code=502, response_ms=7)
    expect(row.locator("[data-attempts]")).to_have_text("2")  # the log was swapped in again
    expect(row.locator("details")).to_have_attribute("open", "")
    expect(row.locator(".attempts li")).to_have_count(2)
