"""Real Redis servers and Celery workers in processes of their own, for the tests that kill them.

Each test starts its own `redis-server` on a free port, so killing or restarting it never
touches the suite's shared servers; workers run as deployed (prefork) on the tests' database.
"""

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from django.conf import settings
from kombu import Connection

from config.tests.processes import database_url, free_port, process_stop, wait_for
from imports.models import ImportJob
from imports.tasks import import_job_run_task


def job_ended(job_id: int, timeout: float) -> ImportJob:
    return wait_for(lambda: (job := ImportJob.objects.get(pk=job_id)).has_ended and job, timeout, "the import to end")


class RedisServer:
    """A throwaway Redis without persistence: a restart loses every queued message."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen | None = None

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                   "--dir", str(self.directory)]  # fmt: skip
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        wait_for(lambda: _answers(client), 30, "the test's Redis")

    def stop(self) -> None:
        if self._process:
            self._process.kill()
            self._process.wait()
            self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def send(self, job: ImportJob) -> None:
        """Queue the job's task here, under a message id the job names, as import_job_enqueue would."""
        task_id = f"test-{job.pk}-{time.monotonic_ns()}"
        ImportJob.objects.filter(pk=job.pk).update(celery_task_id=task_id)
        with Connection(self.url) as broker:
            import_job_run_task.apply_async(args=[job.pk], task_id=task_id, connection=broker)

    def queued(self) -> int:
        return redis.Redis.from_url(self.url).llen("celery")


def _answers(client: redis.Redis) -> bool:
    try:
        return client.ping()
    except redis.ConnectionError:
        return False


@contextmanager
def celery_worker(*, broker_url: str, log: Path, beat: bool = False, application_name: str = "import-test-worker"):
    """A prefork worker with one pool process (and with beat inside it when `beat`), in its own
    process group so a test can kill it whole; stopped when the block ends. Its database
    sessions carry `application_name`, so a test can find them."""
    env = {
        **os.environ,
        "CELERY_BROKER_URL": broker_url,
        "DATABASE_URL": f"{database_url()}?application_name={application_name}",
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "LOG_LEVEL": "INFO",
    }
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "prefork", "--concurrency", "1",
               "--without-gossip", "--without-mingle", "--loglevel", "INFO"]  # fmt: skip
    if beat:
        command += ["--beat", "--schedule", str(log.with_suffix(".beat-schedule"))]
    with open(log, "ab") as output:
        worker = subprocess.Popen(
            command, env=env, cwd=settings.BASE_DIR, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield worker
    finally:
        process_stop(worker)


def kill_whole(worker: subprocess.Popen) -> None:
    """SIGKILL the worker's main process and every child (pool, beat, parser) at once, as a lost machine would."""
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()


def pool_process(worker: subprocess.Popen) -> int | None:
    children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
    return int(children[0]) if children else None
