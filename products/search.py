"""Writes of the search rows (ProductSearch) the list's SKU, name and description filters read.

Staff edits index their product in their own transaction, so it is searchable at once. Imports
do not: indexing 500k rows as they are written would cost the import more than the rest of it
(docs/performance.md). Each import batch records the ids it took in the search backlog
(ProductSearchBacklog), whose products the filters read from the products table instead, and
an import that ends asks for a catch-up, which a worker runs in bulk. A search row is stale
when its `updated_at` differs from its product's; a product changed while a catch-up runs is
just stale again, and the next pass picks it up.
"""

import pglock
from django.contrib.postgres.indexes import BrinIndex, GinIndex
from django.db import IntegrityError, connection, transaction

from config import locks
from products.models import (
    DESCRIPTION_SEARCH_CONFIG,
    Product,
    ProductSearch,
    ProductSearchBacklog,
    ProductSearchCatchUp,
)

# Ids per catch-up transaction: short enough not to hold back a "delete all" (its TRUNCATE
# waits for open transactions), long enough that the per-statement cost does not count.
CATCH_UP_CHUNK = 50_000
# A chunk fails when a product it read is deleted before it commits (the search row's foreign
# key) or a staff edit indexes one of its products first (the unique product_id); read again,
# the product is gone or indexed. Only a storm of edits would fail this many times.
CATCH_UP_CHUNK_ATTEMPTS = 5
# The end of the last chunk of a pass: it indexes every product from its start on.
_NO_END = 2**63 - 1
# What a catch-up's end runs on each kind of search index rather than wait for autovacuum;
# other kinds need nothing.
INDEX_UPKEEP = {GinIndex: "gin_clean_pending_list", BrinIndex: "brin_summarize_new_values"}

_COLUMNS = "product_id, sku, name, description, active, updated_at"
# A search row's values, from its product `p`.
_VALUES = f"""
    p.id, lower(p.sku), lower(p.name), to_tsvector('{DESCRIPTION_SEARCH_CONFIG}'::regconfig, p.description),
    p.active, p.updated_at
"""
_SET_VALUES = "sku = {row}.sku, name = {row}.name, description = {row}.description, active = {row}.active, updated_at = {row}.updated_at"

# A few products, as staff edit them: one statement that also copes with a catch-up writing the
# same rows meanwhile.
_INDEX_SQL = f"""
    INSERT INTO {ProductSearch._meta.db_table} AS s ({_COLUMNS})
    SELECT {_VALUES} FROM {Product._meta.db_table} p WHERE p.id = ANY(%s)
    ON CONFLICT (product_id) DO UPDATE SET {_SET_VALUES.format(row="EXCLUDED")}
     WHERE s.updated_at IS DISTINCT FROM EXCLUDED.updated_at
"""
# A range of ids, in bulk: stale rows updated, missing ones inserted without ON CONFLICT (its
# speculative insertion and the anti-join made a 485k catch-up ~15% slower). The range goes on
# both tables: PostgreSQL does not carry it across a join, and would otherwise read every
# search row.
_RANGE = "{id} >= %(first)s AND {id} < %(end)s"
_STALE_UPDATE_SQL = f"""
    UPDATE {ProductSearch._meta.db_table} s SET {_SET_VALUES.format(row="fresh")}
      FROM (SELECT {_VALUES} FROM {Product._meta.db_table} p WHERE {_RANGE.format(id="p.id")}) fresh ({_COLUMNS})
     WHERE s.product_id = fresh.product_id AND s.updated_at <> fresh.updated_at AND {_RANGE.format(id="s.product_id")}
"""
_MISSING_INSERT_SQL = f"""
    INSERT INTO {ProductSearch._meta.db_table} ({_COLUMNS})
    SELECT {_VALUES} FROM {Product._meta.db_table} p
      LEFT JOIN {ProductSearch._meta.db_table} s ON s.product_id = p.id AND {_RANGE.format(id="s.product_id")}
     WHERE s.product_id IS NULL AND {_RANGE.format(id="p.id")}
"""


def product_search_index(*, product_ids: list[int]) -> int:
    """Index these few products now, in the caller's transaction; returns how many rows changed."""
    with connection.cursor() as cursor:
        cursor.execute(_INDEX_SQL, [list(product_ids)])
        return cursor.rowcount


