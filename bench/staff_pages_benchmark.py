"""Staff pages over HTTP while a 500k-row import runs on the same machine.

    flock /tmp/bench.lock .venv/bin/python bench/staff_pages_benchmark.py [--products 480000] [--rows 500000]

It works in the benchmark database (`<DATABASE_URL's name>_bench`, see _django.py): loads
--products generated products (bench/product_list_benchmark.py's load), starts gunicorn (3
workers, DEBUG off) and a Celery worker (concurrency 2) as the Procfile does, queues the import
of bench/data/products-<rows>.csv (new SKUs) and requests the pages one after the other, as a
staff member clicking around would, until the job has ended. Then the first page right after
it, and every page again once the search catch-up has finished (idle). Median and p95 in ms.
"""

import argparse
import statistics
import time

import _django
import web_stack

IDLE_RUNS = 20
HTMX = {"HX-Request": "true"}


def pages(job_id: int, endpoint_id: int) -> list[tuple[str, str, dict]]:
    return [
        ("products, first page", "/products/", {}),
        ("products, name filter", "/products/?name=stool", {}),
        ("products list fragment (htmx)", "/products/?page=2", HTMX),
        ("imports page", "/imports/", {}),
        ("import progress fragment", f"/imports/{job_id}/progress/", HTMX),
        ("running-job indicator", f"/activity/?import={job_id}", HTMX),
        ("import detail", f"/imports/{job_id}/", {}),
        ("webhooks page", "/webhooks/", {}),
        ("webhook endpoint page", f"/webhooks/{endpoint_id}/", {}),
    ]


def time_idle(session, base: str, cases) -> dict[str, list[float]]:
    return {label: web_stack.timed_runs(session, base + path, IDLE_RUNS, headers=headers)[0] for label, path, headers in cases}


def time_during(session, base: str, cases, job) -> tuple[dict[str, list[float]], float]:
    """Round after round of every page until the job has ended; its time as the job saw it."""
    timings = {label: [] for label, _, _ in cases}
    while True:
        for label, path, headers in cases:
            timings[label].append(web_stack.timed_get(session, base + path, headers=headers)[0])
        job.refresh_from_db()
        if job.has_ended:
            return timings, (job.finished_at - job.started_at).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=480_000, help="products there before the import")
    parser.add_argument("--rows", type=int, default=500_000, help="rows of the imported file")
    args = parser.parse_args()
    web_stack.web_environment()
    _django.setup()
    from django.core.files import File
    from django.db import connection
    from import_benchmark import ensure_file
    from product_list_benchmark import load

    from imports.models import ImportJob
    from products.models import ProductSearchCatchUp
    from imports.services import import_job_create, import_job_enqueue
    from webhooks.services import endpoint_create

    path = ensure_file(args.rows)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE imports_importrowerror, imports_importjob, webhooks_endpoint CASCADE")
    print(f"Loading {args.products:,} products ...", flush=True)
    load(args.products)
    # Subscribed to upload events only: product events would make this the subscribed import.
    endpoint = endpoint_create(url="http://127.0.0.1:9/", description="bench", event_types=["upload.completed"])
    session = web_stack.staff_session()
    with web_stack.gunicorn() as base, web_stack.celery_worker():
        with open(path, "rb") as handle:
            job = import_job_create(file=File(handle, name=path.name), name=path.name, user=None, enqueue=False)
        cases = pages(job.pk, endpoint.pk)
        for _, page, headers in cases:  # every worker has served every page once (see web_stack)
            for _ in range(web_stack.WARM_UP_REQUESTS):
                web_stack.timed_get(session, base + page, headers=headers)
        import_job_enqueue(job=job)
        while ImportJob.objects.filter(pk=job.pk, started_at__isnull=True).exists():
            time.sleep(0.05)
        during, job_seconds = time_during(session, base, cases, job)
        after = [web_stack.timed_get(session, f"{base}/products/")[0] for _ in range(IDLE_RUNS)]
        print(f"\nImport of {path.name}: {job.status}, {job_seconds:.1f} s as the job saw it,"
              f" created {job.created_count:,}")
        print(f"First page right after the import (search catch-up running), median, p95: {web_stack.summary(after)}")
        while ProductSearchCatchUp.objects.exists():
            time.sleep(0.5)
        idle = time_idle(session, base, cases)
    job.file.delete()
    print("\nStaff pages over HTTP (gunicorn, 3 workers, DEBUG off; worker concurrency 2), ms")
    print(f"{'page':<32} {'importing median':>17} {'p95':>8} {'n':>4} {'idle after median':>18} {'p95':>8}")
    for label, _, _ in cases:
        print(f"{label:<32} {statistics.median(during[label]):17.1f} {web_stack.percentile(during[label], 0.95):8.1f}"
              f" {len(during[label]):4d} {statistics.median(idle[label]):18.1f}"
              f" {web_stack.percentile(idle[label], 0.95):8.1f}")


if __name__ == "__main__":
    main()
