"""Bulk writes of products for the CSV import, a batch at a time in the caller's transaction.

A batch arrives as COPY text in the columns of products.columns.IMPORT_COLUMNS. SKUs the
import has not met before are COPYed straight into the table (products_bulk_append): no
staging table, no lookup per key, only the unique index's check. The others go through a
staging table and one merge that updates only the products that change (products_bulk_merge).
Every statement here is built from IMPORT_COLUMNS and sku_key(). Measurements and the choices
they led to: docs/performance.md.
"""

import contextlib
from dataclasses import dataclass
from datetime import datetime
from functools import cache

import psycopg
from django.db import DatabaseError, IntegrityError, OperationalError, connection, transaction
from django.db.models.expressions import Col
from django.db.models.sql import Query

from products.columns import IMPORT_COLUMN_NAMES, IMPORT_COLUMNS
from products.events import (
    product_event_columns_sql,
    product_event_timestamp_sql,
    product_events_json,
    product_rows_events,
    product_rows_kept,
)
from products.models import Product, sku_key
from webhooks import events, selectors
from webhooks.events import PRODUCTS_PER_EVENT
from webhooks.services import emit_products, emit_serialized

TABLE = Product._meta.db_table
STAGING_TABLE = "import_staging"
# Every row with its line in the file, which breaks ties between SKUs only PostgreSQL's lower()
# makes equal; `repeat` marks the rows of SKUs an earlier batch of the file had.
STAGING_COLUMNS = ", ".join(
    [
        *(f"{column.name} {column.sql_type}" for column in IMPORT_COLUMNS),
        "line integer",
        "repeat boolean",
    ]
)
# What each merged batch of an import changed, as arrays in one row (no cost per product):
# the products it changed that still held the values the import found, with those values
# hashed; and the repeats that changed products the import had written already, with their
# values hashed after and before. Read once, when the import ends (products_bulk_settle): a
# batch's cost does not grow with how far the import has got.
CHANGES_TABLE = "import_changes"
CHANGES_ARRAYS = ("product_ids", "originals", "repeat_ids", "incomings", "founds")
# Room for the temporary tables in memory: an import that changes 500k products remembers them
# all, which overflows the default 8MB and the merges then read and write its pages on disk.
TEMP_BUFFERS = "64MB"
# An import that changed more than this share of the products refreshes their statistics.
STALE_STATISTICS_SHARE = 0.1
# What ANALYZE refreshes after a big import: the row count always, and the statistics of the
# columns the list filters and pages by. Free text (name, description, the SKU's index) is
# most of a whole-table ANALYZE's time, and no plan of the list chooses by it.
ANALYZED_COLUMNS = ("id", "active", "price", "created_at", "updated_at")
# What a new product gets from the file; the other columns take their database defaults.
NEW_COLUMNS = ", ".join(IMPORT_COLUMN_NAMES)
# An announced append's ids are the sequence's values after the one this takes before its COPY
# (the rows get theirs from the column's default, in order), unless another session took some
# of them meanwhile, which the last id then shows.
SEQUENCE_SQL = f"pg_get_serial_sequence('{TABLE}', 'id')"
ID_BEFORE_SQL = f"SELECT nextval({SEQUENCE_SQL})"
# The last id and when the appended products were created, as their events say it: their
# timestamps are the COPY's (the columns' default, the statement's start), the same for every row.
ID_LAST_SQL = (
    f"SELECT id, {product_event_timestamp_sql('created_at')} FROM {TABLE} WHERE id = (SELECT currval({SEQUENCE_SQL}))"
)


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
    """What a merged batch did to the catalogue, row by staged row: each one created a product,
    updated or left unchanged an existing one, or was superseded by a later row of its SKU."""

    created: int
    updated: int
    unchanged: int
    duplicates: int
    # Repeats whose count products_bulk_settle() settles.
    unsettled: int
    # Only when someone listens for them: the created and the changed products, as rows of
    # product_event_columns_sql().
    created_products: list[tuple] | None = None
    changed_products: list[tuple] | None = None


