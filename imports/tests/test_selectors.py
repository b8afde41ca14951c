"""Progress figures shown while an import runs."""

from datetime import timedelta

import pytest
from django.utils import timezone

from imports.models import ImportJob
from imports.selectors import import_job_active_list, import_job_progress


def test_running_job_progress_has_percentage_speed_and_eta():
    """Percentage comes from bytes read; rows/s from rows and elapsed time; ETA from the byte rate."""
    job = ImportJob(
        size=1000, bytes_processed=250, rows_processed=5000, status="running", stage="importing",
        started_at=timezone.now() - timedelta(seconds=10),
    )
    progress = import_job_progress(job=job)
    assert (progress.percent, progress.text, progress.level) == (25, "Importing…", "info")
    assert progress.rows_per_second == pytest.approx(500, rel=0.05)
    assert progress.eta_seconds == pytest.approx(30, abs=1)


@pytest.mark.parametrize(
    ("status", "cancel_requested", "text", "percent"),
    [
        ("queued", False, "Waiting for a worker…", 0),
        ("running", True, "Cancelling…", 50),
        ("completed", False, "Completed", 100),
        ("failed", False, "Failed", 50),
    ],
)
def test_progress_text_follows_the_status(status, cancel_requested, text, percent):
    """Queued, cancelling and ended jobs say so instead of the stage; completed jobs show 100%."""
    job = ImportJob(size=10, bytes_processed=0 if status == "queued" else 5, status=status, stage="importing", cancel_requested=cancel_requested)
    progress = import_job_progress(job=job)
    assert (progress.text, progress.percent, progress.eta_seconds) == (text, percent, None)


@pytest.mark.django_db
def test_active_list_holds_unfinished_jobs_oldest_first(make_job):
    """The Imports page shows queued and running jobs, oldest first, and no ended ones."""
    first, second, ended = make_job("a"), make_job("b"), make_job("c")
    ImportJob.objects.filter(pk=ended.pk).update(status="completed")
    assert list(import_job_active_list()) == [first, second]
