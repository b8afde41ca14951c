from django.contrib import admin

from api.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Lists tokens without their secret (only a digest is stored). They are created on the API
    tokens page or with `manage.py api_token`, which show the secret once; here they are revoked."""

    list_display = ["name", "user", "created", "expiry"]
    list_filter = ["user"]
    search_fields = ["name", "user__username"]
    fields = ["name", "user", "created", "expiry"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
