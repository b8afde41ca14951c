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

    list_display = ["id", "original_name", "status", "stage", "rows_processed", "created_count",
                    "updated_count", "unchanged_count", "duplicate_count", "skipped_count", "created_by", "created_at", "finished_at"]
    list_filter = ["status", "created_at"]
    search_fields = ["original_name", "celery_task_id"]
    date_hierarchy = "created_at"
    inlines = [ImportRowErrorInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
