"""Where a staff page's time goes, in process: SQL, template rendering and the rest.

    flock /tmp/bench.lock .venv/bin/python bench/page_cost_benchmark.py [--runs 40] [--profile CASE]

It requests each page through Django's test client (DEBUG off, the cached template loader; static files unhashed) as
a signed-in staff user, on the products the benchmark database holds (`<DATABASE_URL's
name>_bench`; bench/product_list_benchmark.py --keep loads them), and splits each request into
its time in SQL (a connection execute wrapper), in template rendering less the SQL run while
rendering, and the rest (middleware, session, auth, forms, the view). Medians in ms after a
warm-up. `--profile CASE` prints cProfile's top functions of that case instead.
"""

import argparse
import cProfile
import pstats
import statistics
import time
from contextlib import contextmanager

import _django
import web_stack

HTMX = {"HTTP_HX_REQUEST": "true"}
CASES = {
    "products, first page": ("/products/", {}),
    "products, 100 per page": ("/products/?per_page=100", {}),
    "products, page 2 (htmx)": ("/products/?page=2", HTMX),
    "products, name filter": ("/products/?name=stool", {}),
    "products, page 2,000 in SKU order": ("/products/?sort=sku&page=2000", {}),
    "products, newest SKU prefix": ("/products/?sku=sku-009", {}),
    "products, oak + durable + inactive": ("/products/?name=oak&description=durable&active=no", {}),
    "products, 100 per page of oak, page 50": ("/products/?name=oak&per_page=100&page=50", {}),
    "imports page": ("/imports/", {}),
    "webhooks page": ("/webhooks/", {}),
}
WARM_UP_REQUESTS = 5


class Clock:
    """Time spent in SQL and in (outermost) template rendering during one request."""

    def __init__(self):
        self.sql = self.template = self.sql_in_template = 0.0
        self._rendering = 0

    def execute(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            elapsed = time.perf_counter() - started
            self.sql += elapsed
            if self._rendering:
                self.sql_in_template += elapsed

    @contextmanager
    def rendering(self):
        self._rendering += 1
        started = time.perf_counter()
        try:
            yield
        finally:
            self._rendering -= 1
            if not self._rendering:
                self.template += time.perf_counter() - started


def split_of(client, path: str, headers: dict) -> dict[str, float]:
    """One request's total, SQL, template and other time, in seconds."""
    from django.db import connection
    from django.template.backends.django import Template

    clock, render = Clock(), Template.render

    def timed_render(template, *args, **kwargs):
        with clock.rendering():
            return render(template, *args, **kwargs)

    Template.render = timed_render
    try:
        started = time.perf_counter()
        with connection.execute_wrapper(clock.execute):
            response = client.get(path, **headers)
        total = time.perf_counter() - started
    finally:
        Template.render = render
    if response.status_code != 200:
        raise RuntimeError(f"GET {path}: {response.status_code}")
    template = clock.template - clock.sql_in_template
    return {"total": total, "sql": clock.sql, "template": template, "rest": total - clock.sql - template}


def warm(client, path: str, headers: dict) -> None:
    for _ in range(WARM_UP_REQUESTS):
        client.get(path, **headers)


def staff_client():
    from django.test import Client

    client = Client()
    client.force_login(web_stack.staff_user())
    return client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--profile", choices=CASES, help="print cProfile's top functions of this case")
    args = parser.parse_args()
    _django.setup()
    from django.conf import settings
    from products.selectors import product_catalogue_total

    settings.ALLOWED_HOSTS = ["testserver"]
    client = staff_client()
    if args.profile:
        path, headers = CASES[args.profile]
        warm(client, path, headers)
        profile = cProfile.Profile()
        profile.runcall(lambda: [client.get(path, **headers) for _ in range(args.runs)])
        pstats.Stats(profile).sort_stats("cumulative").print_stats(60)
        return
    print(f"{product_catalogue_total()} products; median of {args.runs} requests per page after {WARM_UP_REQUESTS}, ms")
    print(f"{'page':<40} {'total':>7} {'SQL':>7} {'template':>9} {'rest':>7}")
    for label, (path, headers) in CASES.items():
        warm(client, path, headers)
        splits = [split_of(client, path, headers) for _ in range(args.runs)]
        split = {key: statistics.median(run[key] for run in splits) * 1000 for key in splits[0]}
        print(f"{label:<40} {split['total']:7.1f} {split['sql']:7.1f} {split['template']:9.1f} {split['rest']:7.1f}", flush=True)


if __name__ == "__main__":
    main()
