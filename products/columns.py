"""The product columns a CSV import reads and writes, declared once.

The import's parser checks cells with these specs, its payloads carry them in this order, and
the products app builds its staging table and merge statements from them. Plain Python without
Django, so the parser process uses it without loading Django. Adding a column means a spec here,
the field on Product and its migration.
"""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from products.limits import (
    NAME_MAX_LENGTH,
    NAME_REQUIRED_MESSAGE,
    NAME_TOO_LONG_MESSAGE,
    PRICE_DECIMAL_PLACES,
    PRICE_DECIMALS_MESSAGE,
    PRICE_INVALID_MESSAGE,
    PRICE_MAX_DIGITS,
    PRICE_NEGATIVE_MESSAGE,
    PRICE_TOO_LARGE_MESSAGE,
    SKU_MAX_LENGTH,
    SKU_REQUIRED_MESSAGE,
    SKU_TOO_LONG_MESSAGE,
)

# COPY's marker for NULL, in the payloads' text format, and the escapes its text fields need.
NULL = "\\N"
COPY_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def parse_price(text: str) -> tuple[str | None, str]:
    """A price cell as COPY text, or None and why it is not a price."""
    try:
        price = Decimal(text)
    except InvalidOperation:
        return None, PRICE_INVALID_MESSAGE
    if not price.is_finite():
        return None, PRICE_INVALID_MESSAGE
    if price < 0:
        return None, PRICE_NEGATIVE_MESSAGE
    if price.adjusted() >= PRICE_MAX_DIGITS - PRICE_DECIMAL_PLACES:
        return None, PRICE_TOO_LARGE_MESSAGE
    cents = price.quantize(Decimal(1).scaleb(-PRICE_DECIMAL_PLACES))
    if cents != price:
        return None, PRICE_DECIMALS_MESSAGE
    # As PostgreSQL stores it, which has no negative zero: product events show this text.
    return str(abs(cents)), ""


@dataclass(frozen=True)
class ImportColumn:
    """One column: its header name, its type in the staging table, and how a (stripped) cell
    becomes COPY text, with the messages of products.limits when it cannot. `empty` is the text of an empty cell, and of every cell
    of an optional column the file lacks (a new product then gets it; an existing one keeps its
    value). `parse` returns (text, "") or (None, message); without it the cell is text."""

    name: str
    sql_type: str
    required: bool = False
    required_message: str = ""
    max_length: int | None = None
    too_long_message: str = ""
    empty: str = ""
    parse: Callable[[str], tuple[str | None, str]] | None = None


IMPORT_COLUMNS = (
    ImportColumn(
        "sku", "text", required=True, required_message=SKU_REQUIRED_MESSAGE,
        max_length=SKU_MAX_LENGTH, too_long_message=SKU_TOO_LONG_MESSAGE,
    ),
    ImportColumn(
        "name", "text", required=True, required_message=NAME_REQUIRED_MESSAGE,
        max_length=NAME_MAX_LENGTH, too_long_message=NAME_TOO_LONG_MESSAGE,
    ),
    ImportColumn("description", "text"),
    ImportColumn("price", f"numeric({PRICE_MAX_DIGITS}, {PRICE_DECIMAL_PLACES})", empty=NULL, parse=parse_price),
)
IMPORT_COLUMN_NAMES = tuple(column.name for column in IMPORT_COLUMNS)
REQUIRED_COLUMN_NAMES = tuple(column.name for column in IMPORT_COLUMNS if column.required)
