"""Bulk writes of products for the CSV import, a batch at a time in the caller's transaction.

A batch arrives as COPY text in the columns of products.columns.IMPORT_COLUMNS. SKUs the
import has not met before are COPYed straight into the table (products_bulk_append): no
staging table, no lookup per key, only the unique index's check. The others go through a
staging table and one merge that updates only the products that change (products_bulk_merge).
Every statement here is built from IMPORT_COLUMNS and sku_key(). Measurements and the choices
they led to: docs/performance.md.
"""

from dataclasses import dataclass
from functools import cache

import psycopg
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models.expressions import Col
from django.db.models.sql import Query

from products.columns import IMPORT_COLUMN_NAMES, IMPORT_COLUMNS
from products.events import product_event_columns_sql, product_event_data_from_row
from products.models import Product, sku_key
from products.services import products_announce
from webhooks import events, selectors

TABLE = Product._meta.db_table
STAGING_TABLE = "import_staging"
STAGING_COLUMNS = ", ".join([*(f"{column.name} {column.sql_type}" for column in IMPORT_COLUMNS), "line integer"])
# What a new product gets from the file; the other columns take their database defaults.
NEW_COLUMNS = ", ".join(IMPORT_COLUMN_NAMES)


def _compiled(expression) -> str:
    sql, _params = expression.as_sql(Query(Product).get_compiler(connection=connection), connection)
    return sql


@cache
def _key(alias: str | None) -> str:
    """sku_key() of `alias`'s SKU as SQL: the unique index's expression, which batches also sort
    by, so that concurrent imports lock keys in the same sequence."""
    return _compiled(sku_key(Col(alias, Product._meta.get_field("sku"))))


@cache
def _conflict_target() -> str:
    """The unique index as ON CONFLICT's inference wants it: (expression) COLLATE collation."""
    key = sku_key(Col(None, Product._meta.get_field("sku")))
    return f"({_compiled(key.get_source_expressions()[0])}) COLLATE {connection.ops.quote_name(key.collation)}"


@dataclass(frozen=True)
class MergeResult:
    created: int
    # Only when someone listens for them: the created and the changed products, as rows of
    # product_event_columns_sql() (turned into dicts 1,000 at a time, as they are announced).
    created_products: list[tuple] | None = None
    changed_products: list[tuple] | None = None