def products_bulk_start() -> datetime:
    """Prepare this connection for an import's merges; returns when the import started (the
    products it creates are created later)."""
    with connection.cursor() as cursor:
        with contextlib.suppress(DatabaseError), transaction.atomic():
            # Refused once this session has used temporary tables with another size; harmless.
            cursor.execute(f"SET temp_buffers = '{TEMP_BUFFERS}'")
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {CHANGES_TABLE} (batch bigint GENERATED ALWAYS AS IDENTITY,"
            f" {', '.join(f'{array} bigint[]' for array in CHANGES_ARRAYS)});"
            # Out of line as they are: compressing a batch's arrays took longer than writing them.
            f" ALTER TABLE {CHANGES_TABLE} {', '.join(f'ALTER {array} SET STORAGE EXTERNAL' for array in CHANGES_ARRAYS)};"
            f" TRUNCATE {CHANGES_TABLE}"
        )
        cursor.execute("SELECT now()")
        return cursor.fetchone()[0]


class _IdsInterleaved(Exception):
    """Another session took ids among those of an announced append's rows."""


def products_bulk_append(
    *, payload: bytes, announce: list[int] | None = None, event_rows: list[bytes] | None = None
) -> bool:
    """COPY products whose SKUs should all be new straight into the catalogue; False, with
    nothing written, when they must be merged instead: one exists after all, or (announcing)
    another session took ids among theirs. It runs in a savepoint, so a failure leaves the
    caller's transaction usable.

    With `announce`, the endpoints subscribed to product.created (products_bulk_subscribers()),
    the products are announced to them in the caller's transaction: their events keep the
    payload's lines (`event_rows`: product_rows_events() of it, if the caller has them) with the
    ids and the creation time, without reading the rows back.
    """
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            if announce is not None:
                cursor.execute(ID_BEFORE_SQL)
                before = cursor.fetchone()[0]
            with cursor.cursor.copy(f"COPY {TABLE} ({NEW_COLUMNS}) FROM STDIN") as copy:
                copy.write(payload)
            if announce is not None:
                cursor.execute(ID_LAST_SQL)
                last, moment = cursor.fetchone()
                if last - before != payload.count(b"\n"):
                    raise _IdsInterleaved
    except (psycopg.errors.UniqueViolation, psycopg.errors.DeadlockDetected, _IdsInterleaved):
        # Created meanwhile by a concurrent import or a staff member, or a key that only
        # PostgreSQL's lower() makes equal to one from an earlier batch; or ids shared out
        # between sessions, which the merge's RETURNING gives back instead.
        return False
    if announce is not None:
        kept = [
            product_rows_kept(rows, first_id=before + 1 + index * PRODUCTS_PER_EVENT, created_at=moment)
            for index, rows in enumerate(product_rows_events(payload) if event_rows is None else event_rows)
        ]
        emit_products(events.PRODUCT_CREATED, kept, endpoint_ids=announce)
    return True


def products_bulk_merge(
    *,
    firsts: bytes,
    first_lines: str,
    repeats: bytes,
    repeats_at: list[int] | None,
    columns: set[str],
    with_products: bool,
    since: datetime,
) -> MergeResult:
    """Upsert one batch; the last row of a SKU (any case) wins. `firsts` are rows of SKUs new to
    the file, as products_bulk_append() takes them, with their lines apart (one per line of
    text); `repeats` rows of SKUs an earlier batch had, each followed by its line. Both come in
    key order; `repeats_at` says, when known, how many `firsts` come before each repeat, so that
    the batch is staged as one sorted run. `since` is products_bulk_start()'s answer for this
    import.

    `columns` are the columns the file has: a file without `price` keeps prices. Products whose
    values would not change are not written (no new row version, no `updated_at` bump, no
    product.updated event). `active` is never written by an import. A repeat of a product the
    import wrote already leaves its count as its earlier row left it, until products_bulk_settle().
    """
    fields = [column.name for column in IMPORT_COLUMNS if column.required or column.name in columns]
    staged = _staging_text(firsts, first_lines, repeats, repeats_at)
    with connection.cursor() as cursor:
        cursor.execute(  # one round trip
            "SET LOCAL work_mem = '64MB';"  # sort a batch in memory, not on disk
            f" CREATE TEMP TABLE IF NOT EXISTS {STAGING_TABLE} ({STAGING_COLUMNS});"
            f" TRUNCATE {STAGING_TABLE}"
        )
        with cursor.cursor.copy(f"COPY {STAGING_TABLE} ({NEW_COLUMNS}, line, repeat) FROM STDIN") as copy:
            copy.write(staged)
        params = {"since": since, "staged": firsts.count(b"\n") + repeats.count(b"\n")}
        try:
            with transaction.atomic():
                cursor.execute(_split_merge_sql(fields, with_products), params)
                rows = cursor.fetchall()
        except (IntegrityError, OperationalError):
            # Another import created one of our new SKUs since we looked (unique violation) or
            # locked our rows in another order (deadlock): the single ON CONFLICT statement,
            # which locks in key order, handles both.
            cursor.execute(_upsert_sql(fields, with_products), params)
            rows = cursor.fetchall()
    counted = ("created", "updated", "unchanged", "duplicates", "unsettled")
    counts = dict(zip(counted, rows[0]))
    if not with_products:
        return MergeResult(**counts)
    products = [row[len(counted) :] for row in rows if row[len(counted)] is not None]  # the event data, then `inserted`
    created = [row[:-1] for row in products if row[-1]]
    changed = [row[:-1] for row in products if not row[-1]]
    return MergeResult(**counts, created_products=created, changed_products=changed)


