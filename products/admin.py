from django.contrib import admin

from products.models import Product


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["sku", "name", "price", "active", "updated_at"]
    list_filter = ["active"]
    search_fields = ["sku", "name"]
    readonly_fields = ["created_at", "updated_at"]
    # The default count(*) on every changelist page is slow at millions of rows.
    show_full_result_count = False
