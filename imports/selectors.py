"""Reads of the imports app: job lists for the pages and live progress figures."""

from dataclasses import dataclass

from django.db.models import QuerySet

from imports.models import ImportJob

STAGE_TEXT = {
    ImportJob.Stage.UPLOADING: "Uploading…",
    ImportJob.Stage.PARSING: "Parsing CSV…",
    ImportJob.Stage.VALIDATING: "Validating…",
    ImportJob.Stage.IMPORTING: "Importing…",
    ImportJob.Stage.FINISHING: "Finishing…",
}
STATUS_LEVEL = {
    ImportJob.Status.QUEUED: "info",
    ImportJob.Status.RUNNING: "info",
    ImportJob.Status.COMPLETED: "success",
    ImportJob.Status.COMPLETED_WITH_ERRORS: "warning",
    ImportJob.Status.FAILED: "error",
    ImportJob.Status.CANCELLED: "",
}


def import_job_list() -> QuerySet[ImportJob]:
    return ImportJob.objects.select_related("created_by")


ACTIVE = [status for status in ImportJob.Status if status not in ImportJob.ENDED]


def import_job_active_list() -> QuerySet[ImportJob]:
    """Queued and running jobs, oldest first (through the status index: every page's top bar
    asks). Without the uploader, which neither the top bar nor the progress cards show."""
    return ImportJob.objects.filter(status__in=ACTIVE).order_by("created_at", "id")


def import_job_counts(*, job: ImportJob) -> dict[str, int]:
    """What the job's rows did, as the job API, the command and upload.completed report it:
    these add up to the rows read."""
    return {
        "created": job.created_count,
        "updated": job.updated_count,
        "unchanged": job.unchanged_count,
        "duplicates": job.duplicate_count,
        "skipped": job.skipped_count,
    }


@dataclass(frozen=True)
class ImportProgress:
    percent: int
    text: str
    level: str
    rows_per_second: int | None
    eta_seconds: int | None


def import_job_progress(*, job: ImportJob) -> ImportProgress:
    """Percentage from bytes read (the row count is unknown until the end), speed and ETA."""
    percent = 100 if job.status in {ImportJob.Status.COMPLETED, ImportJob.Status.COMPLETED_WITH_ERRORS} else (
        int(100 * job.bytes_processed / job.size) if job.size else 0
    )
    if job.status == ImportJob.Status.QUEUED:
        text = "Waiting for a worker…"
    elif job.status == ImportJob.Status.RUNNING:
        text = "Cancelling…" if job.cancel_requested else STAGE_TEXT[job.stage]
    else:
        text = job.get_status_display()
    rows_per_second = eta_seconds = None
    seconds = job.duration.total_seconds() if job.duration else 0
    if seconds > 0 and job.rows_processed:
        rows_per_second = round(job.rows_processed / seconds)
        if job.status == ImportJob.Status.RUNNING and job.bytes_processed:
            eta_seconds = round((job.size - job.bytes_processed) * seconds / job.bytes_processed)
    return ImportProgress(
        percent=min(percent, 100),
        text=text,
        level=STATUS_LEVEL[job.status],
        rows_per_second=rows_per_second,
        eta_seconds=eta_seconds,
    )
