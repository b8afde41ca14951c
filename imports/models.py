from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone


class ImportJob(models.Model):
    """One CSV file staged in storage and its trip into the catalogue."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        COMPLETED_WITH_ERRORS = "completed_with_errors", "Completed with errors"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class Stage(models.TextChoices):
        UPLOADING = "uploading", "Uploading"
        PARSING = "parsing", "Parsing CSV"
        VALIDATING = "validating", "Validating"
        IMPORTING = "importing", "Importing"
        FINISHING = "finishing", "Finishing"

    class Failure(models.TextChoices):
        """Why a job failed, which says whether running it again can help."""

        FILE = "file", "The file cannot be imported"  # only a corrected upload can succeed
        INTERRUPTED = "interrupted", "Its runs kept stopping"  # worker killed, out of memory, restarts
        ERROR = "error", "Unexpected error"  # a bug or the database: worth another try

    ENDED = {Status.COMPLETED, Status.COMPLETED_WITH_ERRORS, Status.FAILED, Status.CANCELLED}

    file = models.FileField(upload_to="imports/%Y/%m/%d/", max_length=255, help_text="The staged CSV file.")
    original_name = models.CharField(max_length=255)
    size = models.BigIntegerField(help_text="File size in bytes.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.QUEUED, db_index=True)
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.UPLOADING)
    cancel_requested = models.BooleanField(default=False)
    bytes_processed = models.BigIntegerField(default=0)
    rows_processed = models.PositiveIntegerField(default=0, help_text="Data rows read, valid or not.")
    created_count = models.PositiveIntegerField("created", default=0, help_text="New products.")
    updated_count = models.PositiveIntegerField("updated", default=0, help_text="Existing products whose values changed.")
    unchanged_count = models.PositiveIntegerField(
        "unchanged", default=0, help_text="Existing products the file left as they were."
    )
    duplicate_count = models.PositiveIntegerField(
        "duplicates", default=0, help_text="Rows superseded by a later row of the same SKU (any case) in the file."
    )
    skipped_count = models.PositiveIntegerField("skipped", default=0, help_text="Rows skipped for errors.")
    error_count = models.PositiveIntegerField(default=0)
    warnings = models.JSONField(default=list, blank=True)
    error_message = models.TextField(blank=True, help_text="Why the whole job failed.")
    failure = models.CharField(
        max_length=16, choices=Failure.choices, blank=True, help_text="The kind of failure; a bad file is never retried."
    )
    errors_file = models.FileField(
        upload_to="imports/errors/%Y/%m/%d/", max_length=255, blank=True, help_text="Every row error, as CSV."
    )
    celery_task_id = models.CharField(max_length=255, blank=True)
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Runs started; a worker that dies mid-import makes the broker start another."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True, help_text="Heartbeat: bumped after every batch.")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "import job"

    def __str__(self):
        return f"Import #{self.pk} — {self.original_name}"

    def get_absolute_url(self):
        return reverse("imports:detail", args=[self.pk])

    @property
    def duration(self):
        if not self.started_at:
            return None
        return (self.finished_at or timezone.now()) - self.started_at

    @property
    def has_ended(self) -> bool:
        return self.status in self.ENDED

    @property
    def file_deleted(self) -> bool:
        """The staged upload went at the retention age (imports.services.import_files_purge)."""
        return not self.file

    @property
    def can_retry(self) -> bool:
        """Cancelled jobs, and failed ones whose failure another run can get past, while their file is kept."""
        if self.file_deleted:
            return False
        if self.status == self.Status.FAILED:
            return self.failure != self.Failure.FILE
        return self.status == self.Status.CANCELLED

    @property
    def can_cancel(self) -> bool:
        return not self.has_ended and not self.cancel_requested


class ImportRowError(models.Model):
    """A row the import skipped, and why. The first ones are kept here; all are in the error CSV."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_errors")
    line = models.PositiveIntegerField(help_text="Line of the file where the row starts.")
    column = models.CharField(max_length=64, blank=True)
    value = models.TextField(blank=True)
    message = models.CharField(max_length=255)

    class Meta:
        ordering = ["job", "line", "id"]
        verbose_name = "row error"

    def __str__(self):
        return f"Line {self.line}: {self.message}"

    def get_absolute_url(self):
        return self.job.get_absolute_url()
