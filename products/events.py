"""The shape of a product in webhook payloads (`data.products` of product.* events): built from
a Product, or as JSON text from rows of values, which PostgreSQL gives for the products an
import merges. The products an import appends are announced with the COPY text that created
them instead (product_rows_events): their event keeps that text, compressed by the import's
parser process (this module needs no Django), and the JSON is rendered from it when the event is
read, by the same renderer (product_events_json)."""

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import lz4.frame

from products.columns import COPY_ESCAPES, IMPORT_COLUMN_NAMES, IMPORT_COLUMNS, NULL, ImportColumn
from webhooks.events import PRODUCTS_PER_EVENT

if TYPE_CHECKING:
    from products.models import Product

EVENT_FIELDS = ("id", "sku", "name", "description", "price", "active", "created_at", "updated_at")
# Timestamps are ISO 8601 in UTC, always with microseconds: the same text from Python and SQL.
_SQL_TIMESTAMP_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'
_ENCODE = json.encoder.encode_basestring_ascii  # what json.dumps() writes for a str
_PRODUCT_JSON = "{{" + ",".join(f'"{field}":{{}}' for field in EVENT_FIELDS) + "}}"
_BOOLEAN_JSON = {True: "true", False: "false"}
# COPY text's escapes, undone: each escaped character by the one it stands for.
_COPY_ESCAPED = re.compile(r"\\(.)", re.DOTALL)
_COPY_UNESCAPES = {escaped[1]: plain for plain, escaped in COPY_ESCAPES.items()}
# Up to an event's worth of COPY text lines, each with its newline.
_EVENT_LINES = re.compile(rb"(?:[^\n]*\n){1,%d}" % PRODUCTS_PER_EVENT)


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


def product_events_json(products: Sequence[tuple]) -> bytes:
    """The `data` of an event announcing `products`, rows of product_event_columns_sql(): the
    bytes emit() writes for {"products": [product_event_data(product), ...]}. Column by column,
    joined in C: an import announces up to a million products, and every delivery renders one
    event's."""
    return _products_json(*zip(*products))


def _products_json(ids, skus, names, descriptions, prices, actives, created, updated) -> bytes:
    """product_events_json() of the products' EVENT_FIELDS, a sequence of values each."""
    columns = [
        map(str, ids), map(_ENCODE, skus), map(_ENCODE, names), map(_ENCODE, descriptions),
        ["null" if price is None else _ENCODE(price) for price in prices],
        map(_BOOLEAN_JSON.__getitem__, actives), map(_ENCODE, created), map(_ENCODE, updated),
    ]
    return ('{"products":[' + ",".join(map(_PRODUCT_JSON.format, *columns)) + "]}").encode()


def product_rows_events(rows: bytes) -> list[bytes]:
    """The products of the COPY text `rows` (the columns of products.columns.IMPORT_COLUMNS, one
    product a line) as the product.created events announcing them keep them: PRODUCTS_PER_EVENT
    lines to an event, each piece an LZ4 frame. Without Django: the import's parser process
    makes them, on its own core."""
    return [lz4.frame.compress(lines) for lines in _EVENT_LINES.findall(rows)]


def product_rows_kept(rows: bytes, *, first_id: int, created_at: str) -> bytes:
    """An item of product_rows_events() with what else its event needs once the products exist:
    the first one's id (the others' follow in order) and when they were created (as
    product_event_timestamp_sql() writes it)."""
    return b"%d\t%s\n%s" % (first_id, created_at.encode(), rows)


def product_rows_json(kept: bytes) -> bytes:
    """product_events_json() of the products a product_rows_kept() event keeps, as they were
    appended: active, and last updated when created."""
    head, _, frame = kept.partition(b"\n")
    first_id, created_at = head.decode().split("\t")
    rows = [line.split("\t") for line in lz4.frame.decompress(frame).decode().split("\n")[:-1]]
    values = dict(zip(IMPORT_COLUMN_NAMES, map(_copy_values, IMPORT_COLUMNS, zip(*rows))))
    count = len(rows)
    values.update(
        id=range(int(first_id), int(first_id) + count), active=[True] * count,
        created_at=[created_at] * count, updated_at=[created_at] * count,
    )
    return _products_json(*(values[field] for field in EVENT_FIELDS))


def _copy_values(column: ImportColumn, texts: Sequence[str]) -> list[str | None]:
    """A column's values from their COPY text: unescaped, None for NULL."""
    nullable = column.empty == NULL
    return [
        None if nullable and text == NULL else _COPY_ESCAPED.sub(_copy_unescaped, text) if "\\" in text else text
        for text in texts
    ]


def _copy_unescaped(match: re.Match) -> str:
    return _COPY_UNESCAPES[match[1]]
