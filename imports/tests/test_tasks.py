"""The import task on a real Celery worker and real Redis."""

import time

import pytest
from django.core.files.base import ContentFile

from imports.services import import_job_create
from imports.tests.processes import job_ended
from products.models import Product
from products.selectors import ProductFilters, product_filter, product_search_is_behind


@pytest.mark.django_db(transaction=True)
def test_worker_imports_an_uploaded_job(celery_worker):
    """A job queued on commit is picked up by the worker and imported."""
    job = import_job_create(file=ContentFile(b"sku,name\na,A\nB,B\n"), name="queued.csv", user=None)
    job = job_ended(job.pk, 20)
    assert (job.status, job.created_count, job.attempts) == ("completed", 2, 1)
    assert Product.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_an_ended_import_makes_its_products_findable_by_the_filters(celery_worker):
    """The import's end queues a search catch-up, which the worker runs: the name filter then finds the rows."""
    job = import_job_create(file=ContentFile(b"sku,name\nz-1,Zebrawood Stool\nz-2,Oak Table\n"), name="new.csv", user=None)
    assert job_ended(job.pk, 20).status == "completed"
    deadline = time.monotonic() + 20
    while product_search_is_behind() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not product_search_is_behind()
    found = product_filter(filters=ProductFilters(name="zebrawood"))
    assert [product.sku for product in found] == ["z-1"]
