"""Search benchmark: how soon a fresh import's last product is found by the list's name filter.

    flock /tmp/bench.lock .venv/bin/python bench/search_benchmark.py [--runs 3] [--poll 0.25]

It works in its own database (`<DATABASE_URL's name>_bench`) and starts a Celery worker on it
(two processes, as `make run` does). Each run empties the catalogue, times a bare COPY of the
500k-row file, then uploads a copy whose last row has a name no other row has, as staff do:
the worker imports it, then runs the search catch-up the import asks for. Meanwhile this
process filters the list by that name (products.selectors.product_page, as the list view does)
every `--poll` seconds. It prints the import job's own time, the time from the upload until
the last row's product is found, the catch-up (from the job's end until search has caught up)
and the time until then, each as a ratio to the COPY.
"""

import argparse
import csv
import io
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _django
from import_benchmark import bare_copy_seconds, ensure_file, truncate_products

BENCH_DIR = Path(__file__).resolve().parent
MARKER_NAME = "Zyzzyva Benchmark Marker"
GOAL = 10  # issue #12: the last product findable within 10x the bare COPY
# Redis database of this benchmark's worker and tasks: none that another worker reads.
BROKER_DATABASE = 11


def marked_copy(path: Path, directory: Path) -> Path:
    """`path` with its last row's name replaced by MARKER_NAME (same size and rows otherwise)."""
    text = path.read_text(encoding="utf-8")
    head, last_line = text.rstrip("\n").rsplit("\n", 1)
    header = next(csv.reader([text.split("\n", 1)[0]]))
    row = next(csv.reader([last_line]))
    row[[column.lower() for column in header].index("name")] = MARKER_NAME
    line = io.StringIO()
    csv.writer(line, lineterminator="\n").writerow(row)
    marked = directory / path.name
    marked.write_text(f"{head}\n{line.getvalue()}", encoding="utf-8")
    return marked


def worker_start(env: dict) -> subprocess.Popen:
    from config.celery import app

    app.control.purge()  # messages of jobs an earlier run emptied away
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "WARNING", "--concurrency", "2"],
        cwd=BENCH_DIR.parent, env=env, start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not app.control.ping(timeout=1):
        if time.monotonic() > deadline or worker.poll() is not None:
            raise SystemExit("The Celery worker did not start.")
    return worker


def worker_stop(worker: subprocess.Popen) -> None:
    os.killpg(worker.pid, signal.SIGTERM)
    worker.wait(timeout=60)


def run(path: Path, poll: float) -> dict:
    """Upload `path` for the worker, poll the name filter until it finds MARKER_NAME, then wait
    for search to catch up; times in seconds from the upload."""
    from django.core.files import File

    from imports.models import ImportJob
    from imports.services import import_job_create
    from products.selectors import ProductFilters, product_page, product_search_is_behind

    filters = ProductFilters(name=MARKER_NAME)
    poll_seconds = []
    started_at = time.time()
    with open(path, "rb") as source:
        job = import_job_create(file=File(source), name=path.name, user=None)
    while True:
        polled_at = time.time()
        found = product_page(filters=filters, number=1, per_page=50).products
        poll_seconds.append(time.time() - polled_at)
        if found:
            break
        time.sleep(max(0.0, poll - (time.time() - polled_at)))
    while product_search_is_behind():
        time.sleep(0.05)
    caught_up_at = time.time()
    job = ImportJob.objects.get(pk=job.pk)
    if job.status != ImportJob.Status.COMPLETED:
        raise SystemExit(f"The import ended {job.status}: {job.error_message}")
    return {
        "job": (job.finished_at - job.started_at).total_seconds(),
        # The product was committed before the query that found it began.
        "findable": polled_at - started_at,
        "catch_up": caught_up_at - job.finished_at.timestamp(),
        "caught_up": caught_up_at - started_at,
        "polls": len(poll_seconds),
        "poll_median": sorted(poll_seconds)[len(poll_seconds) // 2],
        "poll_max": max(poll_seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=3, help="runs; each line is one, the last the medians")
    parser.add_argument("--poll", type=float, default=0.25, help="seconds between two queries of the filter")
    args = parser.parse_args()
    _django.setup(broker_database=BROKER_DATABASE)
    from django.conf import settings

    directory = Path(tempfile.mkdtemp(prefix="search-bench-"))
    settings.MEDIA_ROOT = directory / "media"
    database = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "CELERY_BROKER_URL": os.environ["CELERY_BROKER_URL"],  # _django's, which no other worker reads
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
    }
    truncate_products()  # no job of an interrupted run for the worker to recover
    worker = worker_start(env)
    try:
        path = marked_copy(ensure_file(args.rows), directory)
        print(f"{path.name}: {args.rows:,} rows, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}", flush=True)
        results = []
        for _ in range(args.runs):
            truncate_products()
            copy_seconds = bare_copy_seconds(path)
            result = {"copy": copy_seconds, **run(path, args.poll)}
            result.update({f"{key}_ratio": result[key] / copy_seconds for key in ("job", "findable", "catch_up", "caught_up")})
            results.append(result)
            report("run", result)
        truncate_products()
        if len(results) > 1:
            report("median", {key: statistics.median(run[key] for run in results) for key in results[0]})
        print(f"load average after: {os.getloadavg()[0]:.2f}", flush=True)
    finally:
        worker_stop(worker)
        shutil.rmtree(directory)


def report(label: str, result: dict) -> None:
    """One line; the median line gives the medians of each run's seconds and of its ratios."""
    ratio = result["findable_ratio"]
    print(
        f"{label:<7} bare COPY {result['copy']:5.2f} s | import job {result['job']:5.2f} s ({result['job_ratio']:4.1f}x)"
        f" | findable after {result['findable']:5.2f} s ({ratio:4.1f}x, goal ≤ {GOAL}x: {'ok' if ratio <= GOAL else 'MISSED'})"
        f" | catch-up {result['catch_up']:5.2f} s ({result['catch_up_ratio']:4.1f}x),"
        f" caught up after {result['caught_up']:5.2f} s ({result['caught_up_ratio']:4.1f}x)"
        f" | {result['polls']:.0f} polls, median {result['poll_median'] * 1000:.0f} ms, max {result['poll_max'] * 1000:.0f} ms",
        flush=True,
    )


if __name__ == "__main__":
    main()
