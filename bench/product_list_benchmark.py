"""List page latency over HTTP, and delete-all time, at 1,000,000 products (or --products).

    flock /tmp/bench.lock .venv/bin/python bench/product_list_benchmark.py [--products 1000000] [--runs 20] [--import-runs 3]
        [--no-load] [--keep] [--sql-runs 5]

It works in the benchmark database (`<DATABASE_URL's name>_bench`, see _django.py).

Loads the generated products in two halves with one INSERT ... SELECT each, as two imports would,
and after each half times the search catch-up that makes them findable (products.search); then
times the full list page through gunicorn as the Procfile starts it (3 workers, DEBUG off), a
signed-in staff session, median and p95 per case after warm-up, and the SQL of each case's
selectors in this process (to tell SQL from rendering); then delete-all. Then, in the
same run and database, with the same indexes, the 500k-row import benchmark
(bench/import_benchmark.py).
"""

import argparse
import re
import time

import _django
import web_stack
from generated_products import generated_products_sql


def newest_sku_term(products: int) -> str:
    """A SKU term that 100,000 of the newest products match (sku-009 at 1M: SKU-00900000 to
    SKU-00999999, all but the last product)."""
    return f"sku-{(products - 1) // 100_000:03d}"


def cases(products: int) -> list[tuple[str, str]]:
    """The list's cases; the SKU terms are derived from the catalogue's size (SKU-00000001 on)."""
    newest = newest_sku_term(products)
    return [
        ("first page", ""),
        ("page 2,000", "?page=2000"),
        ("page 2,000 in SKU order", "?sort=sku&page=2000"),
        ("sorted by SKU", "?sort=sku"),
        ("sorted by SKU, descending", "?sort=-sku"),
        ("SKU, common", "?sku=sku-0099"),
        ("SKU, rare", f"?sku=SKU-{products // 2:08d}"),
        ("SKU, 100k matches in the last ids", f"?sku={newest}"),
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


def products_ready(count: int, *, loaded: bool) -> int:
    """How many products the pages are timed on: those already there (`--no-load`), or `count`
    loaded afresh."""
    from products.models import Product

    if loaded:
        return Product.objects.count()
    print(f"Loading {count:,} products ...", flush=True)
    load(count)
    return count


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


def time_pages(base: str, runs: int, products: int) -> None:
    session = web_stack.staff_session()
    print(f"\nList page over HTTP (gunicorn, 3 workers, DEBUG off), {runs} requests per case after {web_stack.WARM_UP_REQUESTS}, ms")
    print(f"{'case':<38} {'median':>8} {'p95':>8}  shows")
    for label, query in cases(products):
        timings, response = web_stack.timed_runs(session, f"{base}/products/{query}", runs)
        shown = re.search(r"Showing ([^<]+)|No products[^<.]*", response.text)
        print(f"{label:<38} {web_stack.summary(timings)}  {shown.group(1) or shown.group(0)}", flush=True)


def time_sql(runs: int, products: int) -> None:
    """Per case, the time the list's selectors spend in PostgreSQL, in this process: what of a
    page's time is SQL rather than rendering."""
    import statistics

    from django.db import connection
    from django.http import QueryDict
    from django.test.utils import CaptureQueriesContext

    from products import selectors
    from products.forms import ProductFilterForm

    print(f"\nSQL of the list's selectors (this process, median of {runs} after one warm-up), ms")
    print(f"{'case':<38} {'SQL':>8} {'queries':>8}")
    for label, query in cases(products):
        form = ProductFilterForm(QueryDict(query.lstrip("?")))
        times = []
        for _ in range(runs + 1):
            with CaptureQueriesContext(connection) as captured:
                filters = form.filters()
                total = None if filters.any else selectors.product_catalogue_total()
                selectors.product_page(
                    filters=filters, number=form.page_number(), per_page=form.page_size(), sort=form.ordering(),
                    total=total,
                )
            times.append(sum(float(query["time"]) for query in captured.captured_queries) * 1000)
        print(f"{label:<38} {statistics.median(times[1:]):8.1f} {len(captured):>8}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", "--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--import-runs", type=int, default=3, help="runs of the import benchmark; 0 skips it")
    parser.add_argument("--no-load", action="store_true", help="time the products already loaded")
    parser.add_argument("--keep", action="store_true", help="keep the products: no delete-all, no import benchmark")
    parser.add_argument("--sql-runs", type=int, default=5, help="runs of each case's selectors in this process; 0 skips")
    args = parser.parse_args()
    web_stack.web_environment()
    _django.setup()
    from import_benchmark import benchmark as import_benchmark

    from products.models import DeleteAllJob
    from products.services import products_delete_all

    args.products = products_ready(args.products, loaded=args.no_load)
    with web_stack.gunicorn() as base:
        time_pages(base, args.runs, args.products)
    if args.sql_runs:
        time_sql(args.sql_runs, args.products)
    if args.keep:
        return

    job = DeleteAllJob.objects.create()
    started = time.perf_counter()
    job = products_delete_all(job_id=job.pk)
    elapsed = time.perf_counter() - started
    print(f"\nDelete all: {job.deleted_count:,} products in {elapsed:.2f} s ({job.status})")

    if args.import_runs:
        print("\nImport benchmark (bench/import_benchmark.py), same database and indexes", flush=True)
        import_benchmark(500_000, 0, args.import_runs)


if __name__ == "__main__":
    main()
