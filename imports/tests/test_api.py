"""The imports API: upload checked like the browser's, job progress and counts, cancel, retry, error CSV."""

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from imports.models import ImportJob
from products.models import Product


def upload(api_client, content: bytes, name="products.csv"):
    return api_client.post("/api/imports/", {"file": SimpleUploadedFile(name, content)}, format="multipart")


def wait_until_ended(api_client, job_id: int, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = api_client.get(f"/api/imports/{job_id}/").json()
        if body["status"] not in ("queued", "running") or time.monotonic() > deadline:
            return body
        time.sleep(0.1)


@pytest.mark.django_db(transaction=True)
def test_upload_is_imported_by_the_worker_and_reports_counts(api_client, celery_worker):
    """202 with the queued job; polling shows it complete with its counts and first row errors."""
    response = upload(api_client, b"sku,name,price\nA-1,Lamp,9.50\nA-2,Desk,oops\nA-3,Chair,\na-1,Lamp,9.50\n")
    assert response.status_code == 202
    job = response.json()
    assert job["status"] == "queued" and job["name"] == "products.csv" and job["size"] == 68
    body = wait_until_ended(api_client, job["id"])
    assert body["status"] == "completed_with_errors"
    counts = [body[name] for name in ("rows", "created", "updated", "unchanged", "duplicates", "skipped", "errors")]
    assert counts == [4, 2, 0, 0, 1, 1, 1]
    assert body["percent"] == 100 and body["rows_per_second"] > 0 and body["eta_seconds"] is None
    [row_error] = body["first_errors"]
    assert (row_error["line"], row_error["column"], row_error["value"]) == (3, "price", "oops")
    assert Product.objects.count() == 2
    errors_csv = api_client.get(f"/api/imports/{job['id']}/errors.csv")
    assert errors_csv.status_code == 200 and errors_csv["Content-Type"].startswith("text/csv")
    assert b"oops" in b"".join(errors_csv.streaming_content)
    listed = api_client.get("/api/imports/").json()
    assert [item["id"] for item in listed["results"]] == [job["id"]] and listed["next"] is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "file is empty."),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "This is not a CSV text file (it contains binary data)."),
        (b"sku;name;price\na;A;1\n", "separated by semicolons, not commas: found \u201csku;name;price\u201d"),
        (b"sku\tname\na\tA\n", "The columns are separated by tabs, not commas"),
        (b"name,description\nLamp,Warm\n", "(missing: sku; found: name, description)"),
        (b"code,title", "(missing: sku, name; found: code, title)"),
    ],
)
def test_a_file_the_import_cannot_read_is_refused_before_a_job_is_queued(api_client, content, message):
    """The upload's own checks (text, header) answer 400 on `file` at once; no job exists."""
    response = upload(api_client, content)
    assert response.status_code == 400
    [error] = response.json()["file"]
    assert message in error
    assert not ImportJob.objects.exists()


@pytest.mark.django_db
def test_upload_over_the_size_limit_is_refused_without_staging(api_client, settings):
    """The size limit is the browser upload's: 400 on `file`, nothing staged."""
    settings.IMPORT_MAX_UPLOAD_BYTES = 10
    response = upload(api_client, b"sku,name\n" + b"a,A\n" * 10)
    assert response.status_code == 400
    assert "larger than" in response.json()["file"][0]
    assert not ImportJob.objects.exists()


@pytest.mark.django_db
def test_upload_without_a_file_or_as_json_is_refused(api_client):
    """No file is a 400 on `file`; a JSON body is a 415, both JSON."""
    assert "file" in api_client.post("/api/imports/", {}, format="multipart").json()
    response = api_client.post("/api/imports/", {"file": "x"}, format="json")
    assert response.status_code == 415 and "detail" in response.json()


@pytest.mark.django_db
def test_cancel_then_retry_a_queued_job(api_client, make_job, django_capture_on_commit_callbacks):
    """Cancel stops a queued job (202); a second cancel is a 409; retry queues it again (202)."""
    job = make_job("sku,name\na,A\n")
    response = api_client.post(f"/api/imports/{job.pk}/cancel/")
    assert response.status_code == 202 and response.json()["status"] == "cancelled"
    again = api_client.post(f"/api/imports/{job.pk}/cancel/")
    assert again.status_code == 409 and again.json() == {"detail": "This import has already ended."}
    with django_capture_on_commit_callbacks() as callbacks:
        response = api_client.post(f"/api/imports/{job.pk}/retry/")
    assert response.status_code == 202 and response.json()["status"] == "queued" and len(callbacks) == 1
    assert api_client.post(f"/api/imports/{job.pk}/retry/").status_code == 409


@pytest.mark.django_db
def test_unknown_job_and_missing_error_file_are_json_404s(api_client, run_import):
    """A job that does not exist, or has no row errors, answers 404 JSON."""
    job = run_import("sku,name\na,A\n")
    assert api_client.get("/api/imports/999999/").status_code == 404
    response = api_client.get(f"/api/imports/{job.pk}/errors.csv")
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert "detail" in response.json()
