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

End to end (bench/import_benchmark.py, 500k rows, 2 cores, medians of 3, 23 Nov 2026, three
runs of the benchmark an hour apart): bare COPY 0.55-0.63 s; fresh import 2.67-3.25 s (4.9x,
5.0x and 5.2x the COPY of the same run; two later runs: COPY 0.41 s, import 2.5 s, 6.1x: the
two do not speed up and slow down together, and the 5x goal is not reliably met), re-import of
the same file 2.93-3.45 s (5.0-5.4x), every row changed 6.2-7.6 s (11-12x); peak RSS 134-135
MB fresh, 143-146 MB when every row goes through the merge, 135 MB for 2M rows (before malloc's
mmap threshold was fixed: see pipeline._InterpreterTuning). A fresh import
is bound by the two cores: PostgreSQL spends 2.0-2.5 s of CPU on it (the COPY of 485k new
products into the table and its two indexes alone is 1.6-1.8 s, 4x the bare COPY; the unique
index's inserts are half of that) and the parser's thread 2.1-2.3 s (1.6 s when it runs alone:
the rest is lost to sharing the cores and handing the GIL back and forth). When every row
changes, each UPDATE writes a new row version and entries in both indexes: ~320 ms and 36 MB
of WAL per 50k rows, 3.2 s (8x) before any lookup.

Tried and dropped: looking keys up first from Python with a 50k-element array (185-215 ms a
batch); formatting rows in the importing thread (psycopg's write_row) instead of the parser
thread (it then competes with the parser for the GIL while the database waits); a GIL switch
interval of 0.1 ms instead of 0.5 ms (no difference); two batches queued ahead of the writer
instead of one (no difference); 25k-row batches (0.2 s slower); the SKU filter's Python loop
written as map() chains (twice as slow). Measured but not built: the parser in a forked process
instead of a thread, 3.32 -> 3.01 s (5 interleaved runs); forking a worker that runs threads
risks deadlocks, and a spawned process would need Django and the file's storage of its own.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter

import psycopg

from django.db import IntegrityError, OperationalError, connection, transaction

from imports.parsing import NO_PRICE
from products.events import product_event_data
from products.models import Product
from webhooks import events, selectors, services

STAGING_TABLE = "import_staging"
# What a new product gets from the file (description '' and price NULL when the file lacks them).
NEW_COLUMNS = "sku, name, description, price"
PRODUCT_FIELDS = itemgetter(0, 1, 2, 3)  # of a parser's row: the NEW_COLUMNS, without the line
COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
# The unique index's expression (products.models.sku_key); batches sort by it too, so that
# concurrent imports lock keys in the same sequence. Byte order compares without strcoll()
# (a 50k-row sort: 47 -> 32 ms under this database's C.UTF-8).
KEY = 'lower(sku) COLLATE "C"'
KEY_OF_P = 'lower(p.sku) COLLATE "C"'



@dataclass(frozen=True)
class MergeResult:
    created: int
    products: list[Product] | None  # the merged products, only when someone listens for them
    created_ids: frozenset = frozenset()


def copy_payload(rows: list[tuple], order: list[int], *, lines: bool) -> bytes:
    """The parser's rows in COPY's text format, in `order`, with their line last for the
    staging table or without it for products_append(); built in the parsing thread, so it
    overlaps the database.

    The rows are already the fields as text, so joining them runs in C; each row's text is
    built in file order and only then put in order, which reads memory in sequence (50,000
    rows: 27 ms; a join per row written in Python took 63 ms, csv.writer 85 ms). Only a field
    holding a tab, newline, CR or backslash needs escaping, which the separators' count
    reveals; then the batch is built again with every field escaped.
    """
    if not rows:
        return b""
    text = _copy_text(rows, order, lines)
    tabs = len(rows) * (4 if lines else 3)
    no_prices = list(map(itemgetter(3), rows)).count(NO_PRICE)  # COPY's \N: the only backslashes expected
    if (text.count("\t"), text.count("\n"), text.count("\\"), "\r" in text) != (tabs, len(rows), no_prices, False):
        text = _copy_text(_escaped(rows), order, lines)
    return text.encode()


def _copy_text(rows: list[tuple], order: list[int], lines: bool) -> str:
    texts = list(map("\t".join, rows if lines else map(PRODUCT_FIELDS, rows)))
    return "\n".join(map(texts.__getitem__, order)) + "\n"


def _escaped(rows: list[tuple]) -> list[tuple]:
    table = COPY_ESCAPES
    return [
        (sku.translate(table), name.translate(table), description.translate(table), price, line)
        for sku, name, description, price, line in rows
    ]


def staging_payload(append_payload: bytes, lines: Sequence[str]) -> bytes:
    """An append payload in the staging table's format: each row followed by its line in the
    file. (COPY escapes a newline inside a field as a backslash and n: real newlines end rows.)"""
    return b"".join(row + b"\t" + line.encode() + b"\n" for row, line in zip(append_payload.split(b"\n"), lines))


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
        return MergeResult(created=rows[0][0], products=None)
    products = [Product(*row[:-1]) for row in rows]  # fields in model order, then `inserted`
    created_ids = frozenset(row[0] for row in rows if row[-1])
    return MergeResult(created=len(created_ids), products=products, created_ids=created_ids)


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
    product_columns = "id, sku, name, description, price, active, created_at, updated_at"
    return (
        f"SELECT {product_columns}, true FROM created UNION ALL SELECT {product_columns}, false FROM changed"
    )


def products_changed_subscribed() -> bool:
    return selectors.event_has_subscribers(events.PRODUCT_CREATED) or selectors.event_has_subscribers(
        events.PRODUCT_UPDATED
    )


def products_changed_emit(*, result: MergeResult) -> None:
    """Queue product.created / product.updated events for one merged batch, in its transaction."""
    created = [product for product in result.products if product.id in result.created_ids]
    updated = [product for product in result.products if product.id not in result.created_ids]
    for event_type, products in ((events.PRODUCT_CREATED, created), (events.PRODUCT_UPDATED, updated)):
        if not products or not selectors.event_has_subscribers(event_type):
            continue
        for start in range(0, len(products), events.PRODUCTS_PER_EVENT):
            chunk = products[start : start + events.PRODUCTS_PER_EVENT]
            services.emit(event_type, {"products": [product_event_data(product) for product in chunk]})
