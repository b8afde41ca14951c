"""Every job not yet ended runs again after its worker, its message or its database session is lost, and once only."""

import time
from contextlib import contextmanager

import psycopg
import pytest
from django.db import connection

from config import locks
from imports import services
from imports.models import ImportJob
from config.tests.processes import wait_for
from imports.tests.processes import celery_worker, job_ended
from products.models import Product


def _other_session() -> psycopg.Connection:
    return psycopg.connect(**connection.get_connection_params(), autocommit=True)


@pytest.mark.django_db
def test_a_running_job_whose_lock_is_free_is_sent_again_at_once(make_job, django_capture_on_commit_callbacks):
    """No heartbeat timeout: a running job nobody holds the lock of lost its run, and gets a new message."""
    job = make_job("sku,name\na,A\n")
    ImportJob.objects.filter(pk=job.pk).update(status="running", celery_task_id="lost")
    with _other_session() as other:
        other.execute("SELECT pg_advisory_lock(%s)", [locks.import_job(job.pk)])
        with django_capture_on_commit_callbacks() as callbacks:
            assert services.import_jobs_recover() == 0  # its run is alive
        assert callbacks == []
        # Released now: a closed session's locks go a moment later, when its backend exits.
        other.execute("SELECT pg_advisory_unlock(%s)", [locks.import_job(job.pk)])
    with django_capture_on_commit_callbacks() as callbacks:
        assert services.import_jobs_recover() == 1
    assert len(callbacks) == 1
    assert ImportJob.objects.get(pk=job.pk).celery_task_id not in {"", "lost"}


@pytest.mark.django_db
def test_a_queued_job_is_sent_again_once_its_message_may_be_lost(make_job, django_capture_on_commit_callbacks):
    """A job queued for QUEUED_RESEND_AFTER without starting is sent again, and its clock restarts."""
    job = make_job("sku,name\na,A\n")
    with django_capture_on_commit_callbacks():
        assert services.import_jobs_recover() == 0  # just queued
        ImportJob.objects.filter(pk=job.pk).update(updated_at=job.updated_at - services.QUEUED_RESEND_AFTER)
        assert services.import_jobs_recover() == 1
        assert services.import_jobs_recover() == 0


@pytest.mark.django_db
def test_ended_jobs_are_never_sent_again(make_job, django_capture_on_commit_callbacks):
    """Completed, failed and cancelled jobs stay as they are, however old."""
    for status in ImportJob.ENDED:
        job = make_job("sku,name\na,A\n")
        long_ago = job.updated_at - services.QUEUED_RESEND_AFTER
        ImportJob.objects.filter(pk=job.pk).update(status=status, updated_at=long_ago)
    with django_capture_on_commit_callbacks() as callbacks:
        assert services.import_jobs_recover() == 0
    assert callbacks == []


@pytest.mark.django_db
def test_a_message_the_job_was_sent_again_after_does_nothing(make_job):
    """Only the job's latest message runs it: an older one that still arrives imports nothing."""
    job = make_job("sku,name\na,A\nb,B\n")
    ImportJob.objects.filter(pk=job.pk).update(celery_task_id="second")
    assert services.import_job_run(job_id=job.pk, task_id="first").status == "queued"
    assert not Product.objects.exists()
    job = services.import_job_run(job_id=job.pk, task_id="second")
    assert (job.status, job.attempts, job.created_count) == ("completed", 1, 2)


@pytest.mark.django_db
def test_database_sessions_ask_postgresql_to_drop_them_soon_when_their_machine_vanishes():
    """A lost machine sends no FIN; the session settings make PostgreSQL notice a silent client
    (and free its job locks) in about half a minute instead of the OS's two hours."""
    with connection.cursor() as cursor:
        shown = {}
        names = ["tcp_keepalives_idle", "tcp_keepalives_count", "client_connection_check_interval", "tcp_user_timeout"]
        for name in names:
            cursor.execute(f"SHOW {name}")
            shown[name] = cursor.fetchone()[0]
    assert shown == {
        "tcp_keepalives_idle": "10", "tcp_keepalives_count": "3",
        "client_connection_check_interval": "10s", "tcp_user_timeout": "30000",
    }  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_a_run_that_loses_its_database_session_leaves_the_job_to_recovery(make_job, small_batches, celery_worker):
    """The session dies mid-import (as in a database restart): the run ends with ImportInterrupted,
    recording nothing; the job, still running with its lock gone, is recovered and imports once."""
    job = make_job("sku,name\na,A\nb,B\nc,C\nd,D\ne,E\n")
    with connection.cursor() as cursor:
        pid = cursor.connection.info.backend_pid
    with _other_session() as other, pytest.raises(services.ImportInterrupted):
        services.import_job_run(
            job_id=job.pk, on_progress=lambda job: other.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])
        )
    connection.close()
    job = ImportJob.objects.get(pk=job.pk)
    assert (job.status, job.rows_processed, job.attempts) == ("running", 2, 1)
    assert services.import_jobs_recover() == 1  # the worker runs it
    job = job_ended(job.pk, 30)
    counts = (job.created_count, job.updated_count, job.unchanged_count)
    assert (job.status, job.attempts, job.rows_processed, counts) == ("completed", 2, 5, (3, 0, 2))
    assert Product.objects.count() == 5


