from functools import cache

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import get_script_prefix, reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import trigger_client_event

from config.activity import activity_current
from config.permissions import staff_permission_required
from products import selectors, services
from products.forms import ProductBulkForm, ProductFilterForm, ProductForm
from products.models import DeleteAllJob, Product

# Tells the list to reload itself (with its filters and page) after a change.
PRODUCTS_CHANGED = "products-changed"


def _toast(response, message: str, level: str = "success"):
    trigger_client_event(response, "toast", {"message": message, "level": level})
    return response


@cache
def _empty_create_form(script_prefix: str) -> str:
    """The "New product" form, empty: the same on every list page and after every create, so
    rendered once per process (its widgets are a good part of a page's template work)."""
    return render_to_string("products/_create_form.html", {"form": ProductForm()})


def _row_form(product: Product, data=None) -> ProductForm:
    # Several rows may be in edit mode at once: field ids must stay unique on the page. The
    # cells have no <label>; the column's name labels each input.
    form = ProductForm(data, instance=product, auto_id=f"id_product{product.pk}_%s")
    for field in form.fields.values():
        field.widget.attrs["aria-label"] = field.label
    return form


@require_GET
@vary_on_headers("HX-Request")
def index(request):
    filter_form = ProductFilterForm(request.GET)
    filters = filter_form.filters()
    full_page = not request.htmx or request.htmx.history_restore_request
    # The delete-all dialog counts the whole catalogue; unfiltered, that is the list's total.
    catalogue_total = selectors.product_catalogue_total() if full_page else None
    page = selectors.product_page(
        filters=filters,
        number=filter_form.page_number(),
        per_page=filter_form.page_size(),
        sort=filter_form.ordering(),
        total=None if filters.any else catalogue_total,
    )
    context = {"page": page, "filter_form": filter_form}
    if not full_page:
        return render(request, "products/_list.html", context)
    # The top bar reads the pending delete-all anyway: read it once, for both.
    activity = activity_current()
    context.update(
        activity=activity,
        create_form=_empty_create_form(get_script_prefix()),
        catalogue_total=catalogue_total,
        job=activity.delete_all,
        search_behind=selectors.product_search_is_behind(),
    )
    return render(request, "products/index.html", context)


@require_GET
def search_status(request):
    """The "search is catching up" notice, polled while search is behind."""
    search_behind = selectors.product_search_is_behind()
    response = render(request, "products/_search_status.html", {"search_behind": search_behind})
    if not search_behind:
        # Caught up: the notice goes (its polling with it) and the list shows what is now found.
        trigger_client_event(response, PRODUCTS_CHANGED)
    return response


@require_POST
def create(request):
    form = ProductForm(request.POST)
    if form.is_valid():
        try:
            product = services.product_create(**form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            response = HttpResponse(_empty_create_form(get_script_prefix()))
            trigger_client_event(response, PRODUCTS_CHANGED)
            trigger_client_event(response, "product-created")
            return _toast(response, f"Product {product.sku} created.")
    return render(request, "products/_create_form.html", {"form": form}, status=422)


@require_GET
def detail(request, pk: int):
    product = get_object_or_404(Product, pk=pk)
    if not request.htmx:
        return redirect(f"{reverse('products:index')}?{urlencode({'sku': product.sku})}")
    return render(request, "products/_row.html", {"product": product})


@require_http_methods(["GET", "POST"])
def edit(request, pk: int):
    product = get_object_or_404(Product, pk=pk)
    if request.method == "GET":
        return render(request, "products/_row_form.html", {"product": product, "form": _row_form(product)})
    form = _row_form(product, request.POST)
    if form.is_valid():
        try:
            services.product_update(product=product, data=form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            response = render(request, "products/_row.html", {"product": product})
            return _toast(response, f"Product {product.sku} saved.")
    return render(request, "products/_row_form.html", {"product": product, "form": form}, status=422)


@require_POST
def toggle_active(request, pk: int):
    product = get_object_or_404(Product, pk=pk)
    services.product_update(product=product, data={"active": not product.active})
    response = render(request, "products/_row.html", {"product": product})
    state = "active" if product.active else "inactive"
    return _toast(response, f"Product {product.sku} is now {state}.")


@require_POST
def delete(request, pk: int):
    product = get_object_or_404(Product, pk=pk)
    services.product_delete(product=product)
    response = HttpResponse()
    trigger_client_event(response, PRODUCTS_CHANGED)
    return _toast(response, f"Product {product.sku} deleted.")


@require_POST
def bulk(request):
    """Activate, deactivate or delete the products ticked on the list."""
    form = ProductBulkForm(request.POST)
    if not form.is_valid():
        return _toast(HttpResponse(status=204), " ".join(form.errors.get("ids", ["Choose an action."])), "error")
    products = list(form.cleaned_data["ids"])
    action = form.cleaned_data["action"]
    if action == "delete":
        services.products_delete(products=products)
    else:
        services.products_active_set(products=products, active=action == "activate")
    response = HttpResponse()
    trigger_client_event(response, PRODUCTS_CHANGED)
    count = len(products)
    return _toast(response, f"{count:,} product{'s' if count != 1 else ''} {form.ACTIONS[action]}.")


@require_POST
@staff_permission_required("products.add_deletealljob", action="delete all products")
def delete_all(request):
    try:
        job = services.products_delete_all_start(requested_by=request.user)
    except services.CatalogueBusy as error:
        response = render(request, "products/_delete_all_job.html", {"refusal": str(error)})
        return _toast(response, str(error), "error")
    response = render(request, "products/_delete_all_job.html", {"job": job})
    return trigger_client_event(response, "delete-all-started")  # the top bar shows it


@require_GET
def delete_all_job(request, pk: int):
    job = get_object_or_404(DeleteAllJob, pk=pk)
    response = render(request, "products/_delete_all_job.html", {"job": job})
    if job.status == DeleteAllJob.Status.SUCCEEDED:
        trigger_client_event(response, PRODUCTS_CHANGED)
        return _toast(response, f"Deleted {job.deleted_count:,} products.")
    if job.status == DeleteAllJob.Status.FAILED:
        return _toast(response, f"Delete all failed: {job.error}", "error")
    return response
