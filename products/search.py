"""Writes of the search rows (ProductSearch) the list's SKU, name and description filters read.

Staff edits index their product in their own transaction, so it is searchable at once. Imports
do not: indexing 500k rows as they are written would cost the import more than the rest of it
(docs/performance.md), so an import that ends asks for a catch-up, which a worker runs in bulk.
A search row is stale when its `updated_at` differs from its product's; a product changed
while a catch-up runs is just stale again, and the next pass picks it up.
"""

import pglock
from django.db import IntegrityError, connection, transaction

from config import locks
from products.models import DESCRIPTION_SEARCH_CONFIG, Product, ProductSearch, ProductSearchCatchUp

# Ids per catch-up transaction: short enough not to hold back a "delete all" (its TRUNCATE
# waits for open transactions), long enough that the per-statement cost does not count.
CATCH_UP_CHUNK = 50_000
# A chunk fails when a product it read is deleted before it commits (the search row's foreign
# key) or a staff edit indexes one of its products first (the unique product_id); read again,
# the product is gone or indexed. Only a storm of edits would fail this many times.
CATCH_UP_CHUNK_ATTEMPTS = 5

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
            if not found and _catch_up_request_clear(requested_before=pass_started_at):
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
    """Index the stale products among the next CATCH_UP_CHUNK ids from `start`; returns how
    many and where the next chunk starts (None after the last product)."""
    with transaction.atomic(), connection.cursor() as cursor:
        # Products first, as every other writer locks them (a "delete all" truncates both
        # tables in that order): the INSERT alone would lock the search table first.
        cursor.execute(f"LOCK TABLE {Product._meta.db_table} IN ACCESS SHARE MODE")
        cursor.execute(f"SELECT min(id), max(id) FROM {Product._meta.db_table} WHERE id >= %s", [start])
        first, last = cursor.fetchone()
        if first is None:
            return 0, None
        end = first + CATCH_UP_CHUNK
        cursor.execute(_STALE_UPDATE_SQL, {"first": first, "end": end})
        found = cursor.rowcount
        cursor.execute(_MISSING_INSERT_SQL, {"first": first, "end": end})
        found += cursor.rowcount
    return found, (end if end <= last else None)


def _pending_entries_merge() -> None:
    """Merge the search indexes' pending entries now rather than at the next autovacuum: until
    then every search reads them one by one."""
    with connection.cursor() as cursor:
        for index in ProductSearch._meta.indexes:
            cursor.execute("SELECT gin_clean_pending_list(%s::regclass)", [index.name])


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