def product_search_backlog_start() -> int:
    """Call before creating products in bulk on this connection; returns the id to pass to the
    first product_search_backlog_extend() (ids this session takes from now on are above it)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id'))", [Product._meta.db_table])
        return cursor.fetchone()[0]


def product_search_backlog_extend(*, after_id: int) -> int:
    """Record, in the caller's transaction, that products this session created after id
    `after_id` may have no search row yet; returns the id to pass next time.

    A session takes ids in increasing order (32 at a time, products migration 0006), so they all
    lie between `after_id` and the sequence's current value for this session; ids other
    sessions took in between are read from the products table too, which is only slower.
    """
    with connection.cursor() as cursor:
        cursor.execute(  # one round trip: an import calls this for every batch
            "WITH last AS (SELECT currval(pg_get_serial_sequence(%s, 'id')) AS id), recorded AS ("
            f" INSERT INTO {ProductSearchBacklog._meta.db_table} (first_id, last_id)"
            " SELECT %s, id FROM last WHERE id > %s"
            ") SELECT id FROM last",
            [Product._meta.db_table, after_id + 1, after_id],
        )
        return cursor.fetchone()[0]


def product_search_catch_up_soon() -> None:
    """Mark search as behind and run a catch-up once the current transaction commits."""
    from products.tasks import product_search_catch_up_task  # the task module imports this one

    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {ProductSearchCatchUp._meta.db_table} (id, requested_at) VALUES (1, now())"
            " ON CONFLICT (id) DO UPDATE SET requested_at = EXCLUDED.requested_at"
        )
    product_search_catch_up_task.delay_on_commit()


def product_search_catch_up() -> int:
    """Index every product whose search row is missing or stale; returns how many it indexed.

    Passes repeat until one finds nothing stale and no catch-up was asked for since it began,
    each id range in its own short transaction. Single-flight: while another run holds the lock
    this returns 0 at once, and that run sees this request (`_catch_up_request_clear`).
    """
    with pglock.advisory(locks.SEARCH_CATCH_UP, timeout=0) as acquired:
        if not acquired:
            return 0
        indexed = 0
        while True:
            with connection.cursor() as cursor:
                cursor.execute("SELECT clock_timestamp()")
                pass_started_at = cursor.fetchone()[0]
            found = _catch_up_pass()
            indexed += found
            # A pass forgets every backlog range there was when it began: one left was added
            # meanwhile, and its products may have been written behind the pass.
            if not found and _catch_up_request_clear(requested_before=pass_started_at) and not _backlog_exists():
                break
        if indexed:
            _pending_entries_merge()
        return indexed


def _catch_up_pass() -> int:
    """One pass over every product id, in chunks; returns how many search rows it wrote."""
    indexed = 0
    start = 0
    while start is not None:
        for attempt in range(1, CATCH_UP_CHUNK_ATTEMPTS + 1):
            try:
                found, start = _catch_up_chunk(start)
                break
            except IntegrityError:
                if attempt == CATCH_UP_CHUNK_ATTEMPTS:
                    raise
        indexed += found
    return indexed


def _catch_up_chunk(start: int) -> tuple[int, int | None]:
    """Index the stale products among the ids from `start` up to CATCH_UP_CHUNK past the first
    one (all of them in the last chunk), and forget those ids' backlog; returns how many it
    indexed and where the next chunk starts (None after the last product)."""
    with transaction.atomic(), connection.cursor() as cursor:
        # Products first, as every other writer locks them (a "delete all" truncates the
        # tables in that order): the INSERT alone would lock the search table first.
        cursor.execute(f"LOCK TABLE {Product._meta.db_table} IN ACCESS SHARE MODE")
        cursor.execute(f"SELECT min(id), max(id) FROM {Product._meta.db_table} WHERE id >= %s", [start])
        first, last = cursor.fetchone()
        end = first + CATCH_UP_CHUNK if first is not None and first + CATCH_UP_CHUNK <= last else _NO_END
        # Before the products are read: the products of every range forgotten here committed
        # with it, so the statements below, which see all that had committed when they began,
        # index them. A range that begins before `start` may have committed after the earlier
        # chunks read its first ids; it stays for the next pass.
        _backlog_forget(cursor, start=start, end=end)
        cursor.execute(_STALE_UPDATE_SQL, {"first": start, "end": end})
        found = cursor.rowcount
        cursor.execute(_MISSING_INSERT_SQL, {"first": start, "end": end})
        found += cursor.rowcount
    return found, (end if end != _NO_END else None)


def _backlog_forget(cursor, *, start: int, end: int) -> None:
    """Forget the backlog's ids from `start` to before `end`, of the ranges that begin there."""
    table = ProductSearchBacklog._meta.db_table
    cursor.execute(
        f"DELETE FROM {table} WHERE first_id >= %(start)s AND last_id < %(end)s;"
        f" UPDATE {table} SET first_id = %(end)s WHERE first_id >= %(start)s AND first_id < %(end)s",
        {"start": start, "end": end},
    )


def _backlog_exists() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT EXISTS (SELECT FROM {ProductSearchBacklog._meta.db_table})")
        return cursor.fetchone()[0]


def _pending_entries_merge() -> None:
    """Merge the search indexes' pending entries, and summarize the id index's new page ranges,
    now rather than at the next autovacuum: until then every search reads the entries one by
    one, and rechecks every row of the new pages."""
    with connection.cursor() as cursor:
        for index in ProductSearch._meta.indexes:
            if upkeep := INDEX_UPKEEP.get(type(index)):
                cursor.execute(f"SELECT {upkeep}(%s::regclass)", [index.name])


def _catch_up_request_clear(*, requested_before) -> bool:
    """Forget the catch-up request unless one came after `requested_before`; True when none is left.

    A request made after the pass began may be for rows that pass did not see.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {ProductSearchCatchUp._meta.db_table} WHERE requested_at <= %s", [requested_before]
        )
        cursor.execute(f"SELECT NOT EXISTS (SELECT FROM {ProductSearchCatchUp._meta.db_table})")
        return cursor.fetchone()[0]
