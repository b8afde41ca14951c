"""The whole flow in a real browser: upload, live progress from a real worker, history."""

import csv

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from bench.generate_products_csv import generate
from imports.models import ImportJob

ROWS = 20_000


def test_upload_of_20000_rows_shows_progress_counts_and_history(staff_page, celery_worker, tmp_path):
    """A generated 20,000-row file uploads, its bar reaches 100% and the counts and history row appear."""
    path = tmp_path / "catalogue-20k.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        generate(out, ROWS, seed=7)
    with path.open(encoding="utf-8", newline="") as source:
        products = len({row[1].lower() for row in list(csv.reader(source))[1:]})

    staff_page.goto("/")
    expect(staff_page.get_by_role("heading", level=1)).to_have_text("Imports")
    staff_page.locator("#upload-form input[type=file]").set_input_files(path)
    expect(staff_page.locator("[data-file-name]")).to_contain_text("catalogue-20k.csv")
    staff_page.get_by_role("button", name="Upload and import").click()

    card = staff_page.locator("#active-jobs .import-progress")
    expect(card.locator("[data-percent]")).to_have_text("100%", timeout=60_000)
    expect(card.locator(".badge")).to_have_text("Completed")
    expect(card.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    expect(card.locator('[data-count="rows"]')).to_have_text(f"{ROWS:,}")
    expect(card.locator('[data-count="created"]')).to_have_text(f"{products:,}")
    expect(card.locator('[data-count="updated"]')).to_have_text("0")
    expect(card.locator('[data-count="duplicates"]')).to_have_text(f"{ROWS - products:,}")

    history_row = staff_page.locator("#history tbody tr", has_text="catalogue-20k.csv")
    expect(history_row).to_contain_text("Completed")
    expect(history_row).to_contain_text(f"{products:,}")
    history_row.get_by_role("link", name="catalogue-20k.csv").click()
    expect(staff_page.get_by_role("heading", level=1)).to_contain_text("catalogue-20k.csv")


@pytest.mark.django_db(transaction=True)
def test_history_row_follows_the_running_card(staff_page):
    """While an import runs, its history row shows the card's counts, not the ones of the page load."""
    job = ImportJob.objects.create(
        file="imports/running.csv", original_name="running.csv", size=1000, status=ImportJob.Status.RUNNING,
        started_at=timezone.now(), bytes_processed=100,
    )
    staff_page.goto("/")
    ImportJob.objects.filter(pk=job.pk).update(created_count=177_677)
    card = staff_page.locator("#active-jobs .import-progress")
    expect(card.locator('[data-count="created"]')).to_have_text("177,677")
    expect(staff_page.locator(f"#history-job-{job.pk}")).to_contain_text("177,677")
    expect(staff_page.locator(f"#history-job-{job.pk}")).to_contain_text("Running")
