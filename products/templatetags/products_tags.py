from functools import cache

from django import template
from django.http import QueryDict
from django.urls import get_script_prefix, reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator
from django.utils.timezone import localtime

from products.models import Product

register = template.Library()

# Stands for a product's id in a reversed URL; no other part of these URLs holds such digits.
_PK_PLACEHOLDER = 9_876_543_210
# What `truncatechars` would cut the description to.
DESCRIPTION_SHOWN_CHARS = 90
# One row of the list. Every value is escaped before it goes in (product_row).
ROW_HTML = """<tr id="product-{pk}">
  <td class="select"><input type="checkbox" name="ids" value="{pk}" form="bulk-form" aria-label="Select {sku}"></td>
  <td class="sku mono">{sku}</td>
  <td class="name">{name}</td>
  <td class="muted description">{description}</td>
  <td class="price num">{price}</td>
  <td class="updated muted">{updated}</td>
  <td class="status">
    <button class="badge toggle {badge}" type="button"
            hx-post="{toggle_url}" hx-target="closest tr" hx-swap="outerHTML"
            aria-label="{toggle} {sku}"
            title="Click to {toggle_lower}">{state}</button>
  </td>
  <td class="actions">
    <button class="button small" type="button" hx-get="{edit_url}" hx-target="closest tr" hx-swap="outerHTML"
            aria-label="Edit {sku}">Edit</button>
    <button class="button small ghost danger-text" type="button" hx-post="{delete_url}" hx-swap="none"
            hx-confirm="Delete product {sku}? This cannot be undone." data-confirm-button="Delete product"
            aria-label="Delete {sku}">Delete</button>
  </td>
</tr>
"""
_ACTIVE = {"badge": "success", "toggle": "Deactivate", "toggle_lower": "deactivate", "state": "Active"}
_INACTIVE = {"badge": "", "toggle": "Activate", "toggle_lower": "activate", "state": "Inactive"}


@cache
def _product_url_pattern(name: str, script_prefix: str) -> str:
    """`name`'s URL, escaped, with a placeholder for the product's id: reversed once per view name."""
    return escape(reverse(name, args=[_PK_PLACEHOLDER]))


def _product_url(name: str, pk: int, script_prefix: str) -> str:
    return _product_url_pattern(name, script_prefix).replace(str(_PK_PLACEHOLDER), str(pk))


def _description_shown(text: str) -> str:
    """`truncatechars`'s cut; ASCII text (no combining characters) is cut without its walk over every character."""
    if not text.isascii():
        return Truncator(text).chars(DESCRIPTION_SHOWN_CHARS)
    return text if len(text) <= DESCRIPTION_SHOWN_CHARS else text[: DESCRIPTION_SHOWN_CHARS - 1] + "…"


@register.simple_tag
def product_row(product: Product) -> SafeString:
    """One row of the list (products/_row.html), with its price, date and links as the filters
    `intcomma`, `date:"Y-m-d H:i"` and `{% url %}` show them.

    Built in Python rather than by the template engine: the list renders up to 100 rows per
    request, and the engine's lookups for each value and the filters' general cases were most
    of the page's time (docs/performance.md).
    """
    pk, prefix = product.pk, get_script_prefix()
    return mark_safe(ROW_HTML.format(
        pk=pk,
        sku=escape(product.sku),
        name=escape(product.name),
        description=escape(_description_shown(product.description)),
        price="—" if product.price is None else f"{product.price:,f}",
        updated=f"{localtime(product.updated_at):%Y-%m-%d %H:%M}",
        toggle_url=_product_url("products:toggle_active", pk, prefix),
        edit_url=_product_url("products:edit", pk, prefix),
        delete_url=_product_url("products:delete", pk, prefix),
        **(_ACTIVE if product.active else _INACTIVE),
    ))


@register.filter
def with_page(query: QueryDict, number: int) -> str:
    """The list's query string (its filters and order) pointing at another page."""
    query = query.copy()
    query["page"] = number
    return query.urlencode()


@register.filter
def with_sort(query: QueryDict, field: str) -> str:
    """The list's query string sorted by `field`, from its first page; descending if it already is ascending."""
    query = query.copy()
    query.pop("page", None)
    query["sort"] = f"-{field}" if query.get("sort") == field else field
    return query.urlencode()
