"""Write parsed product rows into the catalogue: SKUs new to the import by COPY straight into
products_product (products_append), the others through a staging table and one merge
(products_merge).

Measured for the issue (500k rows of name,sku,description, median of 3, PostgreSQL 15, fsync
on): bare COPY into a table without indexes 1.6 s; COPY into the indexed table 5.7 s; psycopg 3
COPY into a temporary staging table + INSERT … SELECT DISTINCT ON (key) … ON CONFLICT (key) DO
UPDATE 7–9 s (11–13 s when every row is an update); Django bulk_create(update_conflicts=True) in
batches of 1,000–5,000: 43–50 s; per-row update_or_create: about 25 minutes. Single-product
edits keep using the ORM.

Measured again for the merge (whole file in one statement, psql, same machine): bare COPY
0.35–0.55 s; INSERT … ON CONFLICT DO UPDATE of 485k new keys 3.45 s, of 485k existing keys
5.4 s; the same with `DO UPDATE … WHERE <changed>` still 2.4 s when nothing changes (it locks
every row); a plain INSERT … WHERE NOT EXISTS 2.0–2.3 s; UPDATE … WHERE <changed> with nothing
to change 0.7 s. Hence the merge's split, with ON CONFLICT kept as the fallback. For SKUs that
no earlier batch had, the staging table and the lookup are pure cost when the catalogue lacks
them too: COPY straight into products_product skips both, and a unique violation (the SKU
existed after all) rolls its savepoint back and sends the batch through the merge.

End to end (bench/import_benchmark.py, 500k rows, 2 cores, medians of 3, 23 Nov 2026, the
parser in a process of its own (imports.parser_process), 30k-row batches): see the README for
the figures. The floor of a fresh import is the COPY of its new products into products_product
and its two indexes: 1.4 s for 485k rows alone (3.6x the bare COPY of 0.38-0.41 s in the same
runs: 0.4 s the table, 0.3 s the primary key, 0.7 s the unique key). The rest is the merge of
the ~15k SKUs that repeat across batches (0.14-0.24 s), the batches' commits and progress, and
the first batch's parse. When every row changes, each UPDATE writes a new row version and
entries in both indexes: ~320 ms and 36 MB of WAL per 50k rows, 3.2 s (8x) before any lookup.

Tried and dropped: looking keys up first from Python with a 50k-element array (185-215 ms a
batch); formatting rows in the importing process (psycopg's write_row) instead of the parser
(it then runs between the database's statements instead of beside them); the parser in a
thread of the importing process instead of a process (see parser_process); the SKU
filter's Python loop written as map() chains (twice as slow); freeing a batch's row objects
before joining their text (11 MB less allocated at the peak, the same peak RSS, and slower);
COPY in binary format instead of text (the same 1.5-1.8 s into the indexed table); the parser
process at a lower CPU priority (no difference).
"""

from dataclasses import dataclass

import psycopg

from django.db import IntegrityError, OperationalError, connection, transaction

from products.events import product_event_columns_sql, product_event_data_from_row
from products.services import products_announce
from webhooks import events, selectors

STAGING_TABLE = "import_staging"
# What a new product gets from the file (description '' and price NULL when the file lacks them).
NEW_COLUMNS = "sku, name, description, price"
# The unique index's expression (products.models.sku_key); batches sort by it too, so that
# concurrent imports lock keys in the same sequence. Byte order compares without strcoll()
# (a 50k-row sort: 47 -> 32 ms under this database's C.UTF-8).
KEY = 'lower(sku) COLLATE "C"'
KEY_OF_P = 'lower(p.sku) COLLATE "C"'


@dataclass(frozen=True)
class MergeResult:
    created: int
    # Only when someone listens for them: the created and the changed products, as rows of
    # product_event_columns_sql() (turned into dicts 1,000 at a time, as they are announced).
    created_products: list[tuple] | None = None
    changed_products: list[tuple] | None = None


def products_append(*, payload: bytes) -> bool:
    """COPY products whose SKUs should all be new straight into the catalogue; False, with
    nothing written, when one exists after all (then the caller merges them instead).

    For an import's new SKUs this is the cheapest write there is: no staging table, no lookup
    per key, only the unique index's own check. Columns left out take their database defaults
    (active, created_at, updated_at). It runs in a savepoint, so a failure leaves the caller's
    transaction usable.
    """
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            with cursor.cursor.copy(f"COPY products_product ({NEW_COLUMNS}) FROM STDIN") as copy:
                copy.write(payload)
    except (psycopg.errors.UniqueViolation, psycopg.errors.DeadlockDetected):
        # Created meanwhile by a concurrent import or a staff member, or a key that only
        # PostgreSQL's lower() makes equal to one from an earlier batch.
        return False
    return True


def products_merge(*, payload: bytes, columns: set[str], with_products: bool) -> MergeResult:
    """Upsert one batch in the caller's transaction; the last row of a SKU (any case) wins.

    `columns` are the optional columns the file has: a file without `price` keeps prices.
    Products whose values would not change are not written (no new row version, no
    `updated_at` bump, no product.updated event). `active` is never written by an import.
    """
    fields = ["sku", "name", *sorted(columns & {"description", "price"})]
    with connection.cursor() as cursor:
        cursor.execute(  # one round trip
            "SET LOCAL work_mem = '64MB';"  # sort a batch in memory, not on disk
            f" CREATE TEMP TABLE IF NOT EXISTS {STAGING_TABLE}"
            " (sku text, name text, description text, price numeric(12, 2), line integer);"
            f" TRUNCATE {STAGING_TABLE}"
        )
        with cursor.cursor.copy(f"COPY {STAGING_TABLE} (sku, name, description, price, line) FROM STDIN") as copy:
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
    return (
        f"SELECT DISTINCT ON ({KEY}) {NEW_COLUMNS} FROM {STAGING_TABLE} ORDER BY {KEY}, line DESC"
    )


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
                SELECT p.id, {", ".join(fields)} FROM products_product p WHERE {KEY_OF_P} = lower(latest.sku)
            ) p ON true
        ), changed AS (
            UPDATE products_product p
            SET {", ".join(f"{f} = b.{f}" for f in fields)}, updated_at = now()
            FROM batch b
            WHERE b.changed AND p.id = b.product_id AND {_changed_sql(fields, "p", "b")}
            RETURNING p.*
        ), created AS (
            INSERT INTO products_product ({NEW_COLUMNS}, active, created_at, updated_at)
            SELECT {NEW_COLUMNS}, true, now(), now() FROM batch WHERE product_id IS NULL ORDER BY {KEY}
            RETURNING *
        )
        {_returning_sql(with_products)}
    """


def _upsert_sql(fields: list[str], with_products: bool) -> str:
    return f"""
        WITH merged AS (
            INSERT INTO products_product AS p ({NEW_COLUMNS}, active, created_at, updated_at)
            SELECT {NEW_COLUMNS}, true, now(), now() FROM ({_latest_rows_sql()}) latest
            ON CONFLICT ((lower(sku)) COLLATE "C") DO UPDATE  -- the unique index, as inference wants it
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


def products_changed_subscribed() -> bool:
    return selectors.event_has_subscribers(events.PRODUCT_CREATED, events.PRODUCT_UPDATED)


def products_changed_emit(*, result: MergeResult) -> None:
    """Queue product.created / product.updated events for one merged batch, in its transaction."""
    announced = ((events.PRODUCT_CREATED, result.created_products), (events.PRODUCT_UPDATED, result.changed_products))
    for event_type, products in announced:
        if products and selectors.event_has_subscribers(event_type):
            products_announce(event_type, products, data=product_event_data_from_row)