def products_bulk_append(*, payload: bytes) -> bool:
    """COPY products whose SKUs should all be new straight into the catalogue; False, with
    nothing written, when one exists after all (then the caller merges them instead). It runs
    in a savepoint, so a failure leaves the caller's transaction usable."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            with cursor.cursor.copy(f"COPY {TABLE} ({NEW_COLUMNS}) FROM STDIN") as copy:
                copy.write(payload)
    except (psycopg.errors.UniqueViolation, psycopg.errors.DeadlockDetected):
        # Created meanwhile by a concurrent import or a staff member, or a key that only
        # PostgreSQL's lower() makes equal to one from an earlier batch.
        return False
    return True


def products_bulk_merge(*, payload: bytes, columns: set[str], with_products: bool) -> MergeResult:
    """Upsert one batch (COPY text with each row's line last); the last row of a SKU (any case) wins.

    `columns` are the columns the file has: a file without `price` keeps prices. Products whose
    values would not change are not written (no new row version, no `updated_at` bump, no
    product.updated event). `active` is never written by an import.
    """
    fields = [column.name for column in IMPORT_COLUMNS if column.required or column.name in columns]
    with connection.cursor() as cursor:
        cursor.execute(  # one round trip
            "SET LOCAL work_mem = '64MB';"  # sort a batch in memory, not on disk
            f" CREATE TEMP TABLE IF NOT EXISTS {STAGING_TABLE} ({STAGING_COLUMNS});"
            f" TRUNCATE {STAGING_TABLE}"
        )
        with cursor.cursor.copy(f"COPY {STAGING_TABLE} ({NEW_COLUMNS}, line) FROM STDIN") as copy:
            copy.write(payload)
        try:
            with transaction.atomic():
                cursor.execute(_split_merge_sql(fields, with_products))
                rows = cursor.fetchall()
        except (IntegrityError, OperationalError):
            # Another import created one of our new SKUs since we looked (unique violation) or
            # locked our rows in another order (deadlock): the single ON CONFLICT statement,
            # which locks in key order, handles both.
            cursor.execute(_upsert_sql(fields, with_products))
            rows = cursor.fetchall()
    if not with_products:
        return MergeResult(created=rows[0][0])
    created = [row[:-1] for row in rows if row[-1]]  # the event data, then `inserted`
    changed = [row[:-1] for row in rows if not row[-1]]
    return MergeResult(created=len(created), created_products=created, changed_products=changed)


def _latest_rows_sql() -> str:
    """The batch with one row per key, the file's last; DISTINCT ON collapses duplicates (an
    ON CONFLICT may touch a row only once) and sorts by key, so rows are locked in key order."""
    key = _key(STAGING_TABLE)
    return f"SELECT DISTINCT ON ({key}) {NEW_COLUMNS} FROM {STAGING_TABLE} ORDER BY {key}, line DESC"


def _changed_sql(fields: list[str], old: str, new: str) -> str:
    return f"({', '.join(f'{old}.{f}' for f in fields)}) IS DISTINCT FROM ({', '.join(f'{new}.{f}' for f in fields)})"


def _split_merge_sql(fields: list[str], with_products: bool) -> str:
    """The fast path: look every key up once, UPDATE the products that change, plain INSERT the
    new ones. A plain INSERT skips ON CONFLICT's speculative insertion, and an UPDATE with a
    WHERE does not lock unchanged rows, which ON CONFLICT DO UPDATE … WHERE does. The lookup
    fetches the stored values too, so an unchanged product costs one index probe, not two."""
    return f"""
        WITH batch AS MATERIALIZED (
            SELECT latest.*, p.id AS product_id, p.id IS NOT NULL AND {_changed_sql(fields, "p", "latest")} AS changed
            FROM ({_latest_rows_sql()}) latest
            LEFT JOIN LATERAL (
                SELECT p.id, {", ".join(fields)} FROM {TABLE} p WHERE {_key("p")} = {_key("latest")}
            ) p ON true
        ), changed AS (
            UPDATE {TABLE} p
            SET {", ".join(f"{f} = b.{f}" for f in fields)}, updated_at = now()
            FROM batch b
            WHERE b.changed AND p.id = b.product_id AND {_changed_sql(fields, "p", "b")}
            RETURNING p.*
        ), created AS (
            INSERT INTO {TABLE} ({NEW_COLUMNS}, active, created_at, updated_at)
            SELECT {NEW_COLUMNS}, true, now(), now() FROM batch WHERE product_id IS NULL ORDER BY {_key("batch")}
            RETURNING *
        )
        {_returning_sql(with_products)}
    """


def _upsert_sql(fields: list[str], with_products: bool) -> str:
    return f"""
        WITH merged AS (
            INSERT INTO {TABLE} AS p ({NEW_COLUMNS}, active, created_at, updated_at)
            SELECT {NEW_COLUMNS}, true, now(), now() FROM ({_latest_rows_sql()}) latest
            ON CONFLICT ({_conflict_target()}) DO UPDATE
            SET {", ".join(f"{f} = EXCLUDED.{f}" for f in fields)}, updated_at = now()
            WHERE {_changed_sql(fields, "p", "EXCLUDED")}
            RETURNING p.*, (xmax = 0) AS inserted
        ), created AS (SELECT * FROM merged WHERE inserted), changed AS (SELECT * FROM merged WHERE NOT inserted)
        {_returning_sql(with_products)}
    """


def _returning_sql(with_products: bool) -> str:
    if not with_products:
        return "SELECT count(*) FROM created"
    return (
        f"SELECT {product_event_columns_sql('created')}, true FROM created"
        f" UNION ALL SELECT {product_event_columns_sql('changed')}, false FROM changed"
    )


def products_bulk_subscribed() -> set[str]:
    """The product event types (created, updated) someone listens for: one query per batch."""
    return selectors.event_types_subscribed(events.PRODUCT_CREATED, events.PRODUCT_UPDATED)


def products_bulk_announce(*, result: MergeResult, subscribed: set[str]) -> None:
    """Queue product.created / product.updated events for one merged batch, in its transaction."""
    announced = ((events.PRODUCT_CREATED, result.created_products), (events.PRODUCT_UPDATED, result.changed_products))
    for event_type, products in announced:
        if products and event_type in subscribed:
            products_announce(event_type, products, data=product_event_data_from_row)
