import pytest
from django.core.files.base import ContentFile

from imports import pipeline
from imports.services import import_job_create, import_job_run
from imports.tests.processes import RedisServer


@pytest.fixture
def make_job(db):
    """A queued job staged from `content` (str is written as UTF-8), not sent to the broker."""

    def make(content: bytes | str, name: str = "products.csv", user=None):
        data = content.encode() if isinstance(content, str) else content
        return import_job_create(file=ContentFile(data, name=name), name=name, user=user, enqueue=False)

    return make


@pytest.fixture
def run_import(make_job):
    """Stage `content` and run its import in-process; returns the finished job."""

    def run(content: bytes | str, name: str = "products.csv"):
        return import_job_run(job_id=make_job(content, name).pk)

    return run


@pytest.fixture
def small_batches(monkeypatch):
    """Batches of two rows, so a tiny file crosses batch boundaries."""
    monkeypatch.setattr(pipeline, "BATCH_ROWS", 2)


@pytest.fixture
def broker(tmp_path):
    """A Redis of the test's own, for workers started with `processes.celery_worker`."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()
