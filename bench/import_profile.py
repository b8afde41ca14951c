"""Where one fresh import's time goes, batch by batch, on the import benchmark's file.

    flock /tmp/bench.lock .venv/bin/python bench/import_profile.py [--data FILE]

It empties the products of its `_bench` database (bench/_django.py), runs one import in this
process with timers around the pipeline's steps, and prints per batch: the wait for the batch
from the parser, the append's COPY, the merge of the batch's repeats, the search backlog, the
error log, the job's progress save, the commit, the cancel check; then the end (the held repeats' merge, the
job's finish) and the PostgreSQL backend's CPU time (/proc/<pid>/stat) against the wall time
of each step: a backend idle while the job waits is time the parser, not the database, sets.
With --waits, a thread with its own connection samples the backend's wait event in
pg_stat_activity every 5 ms over the import and prints each state's share of the samples (the
thread costs the importing process some CPU: compare such runs with each other).
"""

import argparse
import contextlib
import functools
import os
import resource
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import _django

BENCH_DIR = Path(__file__).resolve().parent
TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process on this machine has used, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


class Clock:
    """Wall and backend CPU seconds per step name, for the current batch and the whole run."""

    def __init__(self, backend_pid: int):
        self.backend_pid = backend_pid
        self.rows: list[dict] = []
        self.current: dict = defaultdict(float)

    def cpu(self) -> float:
        return process_cpu_seconds(self.backend_pid)

    def timed(self, name: str, function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            wall, cpu = time.perf_counter(), self.cpu()
            try:
                return function(*args, **kwargs)
            finally:
                self.current[name] += time.perf_counter() - wall
                self.current[name + " cpu"] += self.cpu() - cpu

        return wrapper

    def next_batch(self) -> None:
        self.rows.append(self.current)
        self.current = defaultdict(float)


def timed_batches(clock: Clock, batches):
    """The parser's batches, timing the wait for each one."""
    clock.before, clock.current = clock.current, defaultdict(float)
    while True:
        wall, cpu = time.perf_counter(), clock.cpu()
        try:
            item = next(batches)
        except StopIteration:
            return
        clock.current["wait"] += time.perf_counter() - wall
        clock.current["wait cpu"] += clock.cpu() - cpu
        clock.current["rows"] = item[0].rows_read
        yield item
        clock.next_batch()


STEPS = ("wait", "append", "merge", "backlog", "errors", "save", "commit", "cancel")
WAIT_SAMPLE_SECONDS = 0.005


@contextlib.contextmanager
def sampled_waits(backend_pid: int):
    """Count the backend's (state, wait event type, wait event, statement) every
    WAIT_SAMPLE_SECONDS in a thread with its own connection, while the block runs."""
    import psycopg
    from django.db import connection

    samples: Counter = Counter()
    stop = threading.Event()
    settings = connection.settings_dict
    conninfo = {"host": settings["HOST"], "port": settings["PORT"], "user": settings["USER"], "dbname": settings["NAME"]}

    def sample() -> None:
        with psycopg.connect(**conninfo, password=settings["PASSWORD"] or None, autocommit=True) as watcher:
            while not stop.wait(WAIT_SAMPLE_SECONDS):
                samples[watcher.execute(
                    "SELECT state, wait_event_type, wait_event, CASE WHEN state = 'active' THEN substring(query from '\\w+') END"
                    " FROM pg_stat_activity WHERE pid = %s", [backend_pid],
                ).fetchone()] += 1

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join()


def profile(path: Path, *, waits: bool = False) -> None:
    from django.core.files import File
    from django.db import connection
    from django.db.models import QuerySet

    import imports.pipeline as pipeline
    from imports.models import ImportJob
    from imports.parser_process import ParserProcess
    from imports.services import import_job_create, import_job_run

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE products_product, products_productsearch, products_productsearchbacklog,"
            " products_productsearchcatchup, imports_importrowerror, imports_importjob"
        )
        cursor.execute("SELECT pg_backend_pid()")
        clock = Clock(cursor.fetchone()[0])
    with open(path, "rb") as source:
        job = import_job_create(file=File(source), name=path.name, user=None, enqueue=False)

    for name, attribute in (
        ("append", "products_bulk_append"), ("merge", "products_bulk_merge"), ("backlog", "product_search_backlog_extend"),
    ):  # fmt: skip
        setattr(pipeline, attribute, clock.timed(name, getattr(pipeline, attribute)))
    pipeline.RowErrorLog.add = clock.timed("errors", pipeline.RowErrorLog.add)
    ImportJob.save = clock.timed("save", ImportJob.save)
    connection.commit = clock.timed("commit", connection.commit)
    batches = ParserProcess.batches
    ParserProcess.batches = lambda parser: timed_batches(clock, batches(parser))
    QuerySet.exists = clock.timed("cancel", QuerySet.exists)

    started_cpu, started = clock.cpu(), time.perf_counter()
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    with sampled_waits(clock.backend_pid) if waits else contextlib.nullcontext() as samples:
        job = import_job_run(job_id=job.pk)
    own_after, children_after = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = {
        name: after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        for name, before, after in (("importing process", own, own_after), ("parser", children, children_after))
    }
    backend_cpu = clock.cpu() - started_cpu
    job_seconds = (job.finished_at - job.started_at).total_seconds()
    end = clock.current  # what ran after the last batch: the held repeats' merge and the job's finish
    print(
        f"{path.name}: {job.rows_processed:,} rows, job {job_seconds:.2f} s (import_job_run"
        f" {time.perf_counter() - started:.2f} s); CPU: PostgreSQL backend {backend_cpu:.2f} s, "
        + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in cpu.items())
    )
    print("batch   rows " + "".join(f"{step:>9}" for step in STEPS) + "   backend CPU / wall (ms)")
    totals = defaultdict(float)
    for number, row in enumerate(clock.rows, 1):
        wall = sum(row[step] for step in STEPS)
        cpu = sum(row[step + " cpu"] for step in STEPS)
        for key, value in row.items():
            totals[key] += value
        print(f"{number:>5} {row['rows']:>6} " + "".join(f"{1000 * row[s]:9.0f}" for s in STEPS) + f"   {1000 * cpu:5.0f} / {1000 * wall:5.0f}")
    wall = sum(totals[step] for step in STEPS)
    cpu = sum(totals[step + " cpu"] for step in STEPS)
    print("  all        " + "".join(f"{1000 * totals[s]:9.0f}" for s in STEPS) + f"   {1000 * cpu:5.0f} / {1000 * wall:5.0f}")
    print("backend CPU per step (ms): " + ", ".join(f"{s} {1000 * totals[s + ' cpu']:.0f}" for s in STEPS))
    print(
        f"after the last batch: merge {1000 * end['merge']:.0f} ms,"
        f" the job's last save and commit {1000 * (end['save'] + end['commit']):.0f} ms;"
        f" before the first batch: saves {1000 * clock.before['save']:.0f} ms, header and the rest;"
        f" unaccounted: {1000 * (job_seconds - wall - end['merge'] - end['save'] - end['commit']):.0f} ms"
    )
    if samples:
        total = sum(samples.values())
        print(f"the backend's state, {total:,} samples (state, wait event type, wait event, statement):")
        for state, share in samples.most_common(12):
            print(f"  {100 * share / total:5.1f}%  " + ", ".join(str(part) for part in state if part))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=BENCH_DIR / "data" / "products-spread-500000.csv")
    parser.add_argument("--waits", action="store_true", help="sample the backend's wait events too")
    args = parser.parse_args()
    _django.setup()
    from django.conf import settings

    settings.MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="import-profile-"))
    profile(args.data, waits=args.waits)


if __name__ == "__main__":
    main()
