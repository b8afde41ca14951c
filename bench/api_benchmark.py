"""The JSON API at scale: the products list per filter, and the CSV export against a bare COPY.

    flock /tmp/bench.lock .venv/bin/python bench/api_benchmark.py [--products 1000000] [--runs 20] [--export-runs 3]
        [--no-load]

It works in the benchmark database (`<DATABASE_URL's name>_bench`, see _django.py) and loads
the generated products as bench/product_list_benchmark.py does (emptying its product table).

- List: `GET /api/products/?<filter>` over HTTP through gunicorn as the Procfile starts it (3
  workers, DEBUG off) with a bearer token, the first page and a page deep in the catalogue (a
  cursor after 90% of the ids), median and p95 after warm-up.
- Export: `GET /api/products/export.csv` of every product, read to the end through the Django
  test client's streaming response, against a bare `COPY (SELECT ...) TO STDOUT` of the same rows
  read through psycopg. Each runs in a fresh child process, so the peak RSS is its own.
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import _django
import web_stack
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from product_list_benchmark import newest_sku_term, products_ready

CASES = [
    ("no filter", ""),
    ("SKU, common", "sku=sku-0099"),
    ("SKU, rare", "sku=SKU-00500000"),
    ("SKU, 100k matches in the last ids", "sku={newest}"),
    ("name, common", "name=stool"),
    ("name, rare", "name=zebrawood"),
    ("description, common", "description=durable"),
    ("description, rare", "description=quixotic"),
    ("inactive", "active=no"),
    ("combined: oak + durable + inactive", "name=oak&description=durable&active=no"),
    ("combined: stool + quixotic", "name=stool&description=quixotic"),
    ("100 per page, name common", "name=oak&per_page=100"),
]
BARE_COPY = (
    "COPY (SELECT sku, name, description, price, active FROM products_product ORDER BY id)"
    " TO STDOUT WITH (FORMAT csv, HEADER)"
)


def api_token() -> str:
    from api.services import api_token_create

    user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"is_staff": True})
    return api_token_create(user=user, name="bench")[1]


def api_client():
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token()}")
    return client


def deep_cursor() -> str:
    """A cursor after 90% of the product ids, as `next` links would reach."""
    from products.api import _cursor_encode

    with connection.cursor() as cursor:
        cursor.execute("SELECT percentile_disc(0.9) WITHIN GROUP (ORDER BY id) FROM products_product")
        return _cursor_encode("a", cursor.fetchone()[0])


def time_list(base: str, runs: int, products: int) -> None:
    import requests

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {api_token()}"
    cursor = deep_cursor()
    print(f"\nAPI products list over HTTP (gunicorn, 3 workers, DEBUG off, bearer token), {runs} runs per case, ms")
    print(f"{'case':<38} {'first page':>19} {'page at 90% of ids':>21}  products")
    print(f"{'':<38} {'median':>9} {'p95':>9} {'median':>10} {'p95':>10}")
    for label, query in CASES:
        query = query.format(newest=newest_sku_term(products))
        figures, shown = [], 0
        for url in (f"{base}/api/products/?{query}", f"{base}/api/products/?{query}&cursor={cursor}"):
            timings, response = web_stack.timed_runs(session, url, runs)
            figures += [statistics.median(timings), web_stack.percentile(timings, 0.95)]
            shown = shown or len(response.json()["results"])
        print(f"{label:<38} {figures[0]:9.1f} {figures[1]:9.1f} {figures[2]:10.1f} {figures[3]:10.1f}  {shown}")


def child_export(kind: str) -> dict:
    """Read every product as CSV, the API's way or the bare COPY's; time, bytes and peak RSS.
    Both first make a tiny request of their kind, so that connecting and the API's first-request
    imports are not timed."""
    client = api_client()
    b"".join(client.get("/api/products/export.csv?sku=no-such-product").streaming_content)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    started = time.perf_counter()
    size = 0
    if kind == "api":
        response = client.get("/api/products/export.csv")
        for chunk in response.streaming_content:
            size += len(chunk)
    else:
        with connection.cursor() as cursor, cursor.copy(BARE_COPY) as copy:
            for data in copy:
                size += len(data)
    return {
        "seconds": time.perf_counter() - started,
        "bytes": size,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_child(kind: str) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--child", kind], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def time_export(runs: int) -> None:
    print(f"\nExport of every product as CSV, {runs} runs interleaved, each in a fresh process")
    results = {"copy": [], "api": []}
    for _ in range(runs):
        for kind in results:
            results[kind].append(run_child(kind))
    for kind, label in (("copy", "bare COPY ... TO STDOUT"), ("api", "GET /api/products/export.csv")):
        seconds = statistics.median(run["seconds"] for run in results[kind])
        rss = max(run["peak_rss_mb"] for run in results[kind])
        size = results[kind][0]["bytes"]
        print(f"  {label:<30} median {seconds:6.2f} s  {size / 1e6:7.1f} MB  peak RSS {rss:5.0f} MB")
    ratio = statistics.median(r["seconds"] for r in results["api"]) / statistics.median(
        r["seconds"] for r in results["copy"]
    )
    print(f"  export / bare COPY: {ratio:.2f}x (goal: at most 2x)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", "--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--export-runs", type=int, default=3, help="0 skips the export")
    parser.add_argument("--no-load", action="store_true", help="time the products already loaded")
    parser.add_argument("--child", choices=["api", "copy"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    web_stack.web_environment()
    _django.setup()
    settings.ALLOWED_HOSTS = ["testserver"]
    if args.child:
        print(json.dumps(child_export(args.child)))
        return
    args.products = products_ready(args.products, loaded=args.no_load)
    with web_stack.gunicorn() as base:
        time_list(base, args.runs, args.products)
    if args.export_runs:
        time_export(args.export_runs)


if __name__ == "__main__":
    main()
