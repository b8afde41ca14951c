"""List page latency and delete-all time at 1,000,000 products.

    flock /tmp/bench.lock .venv/bin/python bench/product_list_benchmark.py [--rows 1000000] [--runs 30] [--import-runs 3]

It works in the benchmark database (`<DATABASE_URL's name>_bench`, see _django.py).

Loads the generated products in two halves with one INSERT ... SELECT each, as two imports would,
and after each half times the search catch-up that makes them findable (products.search); then
times the list page through Django's test client, and delete-all. Then, in the same run and
database, with the same indexes, the 500k-row import benchmark (bench/import_benchmark.py).
"""

import argparse
import re
import statistics
import time

import _django
from generated_products import generated_products_sql
from import_benchmark import benchmark as import_benchmark

CASES = [
    ("first page", ""),
    ("page 2,000", "?page=2000"),
    ("SKU, common", "?sku=sku-0099"),
    ("SKU, rare", "?sku=SKU-00500000"),
    ("SKU, 100k matches in the last ids", "?sku=sku-009"),
    ("name, common", "?name=stool"),
    ("name, rare", "?name=zebrawood"),
    ("description, common", "?description=durable"),
    ("description, rare", "?description=quixotic"),
    ("inactive", "?active=no"),
    ("combined: oak + durable + inactive", "?name=oak&description=durable&active=no"),
    ("combined: stool + quixotic", "?name=stool&description=quixotic"),
    ("100 per page, name common, page 50", "?name=oak&per_page=100&page=50"),
    ("inactive, page 50", "?active=no&page=50"),
]


def load(rows: int) -> None:
    from django.db import connection

    from products.search import product_search_catch_up

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE products_product, products_productsearch")
    first_half = rows // 2
    for label, offset, count in (("first", 0, first_half), ("second", first_half, rows - first_half)):
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO products_product (sku, name, description, price, active, created_at, updated_at)"
                " SELECT sku, name, description, price, active, now(), now()"
                f" FROM ({generated_products_sql(rows)}) g"
                f" WHERE substr(sku, 5)::int > {offset} AND substr(sku, 5)::int <= {offset + count}"
            )
            cursor.execute("VACUUM ANALYZE products_product")
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        indexed = product_search_catch_up()
        caught_up = time.perf_counter() - started
        print(f"  {label} {count:,} products loaded in {loaded:.1f} s; search catch-up of {indexed:,} rows {caught_up:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE products_productsearch")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--import-runs", type=int, default=3, help="runs of the import benchmark; 0 skips it")
    args = parser.parse_args()
    _django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from products.models import DeleteAllJob
    from products.services import products_delete_all

    settings.ALLOWED_HOSTS = ["testserver"]

    print(f"Loading {args.rows:,} products ...", flush=True)
    load(args.rows)
    user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"is_staff": True})
    client = Client()
    client.force_login(user)

    print(f"\nList page (full page, Django test client), {args.runs} runs per case, ms")
    print(f"{'case':<38} {'median':>8} {'p95':>8}  shows")
    for label, query in CASES:
        for _ in range(3):  # warm caches and the connection
            client.get("/products/" + query)
        timings = []
        for _ in range(args.runs):
            started = time.perf_counter()
            response = client.get("/products/" + query)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.status_code
        summary = re.search(r"Showing ([^<]+)|No products[^<.]*", response.content.decode())
        shows = summary.group(1) or summary.group(0)
        print(f"{label:<38} {statistics.median(timings):8.1f} {percentile(timings, 0.95):8.1f}  {shows}")

    job = DeleteAllJob.objects.create(requested_by=user)
    started = time.perf_counter()
    job = products_delete_all(job_id=job.pk)
    elapsed = time.perf_counter() - started
    print(f"\nDelete all: {job.deleted_count:,} products in {elapsed:.2f} s ({job.status})")

    if args.import_runs:
        print("\nImport benchmark (bench/import_benchmark.py), same database and indexes", flush=True)
        import_benchmark(500_000, 0, args.import_runs)


if __name__ == "__main__":
    main()