def products_bulk_settle() -> int:
    """Settle, once the import's last batch is merged, the SKUs whose repeats changed products
    the import had already written: how many more of them end updated than their batches
    counted (negative when fewer). One ends updated when its last change left its product
    unlike the values the import found (CHANGES_TABLE's originals), or, for a product someone
    else wrote first, the values the first such repeat found. The arrays are unnested in the
    select list, side by side, which streams them; unnest() in FROM first stores every element."""
    with connection.cursor() as cursor:
        cursor.execute(f"""
            WITH repeats AS (
                SELECT batch, unnest(repeat_ids) AS product_id, unnest(incomings) AS incoming, unnest(founds) AS found
                FROM {CHANGES_TABLE}
            ), latest AS (
                SELECT DISTINCT ON (product_id) product_id, incoming FROM repeats ORDER BY product_id, batch DESC
            ), first_found AS (
                SELECT DISTINCT ON (product_id) product_id, found FROM repeats ORDER BY product_id, batch
            ), originals AS (
                SELECT DISTINCT ON (product_id) product_id, original FROM (
                    SELECT batch, unnest(product_ids) AS product_id, unnest(originals) AS original FROM {CHANGES_TABLE}
                ) o
                WHERE product_id IN (SELECT product_id FROM latest) ORDER BY product_id, batch
            )
            SELECT coalesce(sum(CASE WHEN o.original IS NOT NULL THEN -(l.incoming = o.original)::int
                                     ELSE (l.incoming <> f.found)::int END), 0)
            FROM latest l LEFT JOIN originals o USING (product_id) JOIN first_found f USING (product_id)
        """)
        return cursor.fetchone()[0]


def _staging_text(firsts: bytes, first_lines: str, repeats: bytes, repeats_at: list[int] | None) -> bytes:
    """products_bulk_merge()'s rows as COPY text in STAGING_COLUMNS: each first followed by its
    line from `first_lines` and `f`, each repeat by `t`. With `repeats_at`, every repeat goes
    after the first it follows in key order, and the collapse's sort finds one sorted run;
    without, the repeats follow the firsts. The firsts are not split into rows: a repeat rides
    in the text that ends the first before it."""
    if not firsts:
        return repeats.replace(b"\n", b"\tt\n")
    ends = (first_lines.replace("\n", "\tf\n") + "\tf").encode().split(b"\n")
    text = firsts.replace(b"%", b"%%").replace(b"\n", b"\t%s\n")
    if repeats_at is None:
        return text % tuple(ends) + repeats.replace(b"\n", b"\tt\n")
    head = []
    for at, row in zip(repeats_at, repeats.split(b"\n")):
        if at:
            ends[at - 1] += b"\n" + row + b"\tt"
        else:
            head.append(row + b"\tt\n")
    return b"".join(head) + text % tuple(ends)


def _latest_rows_sql() -> str:
    """The batch with one row per key, the file's last; DISTINCT ON collapses duplicates (an
    ON CONFLICT may touch a row only once) and sorts by key, so rows are locked in key order."""
    key = _key(STAGING_TABLE)
    return f"SELECT DISTINCT ON ({key}) {NEW_COLUMNS}, repeat FROM {STAGING_TABLE} ORDER BY {key}, line DESC"


def _values_sql(fields: list[str], table: str, prefix: str = "") -> str:
    """A product's values as a 64-bit hash of the row (each column's own hash, not its text):
    what CHANGES_TABLE keeps."""
    return f"hash_record_extended(row({', '.join(f'{table}.{prefix}{f}' for f in fields)}), 0)"


