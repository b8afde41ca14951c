"""Webhook benchmark: imports with subscribers against a bare COPY, and delivery throughput.

    flock /tmp/bench.lock .venv/bin/python bench/webhook_benchmark.py [--runs 3] [--rows 500000] [--data FILE]
    flock /tmp/bench.lock .venv/bin/python bench/webhook_benchmark.py --emit-only [--deliveries 2000]

In the benchmark database (bench/_django.py), runs after run: a bare COPY of the import
benchmark's file (repeats spread through it) or `--data`, a fresh import with nobody subscribed, then fresh imports with 1 and 3
endpoints subscribed to product.created and product.updated (job time, ratio to the COPY); after
each subscribed import a Celery worker (`--concurrency` processes) sends its deliveries to a
receiver on loopback that answers 200 at once: deliveries/s and products/s until the last one
has succeeded (unless `--no-deliveries`). `--emit-only` instead times emit() and deliveries of emit()ted events.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import _django
from import_benchmark import bare_copy_seconds, ensure_file

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = {
    "id": 1, "sku": "SKU-000001", "name": "A product name of usual length", "description": "x" * 120,
    "price": str(Decimal("19.99")), "active": True,
    "created_at": "2026-01-01T00:00:00+00:00", "updated_at": "2026-01-01T00:00:00+00:00",
}


def _start_worker(concurrency: int) -> subprocess.Popen:
    """A worker process on the benchmark's database and broker."""
    from django.conf import settings

    from config.celery import app as celery_app

    database = settings.DATABASES["default"]
    url = f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    env = {**os.environ, "DATABASE_URL": url, "CELERY_BROKER_URL": celery_app.conf.broker_url, "DEBUG": "false",
           "SECRET_KEY": "webhook-benchmark-only-" + "x" * 40, "WEBHOOKS_ALLOW_PRIVATE_URLS": "true"}
    worker = subprocess.Popen(
        [str(ROOT / ".venv/bin/celery"), "-A", "config", "worker", "--loglevel", "WARNING",
         "--concurrency", str(concurrency), "--hostname", f"bench-{os.getpid()}@%h"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not celery_app.control.ping(timeout=1):
        if time.monotonic() > deadline:
            worker.terminate()
            raise SystemExit("the benchmark worker did not start")
    return worker


def _drain(receiver, *, concurrency: int) -> tuple[int, int, float]:
    """Send every pending delivery through a fresh worker; (deliveries, products, seconds)."""
    from config.celery import app as celery_app
    from webhooks.models import Delivery
    from webhooks.services import _deliveries_enqueue

    celery_app.control.purge()  # what the import queued (its catch-up too): sent below, timed
    pending = Delivery.objects.filter(status=Delivery.Status.PENDING)
    ids = list(pending.order_by("id").values_list("id", flat=True))
    receiver.requests.clear()
    worker = _start_worker(concurrency)
    try:
        started = time.monotonic()
        _deliveries_enqueue(ids)
        receiver.wait_for(len(ids), timeout=900)
        while pending.exists():  # the last answers' rows are written just after them
            time.sleep(0.05)
        seconds = time.monotonic() - started
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    products = sum(len(json.loads(request.body)["data"].get("products", ())) for request in receiver.requests)
    receiver.requests.clear()  # ~130 MB per 500k products, not to be held while the next imports run
    return len(ids), products, seconds


def child_import(path: Path) -> dict:
    from django.core.files import File

    from imports.services import import_job_create, import_job_run

    with open(path, "rb") as source:
        job = import_job_create(file=File(source), name=path.name, user=None, enqueue=False)
    started = time.perf_counter()
    job = import_job_run(job_id=job.pk)
    return {"seconds": time.perf_counter() - started, "job_seconds": job.duration.total_seconds(),
            "created": job.created_count, "status": job.status,
            "peak_rss_mb": _peak_rss_mb()}


def _peak_rss_mb() -> float:
    """This process's peak RSS since it started its program (VmHWM). Not getrusage()'s
    ru_maxrss: a process started by subprocess also counts its parent's memory from before
    exec there, and the benchmark's parent holds the receiver's requests."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024


def _import(path: Path) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--child", str(path)], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def _reset(endpoints: int, receiver_url: str) -> None:
    from django.db import connection

    from webhooks import events
    from webhooks.models import Endpoint

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE products_product, products_productsearch, imports_importrowerror, imports_importjob,"
            " webhooks_endpoint, webhooks_event, webhooks_delivery, webhooks_deliveryattempt"
        )
    for _ in range(endpoints):
        Endpoint.objects.create(url=receiver_url, description="benchmark",
                                event_types=[events.PRODUCT_CREATED, events.PRODUCT_UPDATED])


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def benchmark_imports(*, path: Path, runs: int, concurrency: int, deliveries: bool) -> None:
    from webhooks.tests.receiver import Receiver

    print(f"{path.name}: {path.stat().st_size / 1e6:.1f} MB, {os.cpu_count()} CPUs, median of {runs} runs", flush=True)
    copies, jobs, drains = [], {0: [], 1: [], 3: []}, {1: [], 3: []}
    with Receiver() as receiver:
        for _ in range(runs):
            _reset(0, receiver.url)
            copies.append(bare_copy_seconds(path))
            for endpoints in jobs:
                _reset(endpoints, receiver.url)
                jobs[endpoints].append(_import(path))
                if endpoints and deliveries:
                    drains[endpoints].append(_drain(receiver, concurrency=concurrency))
        _reset(0, receiver.url)
    copy_seconds = _median(copies)
    print(f"{'bare COPY':<26} {copy_seconds:6.2f} s ({min(copies):.2f}-{max(copies):.2f})", flush=True)
    for endpoints, results in jobs.items():
        job = _median([result["job_seconds"] for result in results])
        spread = f"{min(r['job_seconds'] for r in results):.2f}-{max(r['job_seconds'] for r in results):.2f}"
        goal = "" if not endpoints else f" (goal ≤ 6x: {'ok' if job / copy_seconds <= 6 else 'MISSED'})"
        label = f"fresh import, {endpoints} subscribed"
        print(f"{label:<26} {job:6.2f} s ({spread})  {job / copy_seconds:4.1f}x COPY{goal}"
              f"  created {results[0]['created']:,}  peak RSS {max(r.get('peak_rss_mb', 0) for r in results):.0f} MB",
              flush=True)
    for endpoints, results in drains.items():
        if not results:
            continue
        deliveries, products, _ = results[0]
        seconds = _median([result[2] for result in results])
        print(f"deliveries to {endpoints} endpoint(s): {deliveries} ({products:,} products) in {seconds:.2f} s"
              f" = {deliveries / seconds:.0f} deliveries/s, {products / seconds:,.0f} products/s"
              f" with {concurrency} worker processes", flush=True)


def _emit_run(receiver, *, deliveries: int, products_per_event: int, endpoints: int, concurrency: int) -> float:
    """Emit `deliveries` deliveries in one transaction; seconds until the receiver has them all."""
    from django.db import transaction

    from webhooks import events
    from webhooks.models import Delivery, Endpoint
    from webhooks.services import emit

    created = [Endpoint.objects.create(url=receiver.url, description="benchmark", event_types=[events.PRODUCT_CREATED])
               for _ in range(endpoints)]
    data = {"products": [PRODUCT] * products_per_event}
    receiver.requests.clear()
    worker = _start_worker(concurrency)
    try:
        started = time.monotonic()
        with transaction.atomic():
            for _ in range(deliveries // endpoints):
                emit(events.PRODUCT_CREATED, data)
        receiver.wait_for(deliveries, timeout=600)
        while Delivery.objects.filter(endpoint__in=created).exclude(status=Delivery.Status.SUCCEEDED).exists():
            time.sleep(0.05)
        elapsed = time.monotonic() - started
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    Endpoint.objects.filter(pk__in=[e.pk for e in created]).delete()
    return elapsed


def _time_emit(*, endpoints: int, calls: int = 20) -> float:
    """Milliseconds per emit() of a 1,000-product batch (rolled back: nothing is sent)."""
    from django.db import transaction

    from webhooks import events
    from webhooks.models import Endpoint
    from webhooks.services import emit

    data = {"products": [PRODUCT] * events.PRODUCTS_PER_EVENT}
    with transaction.atomic():
        for _ in range(endpoints):
            Endpoint.objects.create(url="http://127.0.0.1:9/", event_types=[events.PRODUCT_CREATED])
        started = time.perf_counter()
        for _ in range(calls):
            emit(events.PRODUCT_CREATED, data)
        elapsed = time.perf_counter() - started
        transaction.set_rollback(True)
    return 1000 * elapsed / calls


def benchmark_emit(*, deliveries: int, concurrency: int) -> None:
    from webhooks.tests.receiver import Receiver

    print(f"emit() of 1,000 products to 3 endpoints: {_time_emit(endpoints=3):.1f} ms per call")
    with Receiver() as receiver:
        for label, products, endpoints in [("small payload (1 product)", 1, 4),
                                           ("import batch (1,000 products)", 1000, 2)]:
            count = deliveries if products == 1 else max(2, deliveries // 10)
            seconds = _emit_run(receiver, deliveries=count, products_per_event=products, endpoints=endpoints,
                                concurrency=concurrency)
            size_kb = len(receiver.requests[0].body) / 1024
            print(f"{label}: {count} deliveries ({size_kb:.0f} KB each) in {seconds:.2f} s"
                  f" = {count / seconds:.0f} deliveries/s with {concurrency} worker processes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--data", type=Path, help="import this CSV file instead of the generated one")
    parser.add_argument("--no-deliveries", action="store_true", help="time the imports only, not their deliveries")
    parser.add_argument("--runs", type=int, default=3, help="runs of each case; the median is reported")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes (CELERY_CONCURRENCY)")
    parser.add_argument("--emit-only", action="store_true", help="time emit() and its deliveries instead")
    parser.add_argument("--deliveries", type=int, default=2000, help="with --emit-only")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    _django.setup()
    import tempfile

    from django.conf import settings

    settings.MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="webhook-bench-"))
    try:
        if args.child:
            print(json.dumps(child_import(args.child)))
        elif args.emit_only:
            benchmark_emit(deliveries=args.deliveries, concurrency=args.concurrency)
        else:
            benchmark_imports(path=args.data or ensure_file(args.rows), runs=args.runs, concurrency=args.concurrency,
                              deliveries=not args.no_deliveries)
    finally:
        import shutil

        shutil.rmtree(settings.MEDIA_ROOT)


if __name__ == "__main__":
    main()
