"""The top bar's running-job indicator: shown on every page while an import or a delete-all runs."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from imports.models import ImportJob
from products.models import DeleteAllJob

HTMX = {"HX-Request": "true"}


def running_import(name="spring.csv", **fields) -> ImportJob:
    fields = {"status": ImportJob.Status.RUNNING, "bytes_processed": 420, "started_at": timezone.now(), **fields}
    return ImportJob.objects.create(file=f"imports/{name}", original_name=name, size=1000, **fields)


@pytest.mark.django_db
def test_pages_show_a_running_import_with_its_percent_and_link(staff_client):
    """Any page's top bar links to the running import and shows its percent, and polls."""
    job = running_import()
    body = staff_client.get(reverse("webhooks:index")).content.decode()
    assert f'href="{job.get_absolute_url()}"' in body and "Importing 42%" in body
    assert f'hx-get="/activity/?import={job.pk}"' in body and 'hx-trigger="every 2s"' in body


@pytest.mark.django_db
def test_idle_top_bar_does_not_poll_and_costs_two_small_reads(staff_client):
    """With nothing running there is no indicator and no polling; it reads one table of each app once."""
    ImportJob.objects.create(file="imports/old.csv", original_name="old.csv", size=1, status=ImportJob.Status.COMPLETED)
    with CaptureQueriesContext(connection) as queries:
        body = staff_client.get(reverse("webhooks:index")).content.decode()
    assert "every 2s" not in body and "data-activity" not in body
    tables = [query["sql"] for query in queries.captured_queries if "imports_importjob" in query["sql"] or "products_deleteall" in query["sql"]]
    assert len(tables) == 2


@pytest.mark.django_db
def test_delete_all_in_progress_is_shown(staff_client, staff_user):
    """A pending delete-all shows in the top bar, linking to the products page."""
    job = DeleteAllJob.objects.create(requested_by=staff_user)
    body = staff_client.get(reverse("imports:index")).content.decode()
    assert "Deleting all products…" in body and f"delete_all={job.pk}" in body


@pytest.mark.django_db
@pytest.mark.parametrize(("page", "toasts"), [("/webhooks/", True), ("/imports/", False)])
def test_poll_after_the_import_ended_toasts_unless_the_page_shows_it(staff_client, page, toasts):
    """The poll that finds the shown import ended stops polling and toasts its outcome on other pages."""
    job = running_import(status=ImportJob.Status.COMPLETED_WITH_ERRORS)
    response = staff_client.get(
        reverse("activity"), {"import": job.pk}, headers={**HTMX, "HX-Current-URL": f"http://testserver{page}"}
    )
    assert "every 2s" not in response.content.decode()
    toast = json.loads(response.get("HX-Trigger", "{}")).get("toast")
    assert toast == ({"message": "Import of “spring.csv”: completed with errors.", "level": "warning"} if toasts else None)


@pytest.mark.django_db
def test_poll_that_finds_an_import_and_a_delete_all_ended_toasts_both(staff_client, staff_user):
    """Both jobs shown by the indicator ended before the same poll: neither outcome is lost."""
    job = running_import(status=ImportJob.Status.COMPLETED)
    delete_all = DeleteAllJob.objects.create(
        requested_by=staff_user, status=DeleteAllJob.Status.SUCCEEDED, deleted_count=1200, finished_at=timezone.now()
    )
    response = staff_client.get(
        reverse("activity"), {"import": job.pk, "delete_all": delete_all.pk},
        headers={**HTMX, "HX-Current-URL": "http://testserver/webhooks/"},
    )  # fmt: skip
    assert json.loads(response["HX-Trigger"])["toast"] == {
        "toasts": [
            {"message": "Import of “spring.csv”: completed.", "level": "success"},
            {"message": "Deleted all products (1,200).", "level": "success"},
        ]
    }


@pytest.mark.django_db(transaction=True)
def test_indicator_follows_the_job_and_toasts_its_end_on_another_page(staff_page):
    """On the webhooks page the indicator shows the import; when it ends a toast says so and the indicator goes."""
    job = running_import()
    staff_page.goto("/webhooks/")
    indicator = staff_page.locator("[data-activity=import]")
    expect(indicator).to_have_text("Importing 42%")
    ImportJob.objects.filter(pk=job.pk).update(bytes_processed=870)
    expect(indicator).to_have_text("Importing 87%")
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.COMPLETED, finished_at=timezone.now())
    expect(staff_page.locator("#toasts")).to_contain_text("Import of “spring.csv”: completed.")
    expect(indicator).to_be_hidden()
    indicator.page.get_by_role("link", name="Imports").click()
    expect(staff_page.get_by_role("heading", level=1)).to_have_text("Imports")


@pytest.mark.django_db(transaction=True)
def test_an_import_and_a_delete_all_ending_together_both_toast(staff_page, staff_user):
    """The browser shows both outcomes when one poll finds both jobs ended."""
    job = running_import()
    delete_all = DeleteAllJob.objects.create(requested_by=staff_user)
    staff_page.goto("/webhooks/")
    expect(staff_page.locator("[data-activity=import]")).to_have_text("Importing 42%")
    DeleteAllJob.objects.filter(pk=delete_all.pk).update(
        status=DeleteAllJob.Status.SUCCEEDED, deleted_count=3, finished_at=timezone.now()
    )
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.COMPLETED, finished_at=timezone.now())
    expect(staff_page.locator("#toasts")).to_contain_text("Import of “spring.csv”: completed.")
    expect(staff_page.locator("#toasts")).to_contain_text("Deleted all products (3).")
