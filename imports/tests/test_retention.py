"""Staged uploads are deleted at IMPORT_FILE_RETENTION_DAYS; the job history stays."""

import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from imports import services
from imports.models import ImportJob
from imports.tasks import import_files_purge_task

HTMX = {"HX-Request": "true"}


def _uploaded_days_ago(job: ImportJob, days: int) -> ImportJob:
    ImportJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(days=days))
    job.refresh_from_db()
    return job


@pytest.fixture
def expired_job(run_import):
    """An import with row errors, cancelled (so retryable), uploaded 31 days ago, then purged."""
    job = run_import("sku,name,price\na,A,x\nb,B,1\n", name="old.csv")
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.CANCELLED)
    job = _uploaded_days_ago(job, 31)
    assert services.import_files_purge(older_than=timedelta(days=30)) == 1
    job.refresh_from_db()
    return job


def test_purge_deletes_only_old_uploads_of_ended_jobs(run_import, make_job):
    """Ended jobs past the age lose their file; recent ones and unfinished ones keep it."""
    old = _uploaded_days_ago(run_import("sku,name,price\na,A,x\n", name="old.csv"), 31)
    recent = _uploaded_days_ago(run_import("sku,name\nb,B\n", name="recent.csv"), 29)
    queued = _uploaded_days_ago(make_job("sku,name\nc,C\n", name="queued.csv"), 31)
    old_path, errors_name = old.file.path, old.errors_file.name
    assert services.import_files_purge(older_than=timedelta(days=30)) == 1
    old.refresh_from_db()
    assert old.file_deleted and not (settings.MEDIA_ROOT / old_path).exists()
    assert old.errors_file.name == errors_name and old.errors_file.storage.exists(errors_name)
    assert old.row_errors.count() == 1 and old.status == ImportJob.Status.COMPLETED_WITH_ERRORS
    for job in (recent, queued):
        job.refresh_from_db()
        assert job.file.storage.exists(job.file.name)
    assert services.import_files_purge(older_than=timedelta(days=30)) == 0


def test_beat_runs_the_purge_with_the_configured_age(run_import, settings):
    """The beat schedule holds the sweep, which reads IMPORT_FILE_RETENTION_DAYS."""
    schedule = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "imports.tasks.import_files_purge_task" in schedule
    job = _uploaded_days_ago(run_import("sku,name\na,A\n"), 3)
    settings.IMPORT_FILE_RETENTION_DAYS = 4
    assert import_files_purge_task() == 0
    settings.IMPORT_FILE_RETENTION_DAYS = 2
    assert import_files_purge_task() == 1
    job.refresh_from_db()
    assert job.file_deleted


def test_a_job_without_its_file_cannot_be_retried(expired_job):
    """The retry service refuses it with a message that says why."""
    assert not expired_job.can_retry
    with pytest.raises(ValidationError, match="uploaded file has been deleted"):
        services.import_job_retry(job=expired_job)


def test_the_pages_say_the_file_is_gone_and_offer_no_retry(staff_client, expired_job):
    """The job page keeps its history and errors download, says why it has no Retry, and a
    retry posted anyway answers with an error toast."""
    html = staff_client.get(expired_job.get_absolute_url()).content.decode()
    assert "uploaded file has been deleted" in html and ">Retry</button>" not in html
    assert reverse("imports:errors", args=[expired_job.pk]) in html
    assert staff_client.get(reverse("imports:errors", args=[expired_job.pk])).status_code == 200
    response = staff_client.post(reverse("imports:retry", args=[expired_job.pk]), headers=HTMX)
    toast = json.loads(response["HX-Trigger"])["toast"]
    assert toast["level"] == "error" and "uploaded file has been deleted" in toast["message"]
    expired_job.refresh_from_db()
    assert expired_job.status == ImportJob.Status.CANCELLED
