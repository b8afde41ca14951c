"""The catalogue as CSV, streamed by PostgreSQL: `COPY (SELECT ...) TO STDOUT` read through
psycopg's copy, so memory stays flat at millions of rows and the file re-imports as it is."""

from collections.abc import Iterator

from django.db import connection

from products.selectors import ProductFilters, product_filter

# The importer's columns, then `active`, which it knows and leaves alone (imports.parsing).
EXPORT_COLUMNS = ("sku", "name", "description", "price", "active")
# PostgreSQL sends one message per row; handing each to the web server as its own write would
# cost a system call per row.
CHUNK_BYTES = 256 * 1024


def product_export_csv(*, filters: ProductFilters) -> Iterator[bytes]:
    """The filtered products in id order as CSV with a header, in chunks of about CHUNK_BYTES."""
    rows = product_filter(filters=filters).order_by("id").values_list(*EXPORT_COLUMNS)
    sql, params = rows.query.sql_with_params()
    statement = f"COPY ({connection.ops.compose_sql(sql, params)}) TO STDOUT WITH (FORMAT csv, HEADER)"
    with connection.cursor() as cursor, cursor.copy(statement) as copy:
        buffer = bytearray()
        for data in copy:
            buffer += data
            if len(buffer) >= CHUNK_BYTES:
                yield bytes(buffer)
                buffer.clear()
        if buffer:
            yield bytes(buffer)
