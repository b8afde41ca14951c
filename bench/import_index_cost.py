"""What the search indexes cost the CSV import, without the importer's code.

    DATABASE_URL=postgres://.../importer_products_bench flock /tmp/bench.lock \
        .venv/bin/python bench/import_index_cost.py [--rows 500000]

Replays the importer's statements on generated rows into an empty catalogue: COPY into a temp
staging table, then INSERT ... SELECT DISTINCT ON (lower(sku)) ... ON CONFLICT ((lower(sku)))
DO UPDATE. Each variant runs in a transaction that is rolled back (DDL included), so the
"foundation" variant can drop this app's indexes and stored column without touching the schema.
"""

import argparse
import time

import _django  # noqa: F401 - sets up Django on the benchmark database
from django.db import connection, transaction
from generated_products import generated_products_sql

STAGING = "CREATE TEMP TABLE staging (sku text, name text, description text, price numeric) ON COMMIT DROP"
UPSERT = """
    INSERT INTO products_product (sku, name, description, price, active, created_at, updated_at)
    SELECT DISTINCT ON (lower(sku)) sku, name, description, price, true, now(), now()
      FROM staging ORDER BY lower(sku)
    ON CONFLICT ((lower(sku))) DO UPDATE
       SET name = EXCLUDED.name, description = EXCLUDED.description,
           price = EXCLUDED.price, updated_at = EXCLUDED.updated_at
"""
WITHOUT_SEARCH = [
    "DROP INDEX product_search_key_trgm",
    "DROP INDEX product_description_fts",
    "ALTER TABLE products_product DROP COLUMN description_search",
]


def csv_rows(rows: int) -> bytes:
    select = f"SELECT sku, name, description, price FROM ({generated_products_sql(rows)}) g"
    with connection.cursor() as cursor:
        with cursor.copy(f"COPY ({select}) TO STDOUT WITH (FORMAT csv)") as copy:
            return b"".join(bytes(chunk) for chunk in copy)


def run(data: bytes, *, upsert: bool, setup: list[str]) -> float:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("TRUNCATE products_product")
            for statement in setup:
                cursor.execute(statement)
            started = time.perf_counter()
            cursor.execute(STAGING)
            with cursor.copy("COPY staging FROM STDIN WITH (FORMAT csv)") as copy:
                copy.write(data)
            if upsert:
                cursor.execute(UPSERT)
            elapsed = time.perf_counter() - started
            raise _Rollback(elapsed)
    except _Rollback as rollback:
        return rollback.elapsed


class _Rollback(Exception):
    def __init__(self, elapsed: float):
        self.elapsed = elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    data = csv_rows(args.rows)
    print(f"{args.rows:,} generated rows, {len(data) / 1e6:.0f} MB of CSV; best of {args.repeat}, seconds")
    variants = [
        ("bare COPY into the staging table", dict(upsert=False, setup=[])),
        ("import, foundation schema (pk + lower(sku))", dict(upsert=True, setup=WITHOUT_SEARCH)),
        ("import, with this app's search indexes", dict(upsert=True, setup=[])),
    ]
    baseline = None
    for label, options in variants:
        elapsed = min(run(data, **options) for _ in range(args.repeat))
        baseline = baseline or elapsed
        print(f"{label:<48} {elapsed:7.2f}  {elapsed / baseline:5.1f}× bare COPY")


if __name__ == "__main__":
    main()
