from django.contrib import admin

from imports.models import ImportJob, ImportRowError


class ImportRowErrorInline(admin.TabularInline):
    model = ImportRowError
    fields = ["line", "column", "value", "message"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    """Read-only: jobs change only through the import pipeline."""

    list_display = ["id", "original_name", "status", "stage_reached", "rows_processed", "created_count",
                    "updated_count", "unchanged_count", "duplicate_count", "skipped_count", "created_by", "created_at",
                    "finished_at"]
    list_filter = ["status", "failure", "created_at"]
    search_fields = ["original_name", "celery_task_id"]
    date_hierarchy = "created_at"
    inlines = [ImportRowErrorInline]
    exclude = ["stage"]
    readonly_fields = ["stage_reached"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="stage")
    def stage_reached(self, job: ImportJob) -> str:
        """A finished job is done, whatever stage it last reported; a stopped one says where it stopped."""
        if job.status in {ImportJob.Status.COMPLETED, ImportJob.Status.COMPLETED_WITH_ERRORS}:
            return "Done"
        if job.has_ended:
            return f"Stopped while {job.get_stage_display().lower()}"
        return job.get_stage_display()
