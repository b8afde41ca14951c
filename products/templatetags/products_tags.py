import html
from functools import cache

from django import template
from django.http import QueryDict
from django.urls import get_script_prefix, reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator
from django.utils.timezone import get_current_timezone

from products.models import Product

register = template.Library()

# Stands for a product's id in a reversed URL; no other part of these URLs holds such digits.
_PK_PLACEHOLDER = 9_876_543_210
# What `truncatechars` would cut the description to.
DESCRIPTION_SHOWN_CHARS = 90
# One row of the list (_rows_html fills it in, every value escaped).
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
ROW_LINKS = {"toggle_url": "products:toggle_active", "edit_url": "products:edit", "delete_url": "products:delete"}
# Where a list's render keeps its page links between the two places that show them.
_PAGE_LINKS = "products.page_links"


@cache
def _product_url_pattern(name: str, script_prefix: str) -> str:
    """`name`'s URL, escaped, with a placeholder for the product's id: reversed once per view name."""
    return escape(reverse(name, args=[_PK_PLACEHOLDER]))


def _description_shown(text: str) -> str:
    """`truncatechars`'s cut; ASCII text (no combining characters) is cut without its walk over every character."""
    if not text.isascii():
        return Truncator(text).chars(DESCRIPTION_SHOWN_CHARS)
    return text if len(text) <= DESCRIPTION_SHOWN_CHARS else text[: DESCRIPTION_SHOWN_CHARS - 1] + "…"


def _rows_html(products) -> SafeString:
    """Rows of the list, with their price, date and links as `intcomma`, `date:"Y-m-d H:i"` and
    `{% url %}` show them.

    Built in Python rather than by the template engine: the list renders up to 100 rows per
    request, and the engine's lookup of every value, and the filters' general cases, were most
    of the page's time (docs/performance.md).
    """
    prefix = get_script_prefix()
    links = {key: _product_url_pattern(name, prefix) for key, name in ROW_LINKS.items()}
    placeholder, timezone = str(_PK_PLACEHOLDER), get_current_timezone()
    rows = []
    for product in products:
        pk = str(product.pk)
        values = {key: pattern.replace(placeholder, pk) for key, pattern in links.items()}
        values.update(_ACTIVE if product.active else _INACTIVE)
        # html.escape is what Django's escape() applies, without its lazy-string wrapper.
        values.update(
            pk=pk,
            sku=html.escape(product.sku),
            name=html.escape(product.name),
            description=html.escape(_description_shown(product.description)),
            price="—" if product.price is None else f"{product.price:,f}",
            updated=product.updated_at.astimezone(timezone).isoformat(" ", "minutes")[:16],
        )
        rows.append(ROW_HTML.format_map(values))
    return mark_safe("".join(rows))


@register.simple_tag
def product_rows(products) -> SafeString:
    """The rows of a page of the list (products/_list.html)."""
    return _rows_html(products)


@register.simple_tag
def product_row(product: Product) -> SafeString:
    """One row, as the list shows it: the answer to a row's edit, toggle or cancel (products/_row.html)."""
    return _rows_html([product])


@register.simple_tag(takes_context=True)
def product_page_links(context) -> SafeString:
    """The list's page links (products/_page_links.html), shown above and below its rows: rendered
    once per list, as both are the same."""
    links = context.render_context.get(_PAGE_LINKS)
    if links is None:
        template = context.template.engine.get_template("products/_page_links.html")
        links = context.render_context[_PAGE_LINKS] = template.render(context)
    return links


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
