"""Workers killed in the middle of an import, as the out-of-memory killer or a lost machine would: real
Celery workers (prefork, as deployed) in processes of their own, on the tests' database and their own Redis."""

import os
import signal
import time

import pytest

from imports.models import ImportJob
from config.tests.processes import wait_for
from imports.tests.processes import celery_worker, job_ended, kill_whole, pool_process
from products.models import Product

ROWS = 150_000


@pytest.fixture
def big_job(make_job):
    return make_job("sku,name\n" + "".join(f"SKU-{number},Product {number}\n" for number in range(ROWS)))


def _assert_imported_once(job: ImportJob, log) -> None:
    assert (job.status, job.attempts, job.rows_processed) == ("completed", 2, ROWS), log.read_text()[-3000:]
    assert job.created_count + job.unchanged_count == ROWS
    assert job.unchanged_count > 0  # the first run had committed some batches
    assert Product.objects.count() == ROWS


@pytest.mark.django_db(transaction=True)
def test_an_import_whose_worker_process_is_killed_runs_again_and_completes(big_job, broker, tmp_path):
    """The pool process dies mid-import; Celery hands the task out again (late ack, reject on
    worker lost) and the second run imports every row once."""
    log = tmp_path / "worker.log"
    with celery_worker(broker_url=broker.url, log=log) as worker:
        broker.send(big_job)
        wait_for(lambda: ImportJob.objects.get(pk=big_job.pk).rows_processed, 60, "the import's first batch")
        os.kill(wait_for(lambda: pool_process(worker), 5, "the pool process"), signal.SIGKILL)
        job = job_ended(big_job.pk, 120)
    _assert_imported_once(job, log)


@pytest.mark.django_db(transaction=True)
def test_an_import_whose_whole_worker_is_killed_completes_on_a_fresh_worker_within_a_minute(big_job, broker, tmp_path):
    """Main process, pool and parser SIGKILLed at once: the message stays unacknowledged in Redis
    for hours, yet a fresh worker with beat finds the job orphaned (its lock died with the
    sessions) and runs it again at once, importing every row once."""
    log = tmp_path / "worker.log"
    with celery_worker(broker_url=broker.url, log=log, beat=True) as worker:
        broker.send(big_job)
        wait_for(lambda: ImportJob.objects.get(pk=big_job.pk).rows_processed, 60, "the import's first batch")
        kill_whole(worker)
    assert ImportJob.objects.get(pk=big_job.pk).status == "running"
    killed_at = time.monotonic()
    with celery_worker(broker_url=broker.url, log=log, beat=True):
        wait_for(lambda: ImportJob.objects.get(pk=big_job.pk).attempts == 2, 60, "the import to run again")
        print(f"running again {time.monotonic() - killed_at:.1f} s after the kill")
        job = job_ended(big_job.pk, 120)
    _assert_imported_once(job, log)