def _changed_sql(fields: list[str], old: str, new: str) -> str:
    return f"({', '.join(f'{old}.{f}' for f in fields)}) IS DISTINCT FROM ({', '.join(f'{new}.{f}' for f in fields)})"


def _lookup_sql(fields: list[str]) -> str:
    """Each key's last row with its product as stored (if any): whether the row changes it and
    whether anyone wrote the product since the import started (`recent`); for a change of a
    product that existed before the import, its stored values hashed (`stored`). OFFSET 0 keeps
    `looked` a subquery of its own: inlined, `stored` would compare every field a second time to
    know whether the row changes the product."""
    return f"""
        batch AS MATERIALIZED (
            SELECT product_id, repeat, changed, recent,
                   CASE WHEN changed AND existed THEN {_values_sql(fields, "looked", "old_")} END AS stored,
                   {NEW_COLUMNS}  -- last: scans that only filter on the flags need not read past the text
            FROM (
                SELECT latest.*, p.id AS product_id, p.id IS NOT NULL AND {_changed_sql(fields, "p", "latest")} AS changed,
                       p.created_at < %(since)s AS existed, p.updated_at >= %(since)s AS recent,
                       {", ".join(f"p.{f} AS old_{f}" for f in fields)}
                FROM ({_latest_rows_sql()}) latest
                LEFT JOIN LATERAL (
                    SELECT p.id, p.created_at, p.updated_at, {", ".join(fields)}
                    FROM {TABLE} p WHERE {_key("p")} = {_key("latest")}
                ) p ON true
                OFFSET 0
            ) looked
        )"""


def _counts_sql(fields: list[str], *, inserted: str = "product_id IS NULL", rewritten: str = "changed", written: str = "") -> str:
    """Count each staged row once, in one pass over `batch` (joined with `written`); `inserted`
    and `rewritten` say of a row whether it created its product or changed it. A repeated
    SKU's earlier row is a duplicate. A product that existed before the import is counted by
    its first row, and moved to updated by a repeat that changes it while nobody has written it
    since the import started (`flips`): it still holds the values the import found then. Those
    values go to CHANGES_TABLE as the import changes a product, and so do the repeats that
    change a product written since, which products_bulk_settle() counts when the import ends.
    The caller passes the number of rows it staged, `staged`."""
    original = f"stored IS NOT NULL AND NOT (repeat AND recent) AND {rewritten}"
    unsettled = f"stored IS NOT NULL AND repeat AND recent AND {rewritten}"
    return f"""
        tallied AS (
            SELECT count(*) FILTER (WHERE NOT repeat) AS firsts,
                   count(*) FILTER (WHERE NOT repeat AND {inserted}) AS created,
                   count(*) FILTER (WHERE NOT repeat AND {rewritten}) AS updated,
                   count(*) FILTER (WHERE stored IS NOT NULL AND repeat AND NOT recent AND {rewritten}) AS flips,
                   array_agg(product_id) FILTER (WHERE {original}) AS product_ids,
                   array_agg(stored) FILTER (WHERE {original}) AS originals,
                   array_agg(product_id) FILTER (WHERE {unsettled}) AS repeat_ids,
                   array_agg({_values_sql(fields, "batch")}) FILTER (WHERE {unsettled}) AS incomings,
                   array_agg(stored) FILTER (WHERE {unsettled}) AS founds
            FROM batch {written}
        ), remembered AS (
            INSERT INTO {CHANGES_TABLE} ({", ".join(CHANGES_ARRAYS)})
            SELECT {", ".join(CHANGES_ARRAYS)} FROM tallied WHERE product_ids IS NOT NULL OR repeat_ids IS NOT NULL
        ), counts AS (
            SELECT created, updated + flips AS updated, firsts - created - updated - flips AS unchanged,
                   %(staged)s - firsts AS duplicates, coalesce(cardinality(repeat_ids), 0) AS unsettled
            FROM tallied
        )"""


