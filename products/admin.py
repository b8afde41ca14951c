from django.contrib import admin
from django.core.paginator import Paginator
from django.utils.functional import cached_property

from products.forms import ProductForm
from products.models import DeleteAllJob, Product
from products.selectors import FILTERED_COUNT_CAP, product_catalogue_total, product_filter_sku_or_name
from products.services import product_delete, product_save, products_delete


class ProductPaginator(Paginator):
    """Counts as the staff list does, never millions of rows: the catalogue's estimate when the
    changelist is unfiltered, else the matches up to FILTERED_COUNT_CAP + 1 (pages go that far)."""

    @cached_property
    def count(self) -> int:
        if not self.object_list.query.where:
            return product_catalogue_total().value
        return self.object_list.order_by()[: FILTERED_COUNT_CAP + 1].count()


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    """Saves and deletes go through the services, as the staff pages' do: the product is
    searchable at once and webhooks hear of it."""

    form = ProductForm  # the staff pages' checks and messages
    list_display = ["sku", "name", "price", "active", "updated_at"]
    list_filter = ["active"]
    search_fields = ["sku", "name"]  # shows the search box; get_search_results() answers it
    readonly_fields = ["created_at", "updated_at"]
    # The default count(*) on every changelist page is slow at millions of rows.
    show_full_result_count = False
    paginator = ProductPaginator

    def get_search_results(self, request, queryset, search_term):
        """Through the search rows' trigram index, as the staff list's filters: the default,
        icontains on both columns, reads every product (seconds at a million). Products an
        import just wrote are found at once, read from the search backlog."""
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(id__in=product_filter_sku_or_name(term=term).values("id")), False

    def save_model(self, request, obj, form, change):
        product_save(product=obj)

    def delete_model(self, request, obj):
        product_delete(product=obj)

    def delete_queryset(self, request, queryset):
        products_delete(products=list(queryset))


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
