"""What the list's filters cost while an import's products wait in the search backlog.

    flock /tmp/bench.lock .venv/bin/python bench/search_backlog_benchmark.py [--products 500000] [--runs 20] [--no-load]

It works in the benchmark database (`<DATABASE_URL's name>_bench`, see _django.py). It loads
`--products` generated products and catches their search rows up, then as many again as an
import leaves them: written, their ids in the search backlog (products.search), not indexed.
Then it times each filter's first page as the list and the API read it (products.selectors
product_page and product_keyset_page, in this process), median and p95 in ms over `--runs`
after one warm-up. `--no-load` times the products already there.
"""

import argparse
import os
import time

import _django
from generated_products import generated_products_sql
from web_stack import percentile

CASES = [
    {"name": "stool"},
    {"name": "zebrawood"},
    {"name": "oak"},
    {"sku": "sku-0099"},
    {"sku": "rare"},  # replaced by a SKU of the backlog
    {"description": "durable"},
    {"description": "quixotic"},
    {"description": "oak"},
    {"description": "dying"},
    {"description": "happy"},
    {"name": "oak", "description": "durable", "active": False},
    {"name": "stool", "description": "quixotic"},
]


def load(products: int) -> None:
    """`products` indexed products, then as many in the search backlog."""
    from django.db import connection

    from products.search import product_search_catch_up

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE products_product, products_productsearch, products_productsearchbacklog")
        for first in (0, products):
            cursor.execute(
                "INSERT INTO products_product (sku, name, description, price, active, created_at, updated_at)"
                " SELECT sku, name, description, price, active, now(), now()"
                f" FROM ({generated_products_sql(2 * products)}) g"
                f" WHERE substr(sku, 5)::int > {first} AND substr(sku, 5)::int <= {first + products}"
                " ORDER BY substr(sku, 5)::int"
            )
            if not first:
                product_search_catch_up()
        cursor.execute(
            "INSERT INTO products_productsearchbacklog (first_id, last_id)"
            " SELECT min(id), max(id) FROM products_product"
            " WHERE id > (SELECT max(product_id) FROM products_productsearch)"
        )
        cursor.execute("VACUUM ANALYZE products_product")
        cursor.execute("VACUUM ANALYZE products_productsearch")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=500_000, help="indexed products, and as many in the backlog")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--no-load", action="store_true")
    args = parser.parse_args()
    _django.setup()
    from products.models import Product
    from products.selectors import ProductFilters, product_keyset_page, product_page, product_search_backlog

    if not args.no_load:
        print(f"Loading {args.products:,} indexed products and {args.products:,} in the backlog ...", flush=True)
        load(args.products)
    backlog = sum(last - first + 1 for first, last in product_search_backlog())
    print(f"{Product.objects.count():,} products, {backlog:,} ids in the search backlog,"
          f" load average {os.getloadavg()[0]:.2f}")
    print(f"{'filter':<55} {'list median':>11} {'p95':>6} {'API median':>11} {'p95':>6}  matches")
    rare_sku = f"SKU-{args.products * 3 // 2:08d}"
    for case in CASES:
        filters = ProductFilters(**{**case, "sku": rare_sku} if case.get("sku") == "rare" else case)
        timings = {"list": [], "api": []}
        for run in range(args.runs + 1):
            started = time.perf_counter()
            page = product_page(filters=filters, number=1, per_page=50)
            listed = time.perf_counter() - started
            started = time.perf_counter()
            product_keyset_page(filters=filters, per_page=50)
            if run:  # the first is the warm-up
                timings["list"].append(listed * 1000)
                timings["api"].append((time.perf_counter() - started) * 1000)
        label = ", ".join(f"{key}={value}" for key, value in filters.__dict__.items() if value not in ("", None))
        print(
            f"{label:<55} {percentile(timings['list'], 0.5):11.0f} {percentile(timings['list'], 0.95):6.0f}"
            f" {percentile(timings['api'], 0.5):11.0f} {percentile(timings['api'], 0.95):6.0f}  {page.total}",
            flush=True,
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