def _split_merge_sql(fields: list[str], with_products: bool) -> str:
    """The fast path: look every key up once, UPDATE the products that change, plain INSERT the
    new ones. A plain INSERT skips ON CONFLICT's speculative insertion, and an UPDATE with a
    WHERE does not lock unchanged rows, which ON CONFLICT DO UPDATE … WHERE does. The lookup
    fetches the stored values too, so an unchanged product costs one index probe, not two."""
    return f"""
        WITH {_lookup_sql(fields)}, changed AS (
            UPDATE {TABLE} p
            SET {", ".join(f"{f} = b.{f}" for f in fields)}, updated_at = now()
            FROM batch b
            WHERE b.changed AND p.id = b.product_id AND {_changed_sql(fields, "p", "b")}
            {"RETURNING p.*" if with_products else ""}
        ), created AS (
            INSERT INTO {TABLE} ({NEW_COLUMNS}, active, created_at, updated_at)
            SELECT {NEW_COLUMNS}, true, now(), now() FROM batch WHERE product_id IS NULL ORDER BY {_key("batch")}
            {"RETURNING *" if with_products else ""}
        ), {_counts_sql(fields)}
        {_returning_sql(with_products)}
    """


def _upsert_sql(fields: list[str], with_products: bool) -> str:
    """The fallback: one ON CONFLICT statement, counted from the same lookup (a key another
    import created after the lookup is written as an update)."""
    counts = _counts_sql(
        fields,
        inserted="coalesce(merged.inserted, false)",
        rewritten="coalesce(NOT merged.inserted, false)",
        written=f"LEFT JOIN merged ON {_key('merged')} = {_key('batch')}",
    )
    return f"""
        WITH {_lookup_sql(fields)}, merged AS (
            INSERT INTO {TABLE} AS p ({NEW_COLUMNS}, active, created_at, updated_at)
            SELECT {NEW_COLUMNS}, true, now(), now() FROM batch ORDER BY {_key("batch")}
            ON CONFLICT ({_conflict_target()}) DO UPDATE
            SET {", ".join(f"{f} = EXCLUDED.{f}" for f in fields)}, updated_at = now()
            WHERE {_changed_sql(fields, "p", "EXCLUDED")}
            RETURNING p.*, (xmax = 0) AS inserted
        ), created AS (SELECT * FROM merged WHERE inserted), changed AS (SELECT * FROM merged WHERE NOT inserted),
        {counts}
        {_returning_sql(with_products)}
    """


def _returning_sql(with_products: bool) -> str:
    if not with_products:
        return "SELECT * FROM counts"
    return (
        "SELECT counts.*, products.* FROM counts LEFT JOIN ("
        f" SELECT {product_event_columns_sql('created')}, true FROM created"
        f" UNION ALL SELECT {product_event_columns_sql('changed')}, false FROM changed"
        ") products ON true"
    )


def products_bulk_subscribers() -> dict[str, list[int]]:
    """The endpoints listening for product.created and product.updated, per type: looked up
    once per batch, and passed to the writes that announce the batch's products."""
    return selectors.event_subscribers(events.PRODUCT_CREATED, events.PRODUCT_UPDATED)


def products_bulk_announce(*, result: MergeResult, subscribers: dict[str, list[int]]) -> None:
    """Queue product.created / product.updated events for one merged batch, in its transaction."""
    announced = ((events.PRODUCT_CREATED, result.created_products), (events.PRODUCT_UPDATED, result.changed_products))
    for event_type, products in announced:
        if products and event_type in subscribers:
            datas = (product_events_json(products[start : start + PRODUCTS_PER_EVENT])
                     for start in range(0, len(products), PRODUCTS_PER_EVENT))
            emit_serialized(event_type, datas, endpoint_ids=subscribers[event_type])


def products_bulk_statistics_stale(*, changed: int) -> bool:
    """Whether `changed` products are a large part of the table: more than STALE_STATISTICS_SHARE
    of the rows PostgreSQL last counted, or it never counted. Until ANALYZE (or autovacuum) runs,
    the list's size estimate and the planner work from the old row count."""
    if not changed:
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [TABLE])
        counted = cursor.fetchone()[0]
    return counted <= 0 or changed > STALE_STATISTICS_SHARE * counted


def products_bulk_analyze_soon(*, changed: int) -> bool:
    """After an import that changed `changed` products, have a worker refresh the table's
    statistics once the current transaction commits, if they are stale by then
    (products_bulk_statistics_stale()). The import's job does not wait for it. Returns whether
    it asked."""
    from products.tasks import products_analyze_task  # the task module imports this one

    if not products_bulk_statistics_stale(changed=changed):
        return False
    products_analyze_task.delay_on_commit()
    return True


def products_bulk_analyze() -> None:
    """Refresh the products table's row count and the statistics of ANALYZED_COLUMNS."""
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {connection.ops.quote_name(TABLE)} ({', '.join(ANALYZED_COLUMNS)})")
