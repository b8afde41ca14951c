"""The import task on a real Celery worker and real Redis."""

import pytest
from django.core.files.base import ContentFile

from imports.models import ImportJob
from imports.services import import_job_create
from products.models import Product


@pytest.mark.django_db(transaction=True)
def test_worker_imports_an_uploaded_job(celery_worker):
    """A job queued on commit is picked up by the worker and imported."""
    job = import_job_create(file=ContentFile(b"sku,name\na,A\nB,B\n"), name="queued.csv", user=None)
    result = celery_worker.app.AsyncResult(job.celery_task_id)
    assert result.get(timeout=20) == "completed"
    job = ImportJob.objects.get(pk=job.pk)
    assert (job.status, job.created_count, job.attempts) == ("completed", 2, 1)
    assert Product.objects.count() == 2
