"""List page latency and delete-all time at 1,000,000 products.

    flock /tmp/bench.lock .venv/bin/python bench/product_list_benchmark.py [--rows 1000000] [--runs 30]

It works in the benchmark database (`<DATABASE_URL's name>_bench`, see _django.py).

Loads the generated products with one INSERT ... SELECT (search indexes dropped first and built
afterwards, as a restore would), then times the list page through Django's test client.
"""

import argparse
import re
import statistics
import time

import _django  # noqa: F401 - sets up Django on the benchmark database
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from generated_products import generated_products_sql

from products.models import DeleteAllJob
from products.services import products_delete_all

SEARCH_INDEXES = ("product_search_key_trgm", "product_description_fts")
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


def load(rows: int) -> float:
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = ANY(%s)", [list(SEARCH_INDEXES)]
        )
        definitions = [row[0] for row in cursor.fetchall()]
        cursor.execute("TRUNCATE products_product")
        for name in SEARCH_INDEXES:
            cursor.execute(f"DROP INDEX IF EXISTS {name}")
        cursor.execute(
            "INSERT INTO products_product (sku, name, description, price, active, created_at, updated_at)"
            f" SELECT sku, name, description, price, active, now(), now() FROM ({generated_products_sql(rows)}) g"
        )
        for definition in definitions:
            cursor.execute(definition)
        cursor.execute("VACUUM ANALYZE products_product")
    return time.perf_counter() - started


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    settings.ALLOWED_HOSTS = ["testserver"]

    print(f"Loading {args.rows:,} products ...", flush=True)
    print(f"  loaded and indexed in {load(args.rows):.1f} s")
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


if __name__ == "__main__":
    main()
