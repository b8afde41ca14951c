import datetime
import re
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone

from products.models import Product

UPDATED = datetime.datetime(2026, 3, 1, 23, 59, 30, tzinfo=datetime.UTC)
# The filters the list's rows showed their values with before they were built in Python.
FILTERED = Template(
    '{% load humanize %}{{ product.description|truncatechars:90 }}|{{ product.price|intcomma }}'
    '|{{ product.updated_at|date:"Y-m-d H:i" }}'
)
DESCRIPTIONS = [
    "",
    "x" * 90,
    "oak table " * 9 + "y",  # 91 characters
    "Cafe\u0301 au lait, " * 12,  # combining accents do not count
    "e\u0301" * 95,
    "<b>bold</b> & " * 10,
]
PRICES = [None, Decimal("0.00"), Decimal("999.50"), Decimal("1234567.89"), Decimal("1E+3"), Decimal("-1234.5")]


def row_of(product: Product) -> str:
    return Template("{% load products_tags %}{% product_row product %}").render(Context({"product": product}))


def cell(row: str, name: str) -> str:
    return re.search(rf'<td class="[^"]*\b{name}\b[^"]*">(.*?)</td>', row, re.S).group(1)


def shown_by_filters(product: Product) -> list[str]:
    description, price, updated = FILTERED.render(Context({"product": product})).split("|")
    return [description, "—" if product.price is None else price, updated]


@pytest.mark.parametrize("description", DESCRIPTIONS)
@pytest.mark.parametrize("price", PRICES)
def test_row_shows_what_the_template_filters_would(description, price):
    """A row's description, price and date are those truncatechars:90, intcomma and date give."""
    product = Product(pk=7, sku="S-1", name="Stool", description=description, price=price, updated_at=UPDATED)
    row = row_of(product)
    assert [cell(row, "description"), cell(row, "price"), cell(row, "updated")] == shown_by_filters(product)


def test_row_shows_the_date_in_the_current_time_zone():
    """The date is in the active time zone, as the date filter shows it."""
    product = Product(pk=7, sku="S-1", name="Stool", updated_at=UPDATED)
    with timezone.override("Asia/Tokyo"):
        assert cell(row_of(product), "updated") == shown_by_filters(product)[2] == "2026-03-02 08:59"


def test_row_escapes_the_products_text():
    """Markup in a SKU, name or description is shown as text, never as markup."""
    product = Product(pk=7, sku='A"<b>', name="<script>x</script>", description="<i>&", updated_at=UPDATED)
    row = row_of(product)
    assert "<script>" not in row and "<b>" not in row and "<i>" not in row
    assert cell(row, "name") == "&lt;script&gt;x&lt;/script&gt;"
    assert 'aria-label="Select A&quot;&lt;b&gt;"' in row


@pytest.mark.parametrize(("active", "state", "action"), [(True, "Active", "Deactivate"), (False, "Inactive", "Activate")])
def test_row_offers_the_opposite_of_its_state(active, state, action):
    """The status badge shows the state and offers to flip it."""
    row = row_of(Product(pk=7, sku="S-1", name="Stool", active=active, updated_at=UPDATED))
    assert f">{state}</button>" in row and f'aria-label="{action} S-1"' in row
    assert f'hx-post="{reverse("products:toggle_active", args=[7])}"' in row