def _rows(prefix: str, count: int) -> str:
    return "sku,name\n" + "".join(f"{prefix}-{number},Product {number}\n" for number in range(count))


@pytest.mark.django_db(transaction=True)
def test_queued_imports_complete_after_redis_loses_its_queue(make_job, broker, tmp_path):
    """Three queued imports whose messages a Redis restart lost, and one sent twice (its first
    message outlived the loss): a worker and beat started afterwards run each exactly once."""
    lost = [make_job(_rows(f"LOST{number}", 1_000)) for number in range(3)]
    for job in lost:
        broker.send(job)
    broker.restart()
    assert broker.queued() == 0
    twice = make_job(_rows("TWICE", 1_000))
    broker.send(twice)
    broker.send(twice)  # as the recovery sweep does when it cannot tell the first was not lost
    # Queued a while ago, long enough for their messages to count as lost.
    ImportJob.objects.update(updated_at=twice.updated_at - services.QUEUED_RESEND_AFTER)
    log = tmp_path / "worker.log"
    with celery_worker(broker_url=broker.url, log=log, beat=True):
        ended = [job_ended(job.pk, 60) for job in [*lost, twice]]
    output = log.read_text()
    for job in ended:
        counts = (job.status, job.attempts, job.created_count, job.updated_count)
        assert counts == ("completed", 1, 1_000, 0), output[-3000:]
    assert Product.objects.count() == 4_000
    assert f"Import job {twice.pk} was sent again" in output


@contextmanager
def _database_restarting(application_name: str):
    """What a PostgreSQL restart does to a client: its sessions are terminated (the same 57P01
    "terminating connection due to administrator command" a fast shutdown sends), then new
    connections are refused for a while. Only the clients named `application_name` are hit."""
    database = connection.ops.quote_name(connection.settings_dict["NAME"])
    # PostgreSQL refuses to close the database it is asked from: ask from the maintenance one.
    with psycopg.connect(**{**connection.get_connection_params(), "dbname": "postgres"}, autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE {database} WITH ALLOW_CONNECTIONS false")
        try:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", [application_name]
            )
            yield
        finally:
            admin.execute(f"ALTER DATABASE {database} WITH ALLOW_CONNECTIONS true")


@pytest.mark.django_db(transaction=True)
def test_an_import_interrupted_by_a_database_restart_completes(make_job, broker, tmp_path):
    """The worker's sessions die mid-import and it cannot reconnect for a few seconds, as in a
    PostgreSQL restart: the import's tasks end without an error, and once the database answers
    the recovery sweep runs the job again, importing every row once."""
    rows = 150_000
    job = make_job(_rows("SKU", rows))
    log = tmp_path / "worker.log"
    with celery_worker(broker_url=broker.url, log=log, beat=True, application_name="recovery-test-worker"):
        broker.send(job)
        wait_for(lambda: ImportJob.objects.get(pk=job.pk).rows_processed, 60, "the import's first batch")
        with _database_restarting("recovery-test-worker"):
            time.sleep(5)
        restarted_at = time.monotonic()
        wait_for(lambda: ImportJob.objects.get(pk=job.pk).attempts == 2, 60, "the import to run again")
        print(f"running again {time.monotonic() - restarted_at:.1f} s after the database answered again")
        job = job_ended(job.pk, 120)
    output = log.read_text()
    assert (job.status, job.attempts, job.rows_processed, job.created_count + job.unchanged_count) == (
        "completed", 2, rows, rows,
    ), output[-3000:]  # fmt: skip
    assert Product.objects.count() == rows
    assert "lost its database session" in output
    # Other apps' periodic tasks may fail while the database is away; the imports' do not.
    imports_errors = [line for line in output.splitlines() if "ERROR" in line and "imports." in line]
    assert imports_errors == [] and "outside body" not in output, output
