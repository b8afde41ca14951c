"""Import benchmark: the import service against a bare COPY of the same file, in one run.

    flock /tmp/bench.lock .venv/bin/python bench/import_benchmark.py            # 500k rows, 3 runs
    flock /tmp/bench.lock .venv/bin/python bench/import_benchmark.py --big 5000000 [--runs 5]
    flock /tmp/bench.lock .venv/bin/python bench/import_benchmark.py --data bench/data/products-500000.csv

It works in its own database (`<DATABASE_URL's name>_bench`, created and migrated when missing)
and empties its product table; generated files go to bench/data/ (by default repeats spread
through the file, as real exports have them: bench/generate_products_csv.py). Each import runs
in a fresh child process, like the `import_products` command: "job" is the job's own started to
finished time (what the UI shows), "process" the child's from its start to the import's end
(Python and Django start-up and staging the file included), both also as a ratio to the bare
COPY. The peak RSS printed is that of the importing process alone, then that of its parser
process (imports.parser_child). After each import it runs the search catch-up the import asks
a worker for (products/search.py) and prints how long search took to catch up.
"""

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import _django
from import_profile import process_cpu_seconds

BENCH_DIR = Path(__file__).resolve().parent


def child_import(path: Path, *, search: bool = True) -> dict:
    """Stage and import `path` through the service; report the run's wall time and peak RSS,
    then (if `search`) run the search catch-up the import asks a worker for, and its time."""
    from django.core.files import File

    from config.celery import app
    from imports.services import import_job_create, import_job_run
    from products.bulk import products_bulk_analyze, products_bulk_statistics_stale
    from products.search import product_search_catch_up

    with open(path, "rb") as source:
        job = import_job_create(file=File(source), name=path.name, user=None, enqueue=False)
    # A worker publishes through a broker connection it already holds; this fresh process would
    # open one inside the timed import, when the import queues its search catch-up (~0.1 s).
    with app.producer_or_acquire() as producer:
        producer.connection.ensure_connection(max_retries=1)
    cpu = BackendCpu()
    with ParserPeakRss() as parser_rss:
        job = import_job_run(job_id=job.pk)
        imported_at = time.time()
    backend_cpu_seconds = cpu.seconds()
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if products_bulk_statistics_stale(changed=job.created_count + job.updated_count):
        # The statistics refresh the import asked a worker for (products_bulk_analyze_soon):
        # the next case meets the statistics a worker would have left.
        products_bulk_analyze()
    started = time.perf_counter()
    if search:
        product_search_catch_up()
    search_seconds = time.perf_counter() - started if search else None
    app.control.purge()  # the catch-up request the import queued: done just above
    return {
        "seconds": (job.finished_at - job.started_at).total_seconds(),
        "backend_cpu_seconds": backend_cpu_seconds,
        "imported_at": imported_at,
        "search_seconds": search_seconds,
        "rows": job.rows_processed,
        "created": job.created_count,
        "updated": job.updated_count,
        "unchanged": job.unchanged_count,
        "duplicates": job.duplicate_count,
        "status": job.status,
        "peak_rss_mb": peak_rss_mb,
        "parser_rss_mb": parser_rss.peak_kb / 1024,
    }


class BackendCpu:
    """CPU time of this process's PostgreSQL session from now on: other work on the machine
    disturbs it much less than wall time. None when the server runs elsewhere (its process is
    not visible here)."""

    def __init__(self):
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self._pid = cursor.fetchone()[0]
        self._start = self._read()

    def _read(self) -> float | None:
        try:
            return process_cpu_seconds(self._pid)
        except OSError:
            return None

    def seconds(self) -> float | None:
        end = self._read()
        return None if end is None or self._start is None else end - self._start


class ParserPeakRss(threading.Thread):
    """The largest peak RSS (VmHWM) among this process's children that run the import's parser,
    sampled every 10 ms. (getrusage's figure for children also counts the parent's memory
    they were forked from before they exec'd Python, and so would a sample taken between the
    fork and the exec: hence the check of the command line.)"""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak_kb = 0
        self._finished = threading.Event()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info):
        self._finished.set()
        self.join()

    def run(self):
        while not self._finished.wait(0.01):
            for path in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
                for pid in path.read_text().split():
                    with contextlib.suppress(OSError):  # ended meanwhile
                        if b"imports.parser_child" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                            continue
                        status = Path(f"/proc/{pid}/status").read_text()
                        if "VmHWM:" in status:  # not yet a zombie
                            self.peak_kb = max(self.peak_kb, int(status.split("VmHWM:")[1].split()[0]))


def bare_copy_seconds(path: Path) -> float:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_bare_copy")
        cursor.execute("CREATE TABLE bench_bare_copy (name text, sku text, description text)")
        started = time.perf_counter()
        with open(path, "rb") as source, cursor.cursor.copy(
            "COPY bench_bare_copy FROM STDIN (FORMAT csv, HEADER true)"
        ) as copy:
            while chunk := source.read(1024 * 1024):
                copy.write(chunk)
        seconds = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_bare_copy")
    return seconds


def run_child(path: Path, *, search: bool = True) -> dict:
    started = time.time()
    output = subprocess.run(
        [sys.executable, __file__, "--child", str(path), *([] if search else ["--no-search"])],
        check=True, capture_output=True, text=True,
    ).stdout
    result = json.loads(output.strip().splitlines()[-1])
    return {**result, "process_seconds": result.pop("imported_at") - started}


