import json
from pathlib import Path

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError

from imports.models import ImportJob
from imports.selectors import import_job_counts, import_job_progress
from imports.services import import_job_create, import_job_run

JSON_ERRORS = 20
BAR_WIDTH = 30


class Command(BaseCommand):
    help = "Import a product CSV through the same pipeline as the upload page."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="CSV file with the columns sku, name[, description, price]")
        parser.add_argument("--async", dest="run_async", action="store_true", help="only queue it for a worker")
        parser.add_argument("--json", dest="as_json", action="store_true", help="print one JSON object instead of text")

    def handle(self, *args, file: Path, run_async: bool, as_json: bool, **options):
        if not file.is_file():
            raise CommandError(f"No such file: {file}")
        with file.open("rb") as source:
            job = import_job_create(file=File(source), name=file.name, user=None, enqueue=run_async)
        if not run_async:
            show_bar = not as_json and self.stderr.isatty()
            job = import_job_run(job_id=job.pk, on_progress=self._draw_bar if show_bar else None)
            if show_bar:
                self.stderr.write("")
        if as_json:
            self.stdout.write(_json_summary(job))
        else:
            self._print_summary(job)
        if job.status == ImportJob.Status.FAILED:
            raise CommandError(job.error_message)

    def _draw_bar(self, job: ImportJob) -> None:
        progress = import_job_progress(job=job)
        done = BAR_WIDTH * progress.percent // 100
        speed = f"{progress.rows_per_second:,} rows/s" if progress.rows_per_second else ""
        # Unstyled: the command's stderr draws in the error style (bold red), and this is no error.
        self.stderr.write(
            f"\r[{'#' * done}{'.' * (BAR_WIDTH - done)}] {progress.percent:3d}%  {job.rows_processed:,} rows  {speed}",
            style_func=str,
            ending="",
        )

    def _print_summary(self, job: ImportJob) -> None:
        if job.status == ImportJob.Status.QUEUED:
            self.stdout.write(f"Queued import #{job.pk} (task {job.celery_task_id}).")
            return
        seconds = job.duration.total_seconds() if job.duration else 0
        self.stdout.write(
            f"Import #{job.pk} {job.get_status_display().lower()} in {seconds:.1f} s: {job.rows_processed:,} rows, "
            + ", ".join(f"{count:,} {name}" for name, count in import_job_counts(job=job).items())
            + "."
        )
        for warning in job.warnings:
            self.stdout.write(self.style.WARNING(warning))
        for error in job.row_errors.all()[:JSON_ERRORS]:
            self.stdout.write(f"  line {error.line} {error.column}: {error.message}")
        if job.error_count > JSON_ERRORS:
            self.stdout.write(f"  … {job.error_count - JSON_ERRORS:,} more in {job.errors_file.name}")


def _json_summary(job: ImportJob) -> str:
    return json.dumps(
        {
            "job": job.pk,
            "status": job.status,
            "rows": job.rows_processed,
            **import_job_counts(job=job),
            "error": job.error_message or None,
            "errors": [
                {"line": e.line, "column": e.column, "value": e.value, "message": e.message}
                for e in job.row_errors.all()[:JSON_ERRORS]
            ],
        }
    )
