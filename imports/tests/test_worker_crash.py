"""A worker process killed in the middle of an import, as the out-of-memory killer would: a real
Celery worker (prefork, as deployed) in a process of its own, on the tests' database and Redis."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from imports.models import ImportJob
from imports.tasks import import_job_run_task
from products.models import Product

ROWS = 300_000
# The worker listens only here, so the session's in-process worker never takes this task.
QUEUE = "import-crash-test"


def _database_url() -> str:
    params = connection.settings_dict
    password = f":{params['PASSWORD']}" if params["PASSWORD"] else ""
    return f"postgres://{params['USER']}{password}@{params['HOST']}:{params['PORT']}/{params['NAME']}"


def _wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"Timed out waiting for {what}.")
        time.sleep(0.02)
    return result


def _pool_process(worker: subprocess.Popen) -> int | None:
    children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
    return int(children[0]) if children else None


@pytest.mark.django_db(transaction=True)
def test_an_import_whose_worker_process_is_killed_runs_again_and_completes(make_job, settings, tmp_path):
    """The pool process dies mid-import; Celery hands the task out again (late ack, reject on
    worker lost) and the second run imports every row once."""
    job = make_job("sku,name\n" + "".join(f"SKU-{number},Product {number}\n" for number in range(ROWS)))
    log = tmp_path / "worker.log"
    env = {**os.environ, "DATABASE_URL": _database_url(), "MEDIA_ROOT": str(settings.MEDIA_ROOT), "LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "prefork", "--concurrency", "1",
               "--queues", QUEUE, "--without-gossip", "--without-mingle", "--loglevel", "WARNING"]  # fmt: skip
    with open(log, "wb") as output:
        worker = subprocess.Popen(command, env=env, cwd=settings.BASE_DIR, stdout=output, stderr=subprocess.STDOUT)
    try:
        import_job_run_task.apply_async(args=[job.pk], queue=QUEUE)
        _wait_for(lambda: ImportJob.objects.get(pk=job.pk).rows_processed, 60, "the import's first batch")
        os.kill(_wait_for(lambda: _pool_process(worker), 5, "the pool process"), signal.SIGKILL)

        job = _wait_for(
            lambda: (found := ImportJob.objects.get(pk=job.pk)).has_ended and found, 120, "the import to end"
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    assert (job.status, job.attempts, job.rows_processed) == ("completed", 2, ROWS), log.read_text()[-3000:]
    assert job.created_count + job.unchanged_count == ROWS
    assert job.unchanged_count > 0  # the first run had committed some batches
    assert Product.objects.count() == ROWS
