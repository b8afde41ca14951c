from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from config.permissions import staff_permission_required
from webhooks import selectors, services
from webhooks.forms import DeliveryFilterForm, EndpointForm
from webhooks.models import Delivery, Endpoint

DELIVERIES_PER_PAGE = 25


def _toast(response, message: str, level: str = "success"):
    return trigger_client_event(response, "toast", {"message": message, "level": level})


def _redirect(request: HttpRequest, url: str):
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@require_GET
def index(request: HttpRequest):
    return render(request, "webhooks/index.html", {"endpoints": selectors.endpoint_list()})


@require_http_methods(["GET", "POST"])
def endpoint_create(request: HttpRequest):
    form = EndpointForm(request.POST or None)
    if request.method == "POST":
        if not form.is_valid():
            template = "webhooks/_endpoint_form.html" if request.htmx else "webhooks/endpoint_form.html"
            return render(request, template, {"form": form}, status=422)
        endpoint = services.endpoint_create(**form.cleaned_data)
        # The secret is shown in this one response and never again.
        template = "webhooks/_secret.html" if request.htmx else "webhooks/endpoint_created.html"
        return render(request, template, {"endpoint": endpoint, "secret": endpoint.secret, "created": True})
    return render(request, "webhooks/endpoint_form.html", {"form": form})


@require_http_methods(["GET", "POST"])
@staff_permission_required("webhooks.change_endpoint", action="change webhook endpoints")
def endpoint_update(request: HttpRequest, pk: int):
    endpoint = get_object_or_404(Endpoint, pk=pk)
    form = EndpointForm(request.POST or None, instance=endpoint)
    if request.method == "POST":
        if not form.is_valid():
            template = "webhooks/_endpoint_form.html" if request.htmx else "webhooks/endpoint_form.html"
            return render(request, template, {"form": form, "endpoint": endpoint}, status=422)
        services.endpoint_update(endpoint=endpoint, **form.cleaned_data)
        messages.success(request, "Endpoint saved.")
        return _redirect(request, endpoint.get_absolute_url())
    return render(request, "webhooks/endpoint_form.html", {"form": form, "endpoint": endpoint})


@require_GET
def endpoint_detail(request: HttpRequest, pk: int):
    endpoint = get_object_or_404(Endpoint, pk=pk)
    filters = DeliveryFilterForm(request.GET)
    status = filters.cleaned_data["status"] if filters.is_valid() else ""
    deliveries = Paginator(selectors.endpoint_deliveries(endpoint=endpoint, status=status), DELIVERIES_PER_PAGE)
    page_obj = deliveries.get_page(request.GET.get("page"))
    context = {
        "endpoint": endpoint,
        "filters": filters,
        "status": status,
        "page_obj": page_obj,
        # The log polls itself while a delivery on it may still change.
        "pending": any(delivery.status == Delivery.Status.PENDING for delivery in page_obj),
    }
    template = "webhooks/_delivery_log.html" if request.htmx else "webhooks/endpoint_detail.html"
    return render(request, template, context)


@require_POST
def endpoint_delete(request: HttpRequest, pk: int):
    endpoint = get_object_or_404(Endpoint, pk=pk)
    services.endpoint_delete(endpoint=endpoint)
    messages.success(request, f"Endpoint {endpoint.url} deleted.")
    return _redirect(request, reverse("webhooks:index"))


@require_POST
@staff_permission_required("webhooks.change_endpoint", action="change webhook endpoints")
def endpoint_toggle(request: HttpRequest, pk: int):
    endpoint = get_object_or_404(Endpoint, pk=pk)
    services.endpoint_enabled_set(endpoint=endpoint, enabled=not endpoint.enabled)
    if not request.htmx:
        return redirect(endpoint)
    response = render(request, "webhooks/_endpoint_state.html", {"endpoint": endpoint})
    return _toast(response, "Endpoint enabled." if endpoint.enabled else "Endpoint disabled.")


@require_POST
@staff_permission_required("webhooks.change_endpoint", action="rotate webhook secrets")
def endpoint_secret_rotate(request: HttpRequest, pk: int):
    endpoint = get_object_or_404(Endpoint, pk=pk)
    secret = services.endpoint_secret_rotate(endpoint=endpoint)
    return render(request, "webhooks/_secret.html", {"endpoint": endpoint, "secret": secret})


@require_POST
def endpoint_test(request: HttpRequest, pk: int):
    endpoint = get_object_or_404(Endpoint, pk=pk)
    delivery = services.endpoint_test(endpoint=endpoint)
    return render(request, "webhooks/_test_result.html", {"delivery": delivery, "attempt": None})


@require_GET
def delivery_detail(request: HttpRequest, pk: int):
    delivery = get_object_or_404(Delivery.objects.select_related("endpoint", "event"), pk=pk)
    context = {"delivery": delivery, "attempt": selectors.delivery_latest_attempt(delivery=delivery)}
    if not request.htmx:
        context["request_headers"] = selectors.delivery_request_headers(delivery=delivery)
        return render(request, "webhooks/delivery_detail.html", context)
    # htmx polls this URL for the Test button's result; once it is in, the log shows it too.
    response = render(request, "webhooks/_test_result.html", context)
    if delivery.status != Delivery.Status.PENDING:
        trigger_client_event(response, "deliveries-changed")
    return response


@require_POST
def delivery_redeliver(request: HttpRequest, pk: int):
    delivery = get_object_or_404(Delivery, pk=pk)
    queued = services.delivery_redeliver(delivery=delivery)
    if not request.htmx:
        return redirect(delivery)
    delivery.refresh_from_db()
    response = render(request, "webhooks/_delivery_row.html", {"delivery": delivery})
    if queued:
        return _toast(response, "Delivery queued again.")
    return _toast(response, "This delivery is already queued.", "info")
