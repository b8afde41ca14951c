"""The product columns a CSV import reads and writes, declared once.

The import's parser checks cells with these specs, its payloads carry them in this order, and
the products app builds its staging table and merge statements from them. Plain Python without
Django, so the parser process uses it without loading Django. Adding a column means a spec here,
the field on Product and its migration.
"""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from products.limits import NAME_MAX_LENGTH, PRICE_DECIMAL_PLACES, PRICE_MAX_DIGITS, SKU_MAX_LENGTH

# COPY's marker for NULL, in the payloads' text format.
NULL = "\\N"


def parse_price(text: str) -> tuple[str | None, str]:
    """A price cell as COPY text, or None and why it is not a price."""
    try:
        price = Decimal(text)
    except InvalidOperation:
        return None, "Price is not a number (write it like 19.99)."
    if not price.is_finite():
        return None, "Price is not a number (write it like 19.99)."
    if price < 0:
        return None, "Price cannot be negative."
    if price.adjusted() >= PRICE_MAX_DIGITS - PRICE_DECIMAL_PLACES:
        return None, "Price is too large."
    cents = price.quantize(Decimal(1).scaleb(-PRICE_DECIMAL_PLACES))
    if cents != price:
        return None, f"Price has more than {PRICE_DECIMAL_PLACES} decimals."
    return str(cents), ""


@dataclass(frozen=True)
class ImportColumn:
    """One column: its header name, its label in messages, its type in the staging table, and how
    a (stripped) cell becomes COPY text. `empty` is the text of an empty cell, and of every cell
    of an optional column the file lacks (a new product then gets it; an existing one keeps its
    value). `parse` returns (text, "") or (None, message); without it the cell is text."""

    name: str
    label: str
    sql_type: str
    required: bool = False
    max_length: int | None = None
    empty: str = ""
    parse: Callable[[str], tuple[str | None, str]] | None = None


IMPORT_COLUMNS = (
    ImportColumn("sku", "SKU", "text", required=True, max_length=SKU_MAX_LENGTH),
    ImportColumn("name", "Name", "text", required=True, max_length=NAME_MAX_LENGTH),
    ImportColumn("description", "Description", "text"),
    ImportColumn("price", "Price", f"numeric({PRICE_MAX_DIGITS}, {PRICE_DECIMAL_PLACES})", empty=NULL, parse=parse_price),
)
IMPORT_COLUMN_NAMES = tuple(column.name for column in IMPORT_COLUMNS)
REQUIRED_COLUMN_NAMES = tuple(column.name for column in IMPORT_COLUMNS if column.required)
