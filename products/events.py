"""The shape of a product in webhook payloads (`data.products` of product.* events): built from
a Product, by PostgreSQL in the statement that merges an import's products, or as JSON text for
the products an import appends. Without Django, so the import's parser process renders with it."""

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import TYPE_CHECKING

from products.columns import IMPORT_COLUMN_NAMES, IMPORT_COLUMNS, NULL
from webhooks.events import PRODUCTS_PER_EVENT

if TYPE_CHECKING:
    from products.models import Product

EVENT_FIELDS = ("id", "sku", "name", "description", "price", "active", "created_at", "updated_at")
# Timestamps are ISO 8601 in UTC, always with microseconds: the same text from Python and SQL.
_SQL_TIMESTAMP_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'
# A new product's JSON between its id and its timestamps: the imported columns, each a string or
# null as product_event_data() gives them, and `active`, true by default (Product.active).
_NEW_FIELDS = EVENT_FIELDS[1 : EVENT_FIELDS.index("active")]
_NEW_TEMPLATE = "".join(f',"{field}":{{}}' for field in _NEW_FIELDS) + ',"active":true'
# Where a new product's timestamps go: a NUL, which JSON text never holds unescaped.
_MOMENT = "\0"
_NEW_END = f',"created_at":"{_MOMENT}","updated_at":"{_MOMENT}"}}]}}'
_NEW_BETWEEN = f',"created_at":"{_MOMENT}","updated_at":"{_MOMENT}"}},{{"id":%s'
_NEW_VALUES = [(IMPORT_COLUMN_NAMES.index(field), IMPORT_COLUMNS[IMPORT_COLUMN_NAMES.index(field)].empty == NULL)
               for field in _NEW_FIELDS]


def product_event_data(product: "Product") -> dict:
    return {
        "id": product.id,
        "sku": product.sku,
        "name": product.name,
        "description": product.description,
        "price": None if product.price is None else str(product.price),
        "active": product.active,
        "created_at": _timestamp(product.created_at),
        "updated_at": _timestamp(product.updated_at),
    }


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def product_event_timestamp_sql(expression: str) -> str:
    """The timestamptz `expression` as SQL text, formatted as product_event_data() formats it."""
    return f"to_char({expression} AT TIME ZONE 'UTC', '{_SQL_TIMESTAMP_FORMAT}')"


def product_event_columns_sql(table: str) -> str:
    """The EVENT_FIELDS of `table`'s rows as SQL select items, formatted as product_event_data()
    formats them. Fetched so, a row needs no datetime parsing and no Product in Python."""
    return ", ".join(
        [
            *(f"{table}.{field}" for field in ("id", "sku", "name", "description")),
            f"{table}.price::text",
            f"{table}.active",
            product_event_timestamp_sql(f"{table}.created_at"),
            product_event_timestamp_sql(f"{table}.updated_at"),
        ]
    )


def product_event_data_from_row(row: tuple) -> dict:
    """A row of product_event_columns_sql() as product_event_data()."""
    return dict(zip(EVENT_FIELDS, row))


def product_event_templates(rows: Sequence[tuple]) -> list[bytes]:
    """The `data` of product.created events announcing these new products, PRODUCTS_PER_EVENT to
    an event, as %-format templates with a %s for each product's id and a _MOMENT for its
    created_at and updated_at, which the database gives them later (product_event_templates_fill,
    product_events_date). `rows` hold each imported column's COPY text (products.columns),
    unescaped. Column by column and joined in C: it runs in the import's parser process."""
    encode = json.encoder.encode_basestring_ascii  # what json.dumps() writes for a str
    columns = []
    for index, nullable in _NEW_VALUES:
        values = map(itemgetter(index), rows)
        columns.append([("null" if value == NULL else encode(value)) for value in values] if nullable
                       else list(map(encode, values)))
    products = list(map(_NEW_TEMPLATE.format, *columns))
    return [
        ('{"products":[{"id":%s' + "\n".join(products[start : start + PRODUCTS_PER_EVENT]).replace("%", "%%").replace(
            "\n", _NEW_BETWEEN) + _NEW_END).encode()
        for start in range(0, len(products), PRODUCTS_PER_EVENT)
    ]


def product_event_templates_fill(templates: Sequence[bytes], *, ids: Sequence[bytes]) -> list[bytes]:
    """product_event_templates() with these ids (as text), in order; still to be dated."""
    return [template % tuple(ids[i * PRODUCTS_PER_EVENT : (i + 1) * PRODUCTS_PER_EVENT])
            for i, template in enumerate(templates)]


def product_events_date(datas: list[bytes], *, moment: bytes) -> None:
    """Date product_event_templates_fill()'s events, in place, for products created at `moment`
    (as product_event_timestamp_sql() writes it): one event at a time, so that only one more
    event's bytes are alive at once."""
    marker = _MOMENT.encode()
    for index, data in enumerate(datas):
        datas[index] = data.replace(marker, moment)