def ensure_file(rows: int, variant: int = 0) -> Path:
    """The generated file of `rows` rows (other names and descriptions for a `variant`)."""
    path = BENCH_DIR / "data" / f"products-spread-{rows}.csv"
    return variant_file(path, variant) if variant else generated(path, rows, 0)


def variant_file(path: Path, variant: int) -> Path:
    """`path`'s variant: the same SKUs with other names (generated with the same row count)."""
    rows = sum(1 for _ in path.open("rb")) - 1
    return generated(path.with_name(f"{path.stem}-v{variant}.csv"), rows, variant)


def generated(path: Path, rows: int, variant: int) -> Path:
    if not path.exists():
        generator = BENCH_DIR / "generate_products_csv.py"
        subprocess.run([sys.executable, generator, path, "--rows", str(rows), "--variant", str(variant)], check=True)
    return path


def truncate_products() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE products_product, products_productsearch, products_productsearchbacklog,"
            " products_productsearchcatchup, imports_importrowerror, imports_importjob"
        )


def report(label: str, results: list[dict], copy_seconds: float | None, goal: float | None) -> None:
    """Lines for the median run of a case (by job time): job and process time, and its search catch-up."""
    result = sorted(results, key=lambda run: run["seconds"])[len(results) // 2]
    spread = f"{min(run['seconds'] for run in results):.2f}-{max(run['seconds'] for run in results):.2f}"
    line = (
        f"{label:<22} job {result['seconds']:6.2f} s ({spread})  {result['rows'] / result['seconds']:9,.0f} rows/s  "
        f"peak RSS {max(run['peak_rss_mb'] for run in results):5.1f} MB"
        f" + parser {max(run['parser_rss_mb'] for run in results):4.1f} MB  "
        f"created {result['created']:,} updated {result['updated']:,}"
        f" unchanged {result.get('unchanged', 0):,} duplicates {result.get('duplicates', 0):,}"
    )
    if copy_seconds:
        ratio = result["seconds"] / copy_seconds
        line += f"  {ratio:4.1f}x COPY"
        if goal:
            line += f" (goal ≤ {goal:g}x: {'ok' if ratio <= goal else 'MISSED'})"
    print(line, flush=True)
    process = f"{'':<22} process {result['process_seconds']:6.2f} s"
    if copy_seconds:
        process += f"  {result['process_seconds'] / copy_seconds:4.1f}x COPY"
    print(process + " (the child from its start: Python, Django, staging the file, the import)", flush=True)
    if result["backend_cpu_seconds"] is not None:
        print(f"{'':<22} backend CPU {result['backend_cpu_seconds']:6.2f} s (the importing session's PostgreSQL process)")
    if results[0]["search_seconds"] is None:
        return
    searches = sorted(run["search_seconds"] for run in results)
    print(f"{'':<22} then search caught up in {searches[len(searches) // 2]:.2f} s (a worker's catch-up)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--data", type=Path, help="import this CSV file instead of the generated one")
    parser.add_argument("--runs", type=int, default=3, help="runs of each case; the median is reported")
    parser.add_argument("--big", type=int, default=0, help="also import a file of this many rows (RSS check)")
    parser.add_argument("--no-search", action="store_true", help="do not time the search catch-up after each import")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    _django.setup(migrate=not args.child)  # the parent has migrated
    from django.conf import settings

    settings.MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="import-bench-"))

    try:
        if args.child:
            print(json.dumps(child_import(args.child, search=not args.no_search)))
        else:
            benchmark(args.rows, args.big, args.runs, data=args.data, search=not args.no_search)
    finally:
        shutil.rmtree(settings.MEDIA_ROOT)  # staged copies of the files


def benchmark(rows: int, big: int, runs: int, *, data: Path | None = None, search: bool = True) -> None:
    path = data or ensure_file(rows)
    changed_path = variant_file(path, 1)
    rows = sum(1 for _ in path.open("rb")) - 1
    print(f"{path.name}: {path.stat().st_size / 1e6:.1f} MB, {os.cpu_count()} CPUs, median of {runs} runs", flush=True)
    # This machine's speed wanders by a third from minute to minute: the ratios compare medians
    # of runs interleaved with each other.
    copies, cases = [], {"fresh": [], "same": [], "changed": []}
    for _ in range(runs):
        truncate_products()
        copies.append(bare_copy_seconds(path))
        cases["fresh"].append(run_child(path, search=search))
        cases["same"].append(run_child(path, search=search))
        # Unchanged products are not rewritten, so also import the same SKUs with new names: every row a real UPDATE.
        cases["changed"].append(run_child(changed_path, search=search))
    copy_seconds = sorted(copies)[len(copies) // 2]
    spread = f"{min(copies):.2f}-{max(copies):.2f}"
    print(f"{'bare COPY':<22} {copy_seconds:7.2f} s ({spread})  {rows / copy_seconds:9,.0f} rows/s", flush=True)
    report("fresh import", cases["fresh"], copy_seconds, 5)
    report("re-import, same file", cases["same"], copy_seconds, 7)
    # The goals are for a fresh import and a re-import of the same file; this one has none.
    report("re-import, all changed", cases["changed"], copy_seconds, None)
    if big:
        big_path = ensure_file(big)
        truncate_products()
        report(f"fresh import {big:,}", [run_child(big_path, search=search)], None, None)
    truncate_products()


if __name__ == "__main__":
    main()
