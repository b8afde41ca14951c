"""Webhook throughput: deliveries/s from emit() to a local receiver through real Celery workers.

    flock /tmp/bench.lock .venv/bin/python bench/webhook_benchmark.py [--deliveries 2000] [--concurrency 2]

Uses DATABASE_URL and REDIS_URL like the app (run `manage.py migrate` first). Starts its own
worker process (`celery -A config worker`), a receiver on loopback answering 200 at once, and
removes its endpoints afterwards. Also times emit() itself for a full 1,000-product batch.
"""

import argparse
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.db import transaction  # noqa: E402

from config.celery import app as celery_app  # noqa: E402
from webhooks import events  # noqa: E402
from webhooks.models import Delivery, Endpoint  # noqa: E402
from webhooks.services import emit  # noqa: E402
from webhooks.tests.receiver import Receiver  # noqa: E402

PRODUCT = {
    "id": 1, "sku": "SKU-000001", "name": "A product name of usual length", "description": "x" * 120,
    "price": str(Decimal("19.99")), "active": True,
    "created_at": "2026-01-01T00:00:00+00:00", "updated_at": "2026-01-01T00:00:00+00:00",
}


def _start_worker(concurrency: int) -> subprocess.Popen:
    worker = subprocess.Popen(
        [str(ROOT / ".venv/bin/celery"), "-A", "config", "worker", "--loglevel", "WARNING",
         "--concurrency", str(concurrency), "--hostname", f"bench-{os.getpid()}@%h"],
        cwd=ROOT,
    )
    deadline = time.monotonic() + 30
    while not celery_app.control.ping(timeout=1):
        if time.monotonic() > deadline:
            worker.terminate()
            raise SystemExit("the benchmark worker did not start")
    return worker


def _run(receiver: Receiver, *, deliveries: int, products_per_event: int, endpoints: int) -> float:
    """Emit `deliveries` deliveries in one transaction; seconds until the receiver has them all."""
    created = [Endpoint.objects.create(url=receiver.url, description="benchmark", event_types=[events.PRODUCT_CREATED])
               for _ in range(endpoints)]
    data = {"products": [PRODUCT] * products_per_event}
    receiver.requests.clear()
    started = time.monotonic()
    with transaction.atomic():
        for _ in range(deliveries // endpoints):
            emit(events.PRODUCT_CREATED, data)
    receiver.wait_for(deliveries, timeout=600)
    # The last rows are written just after the last answer: wait for the log to be complete too.
    while Delivery.objects.filter(endpoint__in=created).exclude(status=Delivery.Status.SUCCEEDED).exists():
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    Endpoint.objects.filter(pk__in=[e.pk for e in created]).delete()
    return elapsed


def _time_emit(*, endpoints: int, calls: int = 20) -> float:
    """Milliseconds per emit() of a 1,000-product batch (rolled back: nothing is sent)."""
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes (CELERY_CONCURRENCY)")
    args = parser.parse_args()

    print(f"emit() of 1,000 products to 3 endpoints: {_time_emit(endpoints=3):.1f} ms per call")
    worker = _start_worker(args.concurrency)
    try:
        with Receiver() as receiver:
            for label, products, endpoints in [("small payload (1 product)", 1, 4),
                                               ("import batch (1,000 products)", 1000, 2)]:
                count = args.deliveries if products == 1 else max(2, args.deliveries // 10)
                seconds = _run(receiver, deliveries=count, products_per_event=products, endpoints=endpoints)
                size_kb = len(receiver.requests[0].body) / 1024
                print(f"{label}: {count} deliveries ({size_kb:.0f} KB each) in {seconds:.2f} s"
                      f" = {count / seconds:.0f} deliveries/s with {args.concurrency} worker processes")
    finally:
        worker.terminate()
        worker.wait(timeout=30)


if __name__ == "__main__":
    main()
