from django.contrib import admin
from django.db.models import Count, OuterRef, Subquery

from webhooks import services
from webhooks.forms import EndpointForm
from webhooks.models import Delivery, DeliveryAttempt, Endpoint


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    """Endpoints are created, changed and deleted through the services, as in the app: a new URL
    ends the failure pause, and deleting takes the events only that endpoint received."""

    list_display = ["url", "description", "enabled", "disabled_reason", "created_at"]
    list_filter = ["enabled"]
    search_fields = ["url", "description"]
    form = EndpointForm  # the same URL checks as the app's form
    fields = ["url", "description", "event_types", "enabled", "disabled_reason", "created_at", "updated_at"]
    # The secret is not editable, so the admin never renders it; staff rotate it in the app.
    readonly_fields = ["disabled_reason", "created_at", "updated_at"]

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in ["url", "description", "event_types"]}
        if change:
            # `obj` already carries the form's values; the services compare with what is stored.
            endpoint = services.endpoint_update(endpoint=Endpoint.objects.get(pk=obj.pk), **fields)
        else:
            endpoint = services.endpoint_create(**fields)
        if endpoint.enabled != form.cleaned_data["enabled"]:
            services.endpoint_enabled_set(endpoint=endpoint, enabled=form.cleaned_data["enabled"])
        obj.pk = endpoint.pk
        obj.refresh_from_db()

    def delete_model(self, request, obj):
        services.endpoint_delete(endpoint=obj)

    def delete_queryset(self, request, queryset):
        for endpoint in queryset:
            services.endpoint_delete(endpoint=endpoint)


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    readonly_fields = ["attempted_at", "status_code", "response_ms", "response_excerpt", "error"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["message_id", "endpoint", "event__type", "status", "attempt_count", "last_status_code", "created_at"]
    list_filter = ["status", "event__type"]
    search_fields = ["message_id", "endpoint__url"]
    list_select_related = ["endpoint", "event"]
    # `attempts` counts only since the last redelivery (it drives the retry schedule): staff see
    # the attempts listed below instead, as on the staff pages.
    exclude = ["attempts"]
    readonly_fields = [field.name for field in Delivery._meta.fields if field.name != "attempts"]
    inlines = [DeliveryAttemptInline]
    show_full_result_count = False  # counting millions of deliveries would slow every page

    def has_add_permission(self, request):
        return False

    def get_queryset(self, request):
        # Counted per row shown (a subquery), not by grouping every delivery before the page is cut.
        made = DeliveryAttempt.objects.filter(delivery=OuterRef("pk")).order_by().values("delivery")
        return super().get_queryset(request).annotate(attempt_count=Subquery(made.annotate(n=Count("*")).values("n")))

    @admin.display(description="attempts", ordering="attempt_count")
    def attempt_count(self, delivery) -> int:
        return delivery.attempt_count or 0
