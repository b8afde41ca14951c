from django.contrib import admin

from products.models import DeleteAllJob, Product


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["sku", "name", "price", "active", "updated_at"]
    list_filter = ["active"]
    search_fields = ["sku", "name"]
    readonly_fields = ["created_at", "updated_at"]
    # The default count(*) on every changelist page is slow at millions of rows.
    show_full_result_count = False


@admin.register(DeleteAllJob)
class DeleteAllJobAdmin(admin.ModelAdmin):
    """Staff see who deleted the catalogue, when, and how many products went."""

    list_display = ["created_at", "requested_by", "status", "deleted_count", "finished_at"]
    list_filter = ["status"]
    # Status and error stay editable: a job left pending by a lost queue would otherwise hold
    # back every later "delete all" (a pending job is reused, not duplicated).
    readonly_fields = ["requested_by", "deleted_count", "created_at", "finished_at"]

    def has_add_permission(self, request):
        return False
