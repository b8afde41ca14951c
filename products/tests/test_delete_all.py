import time

import pytest
from django.urls import reverse

from products import services
from products.models import DeleteAllJob, Product, ProductSearch
from products.tests.factories import product_make


@pytest.mark.django_db
def test_delete_all_empties_the_catalogue_and_records_the_count(staff_user):
    """The job deletes every product and its search row, and records how many, who and when."""
    for number in range(3):
        product_make(f"P-{number}")
    job = DeleteAllJob.objects.create(requested_by=staff_user)
    job = services.products_delete_all(job_id=job.pk)
    assert (job.status, job.deleted_count, job.error) == (DeleteAllJob.Status.SUCCEEDED, 3, "")
    assert job.finished_at is not None and job.requested_by == staff_user
    assert Product.objects.count() == 0
    assert ProductSearch.objects.count() == 0


@pytest.mark.django_db
def test_delete_all_run_twice_changes_nothing_the_second_time(staff_user):
    """A redelivered task finds its job finished and leaves later products alone."""
    product_make("P-1")
    job = DeleteAllJob.objects.create(requested_by=staff_user)
    services.products_delete_all(job_id=job.pk)
    product_make("P-2")
    job = services.products_delete_all(job_id=job.pk)
    assert job.deleted_count == 1
    assert Product.objects.count() == 1


@pytest.mark.django_db
def test_job_fails_and_deletes_nothing_when_an_import_is_running(staff_user, import_running):
    """If an import took the lock after the job was queued, the job fails with the reason."""
    product_make("P-1")
    job = DeleteAllJob.objects.create(requested_by=staff_user)
    job = services.products_delete_all(job_id=job.pk)
    assert job.status == DeleteAllJob.Status.FAILED
    assert job.error == services.IMPORT_RUNNING_MESSAGE
    assert Product.objects.count() == 1


@pytest.mark.django_db
def test_view_refuses_at_once_while_an_import_is_running(staff_client, import_running):
    """The button answers with a clear refusal and records no job."""
    product_make("P-1")
    response = staff_client.post(reverse("products:delete_all"), headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "An import is running" in response.content.decode()
    assert "An import is running" in response["HX-Trigger"]
    assert not DeleteAllJob.objects.exists()
    assert Product.objects.count() == 1


@pytest.mark.django_db
def test_a_second_request_while_one_is_pending_returns_the_same_job(staff_user):
    """Two clicks make one job."""
    first = services.products_delete_all_start(requested_by=staff_user)
    second = services.products_delete_all_start(requested_by=staff_user)
    assert first == second
    assert DeleteAllJob.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_delete_all_runs_in_the_worker_and_the_job_fragment_toasts_the_count(staff_client, celery_worker):
    """The view queues the task on commit; polling the job ends with a toast of the count."""
    for number in range(2):
        product_make(f"P-{number}")
    response = staff_client.post(reverse("products:delete_all"), headers={"HX-Request": "true"})
    job = DeleteAllJob.objects.get()
    assert job.get_absolute_url() in response.content.decode()  # the polling fragment
    deadline = time.monotonic() + 20
    while not job.is_finished and time.monotonic() < deadline:
        time.sleep(0.1)
        job.refresh_from_db()
    response = staff_client.get(job.get_absolute_url(), headers={"HX-Request": "true"})
    assert "Deleted 2 products." in response["HX-Trigger"]
    assert "hx-trigger" not in response.content.decode()  # polling stops
    assert Product.objects.count() == 0
