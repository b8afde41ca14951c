"""The Imports pages: upload checks, the progress fragment's polling, cancel, retry, error download."""

import csv
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from imports import services
from imports.models import ImportJob
from imports.pipeline import FORMULA_TRIGGERS

HTMX = {"HX-Request": "true"}


def upload(client, content: bytes, name="products.csv", **headers):
    return client.post(reverse("imports:upload"), {"file": SimpleUploadedFile(name, content)}, headers=headers)


def test_imports_page_is_the_landing_page(staff_client, run_import):
    """The home page leads to the Imports page with the upload form and the history."""
    run_import("sku,name\na,A\n", name="spring.csv")
    response = staff_client.get("/", follow=True)
    html = response.content.decode()
    assert response.redirect_chain[-1][0] == reverse("imports:index")
    assert 'id="upload-form"' in html and "spring.csv" in html and "Completed" in html


def test_upload_stages_the_file_and_queues_the_job(staff_client, staff_user, django_capture_on_commit_callbacks):
    """A valid upload creates a queued job, sends its task on commit and shows its progress card."""
    with django_capture_on_commit_callbacks() as callbacks:
        response = upload(staff_client, b"sku,name\na,A\n", **HTMX)
    job = ImportJob.objects.get()
    assert response.status_code == 200
    assert (job.status, job.original_name, job.size, job.created_by) == ("queued", "products.csv", 13, staff_user)
    assert len(callbacks) == 1 and job.celery_task_id
    html = response.content.decode()
    assert f'id="import-{job.pk}"' in html and 'hx-swap-oob="beforeend:#active-jobs"' in html
    assert "imports-changed" in response["HX-Trigger"]
    with job.file.open("rb") as staged:
        assert staged.read() == b"sku,name\na,A\n"


def test_upload_without_htmx_redirects_to_the_job(staff_client):
    """Without JavaScript the form still works and lands on the job's page."""
    response = upload(staff_client, b"sku,name\na,A\n")
    assert response.status_code == 302 and response["Location"] == ImportJob.objects.get().get_absolute_url()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "This is not a CSV text file (it contains binary data)."),
        ("sku,name\nCafé,1\n".encode("cp1252"), "it is not UTF-8 text"),
        (b"", "file is empty."),
    ],
)
def test_upload_rejects_files_that_are_not_csv_text(staff_client, content, message):
    """Binary, non-UTF-8 and empty files are refused at once with a clear message (422)."""
    response = upload(staff_client, content, name="photo.csv", **HTMX)
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not ImportJob.objects.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"sku;name;price\na;A;1\n", "The columns are separated by semicolons, not commas: found “sku;name;price”, expected"),
        (b"sku\tname\na\tA\n", "The columns are separated by tabs, not commas"),
        (b"SKU,title\na,A\n", "(missing: name; found: SKU, title); expected comma-separated columns such as"),
    ],
)
def test_upload_with_a_header_the_import_cannot_use_is_refused_before_queueing(staff_client, content, message):
    """A wrong header, or one separated by semicolons or tabs, is refused at upload (422) saying
    what was found and what is expected, instead of a queued job that fails."""
    response = upload(staff_client, content, **HTMX)
    assert response.status_code == 422
    assert escape(message) in response.content.decode()
    assert not ImportJob.objects.exists()


def test_upload_without_a_file_asks_for_one(staff_client):
    """Submitting the form with no file says what is missing."""
    response = staff_client.post(reverse("imports:upload"), headers=HTMX)
    assert response.status_code == 422 and "Choose a CSV file to import." in response.content.decode()


def test_upload_over_the_size_limit_is_refused_without_storing_it(staff_client, settings):
    """A file past IMPORT_MAX_UPLOAD_BYTES is dropped while streaming and the limit is named."""
    settings.IMPORT_MAX_UPLOAD_BYTES = 100
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 10  # go through the temporary-file handler, as big files do
    response = upload(staff_client, b"sku,name\n" + b"abc,def\n" * 50, **HTMX)
    assert response.status_code == 422
    assert "The file is larger than the 100\xa0bytes limit." in response.content.decode()
    assert not ImportJob.objects.exists()


def test_upload_checks_the_csrf_token(client, staff_user):
    """The upload view exempts itself from the middleware only to check the token itself."""
    client.force_login(staff_user)
    client.handler.enforce_csrf_checks = True
    assert upload(client, b"sku,name\na,A\n").status_code == 403


def test_imports_page_reads_the_running_imports_once(staff_client, make_job):
    """The running imports' cards and the top bar's indicator share one read of them."""
    job = make_job("sku,name\na,A\n")
    with CaptureQueriesContext(connection) as queries:
        html = staff_client.get(reverse("imports:index")).content.decode()
    assert f'id="import-{job.pk}"' in html and f"/activity/?import={job.pk}" in html
    assert sum('"imports_importjob"."status" IN' in query["sql"] for query in queries.captured_queries) == 1


def test_progress_fragment_polls_while_the_job_runs(staff_client, make_job):
    """A queued or running job's fragment asks to be polled again every second."""
    job = make_job("sku,name\na,A\n")
    ImportJob.objects.filter(pk=job.pk).update(status="running", stage="importing", bytes_processed=6)
    response = staff_client.get(reverse("imports:progress", args=[job.pk]), headers=HTMX)
    html = response.content.decode()
    assert 'hx-trigger="every 1s"' in html and "Importing…" in html and "46%" in html
    assert "HX-Trigger" not in response


def test_a_running_jobs_updated_count_says_it_is_settled_at_the_end(staff_client, make_job, run_import):
    """While a job runs, its Updated count tells that later rows may move products to unchanged; once it ends, not."""
    running = make_job("sku,name\na,A\n")
    ImportJob.objects.filter(pk=running.pk).update(status="running", stage="importing")
    ended = run_import("sku,name\na,A\n")
    for job, shown in ((running, True), (ended, False)):
        html = staff_client.get(reverse("imports:progress", args=[job.pk]), headers=HTMX).content.decode()
        assert ("counts as unchanged once the import ends" in html) is shown


def test_progress_fragment_stops_polling_when_the_job_ends(staff_client, run_import):
    """The fragment of an ended job has no trigger, shows the counts, and tells the history to refresh."""
    job = run_import("sku,name\na,A\n,B\n")
    response = staff_client.get(reverse("imports:progress", args=[job.pk]), headers=HTMX)
    html = response.content.decode()
    assert "every 1s" not in html and "100%" in html and "Completed with errors" in html
    assert "Download all errors" in html
    assert json.loads(response["HX-Trigger"]) == {"imports-changed": {}}


@pytest.mark.parametrize(("page", "history_row"), [("/imports/", True), ("/imports/1/", False)])
def test_progress_fragment_updates_the_history_row_from_the_same_read(staff_client, make_job, page, history_row):
    """On the imports page each poll also swaps in the job's history row, with the card's counts."""
    job = make_job("sku,name\na,A\n")
    ImportJob.objects.filter(pk=job.pk).update(status="running", created_count=177_677)
    response = staff_client.get(
        reverse("imports:progress", args=[job.pk]), headers={**HTMX, "HX-Current-URL": f"http://testserver{page}"}
    )
    html = response.content.decode()
    assert (f'<tr id="history-job-{job.pk}" data-job="{job.pk}" hx-swap-oob="true">' in html) is history_row
    assert html.count("177,677") == (2 if history_row else 1)


def test_completed_with_errors_bar_matches_its_badge(staff_client, run_import):
    """A job that completed with errors has an amber (warning) bar beside its amber badge."""
    job = run_import("sku,name\na,A\n,B\n")
    html = staff_client.get(reverse("imports:progress", args=[job.pk]), headers=HTMX).content.decode()
    assert 'class="progress warning"' in html and 'class="badge warning"' in html


def test_cancel_and_retry_buttons(staff_client, make_job, django_capture_on_commit_callbacks):
    """Cancel stops a queued job; Retry queues it again; both answer with the updated card and a toast."""
    job = make_job("sku,name\na,A\n")
    response = staff_client.post(reverse("imports:cancel", args=[job.pk]), headers=HTMX)
    assert "Cancelled" in response.content.decode() and "Retry" in response.content.decode()
    with django_capture_on_commit_callbacks() as callbacks:
        response = staff_client.post(reverse("imports:retry", args=[job.pk]), headers=HTMX)
    assert 'hx-trigger="every 1s"' in response.content.decode() and len(callbacks) == 1
    assert json.loads(response["HX-Trigger"])["toast"]["message"] == "Import queued again."
    services.import_job_run(job_id=job.pk)
    response = staff_client.post(reverse("imports:retry", args=[job.pk]), headers=HTMX)
    assert json.loads(response["HX-Trigger"])["toast"]["level"] == "error"


def test_retry_shows_only_when_retrying_can_help(staff_client, run_import, make_job):
    """A job whose file cannot be imported offers no Retry and says to fix the file, and a retry
    posted anyway is refused; a job whose runs kept stopping offers Retry."""
    bad_file = run_import("name,description\nLamp,Warm\n")
    html = staff_client.get(reverse("imports:progress", args=[bad_file.pk]), headers=HTMX).content.decode()
    assert "Fix the file and upload it again" in html and "Retry" not in html
    response = staff_client.post(reverse("imports:retry", args=[bad_file.pk]), headers=HTMX)
    assert json.loads(response["HX-Trigger"])["toast"]["level"] == "error"
    assert ImportJob.objects.get(pk=bad_file.pk).status == "failed"

    stopped = make_job("sku,name\na,A\n")
    ImportJob.objects.filter(pk=stopped.pk).update(status="running", attempts=services.MAX_ATTEMPTS)
    services.import_job_run(job_id=stopped.pk)
    html = staff_client.get(reverse("imports:progress", args=[stopped.pk]), headers=HTMX).content.decode()
    assert "Retry" in html and "Fix the file" not in html


def test_error_csv_downloads_and_detail_lists_row_errors(staff_client, run_import):
    """The job page lists row errors and links the full error CSV, which downloads."""
    job = run_import("sku,name,price\na,A,x\n", name="prices.csv")
    detail = staff_client.get(job.get_absolute_url()).content.decode()
    assert "Price is not a number" in detail and reverse("imports:errors", args=[job.pk]) in detail
    response = staff_client.get(reverse("imports:errors", args=[job.pk]))
    assert response["Content-Disposition"] == 'attachment; filename="prices-errors.csv"'
    assert b"".join(response.streaming_content).decode().splitlines()[1].startswith("2,price,x,")


def test_error_csv_neutralises_formulas(staff_client, run_import):
    """Cells a spreadsheet would run as formulas (=, +, -, @, tab, CR) download as plain text."""
    payloads = ["=HYPERLINK(\"http://evil.example\")", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]
    content = io.StringIO()
    csv.writer(content).writerows([["sku", "name", "price"], *([f"sku{n}", "Name", p] for n, p in enumerate(payloads))])
    job = run_import(content.getvalue() + "=cmd|x,only two\n")
    response = staff_client.get(reverse("imports:errors", args=[job.pk]))
    lines = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    values = [line[2] for line in lines[1:]]
    assert values == [f"'{payload}" for payload in payloads] + ["'=cmd|x,only two"]
    assert all(not cell.startswith(FORMULA_TRIGGERS) for line in lines[1:] for cell in line)


def test_error_csv_is_404_without_errors(staff_client, run_import):
    """A clean import has no error file to download."""
    job = run_import("sku,name\na,A\n")
    assert staff_client.get(reverse("imports:errors", args=[job.pk])).status_code == 404


def test_history_refreshes_as_a_fragment_and_paginates(staff_client, make_job):
    """The history table comes back alone for htmx, newest first, twenty to a page."""
    for number in range(21):
        make_job("sku,name\na,A\n", name=f"file-{number}.csv")
    response = staff_client.get(reverse("imports:index"), headers=HTMX)
    html = response.content.decode()
    assert html.startswith('<div id="history"') and "file-20.csv" in html and "file-0.csv" not in html
    assert "Page 1 of 2" in html
    assert "file-0.csv" in staff_client.get(reverse("imports:index") + "?page=2", headers=HTMX).content.decode()


def test_admin_shows_jobs_read_only(admin_client, run_import):
    """Staff can inspect jobs in the admin but not add or change them."""
    job = run_import("sku,name\n,A\n")
    assert admin_client.get(reverse("admin:imports_importjob_changelist")).status_code == 200
    change = admin_client.get(reverse("admin:imports_importjob_change", args=[job.pk])).content.decode()
    assert "SKU is required." in change and 'name="_save"' not in change
    assert admin_client.get(reverse("admin:imports_importjob_add")).status_code == 403


def test_admin_shows_a_finished_job_as_done(admin_client, run_import):
    """A completed job's stage is "Done" in the list and the page, not the "Finishing" it last reported."""
    job = run_import("sku,name\na,A\n")
    assert job.stage == ImportJob.Stage.FINISHING
    for url in (reverse("admin:imports_importjob_changelist"), reverse("admin:imports_importjob_change", args=[job.pk])):
        content = admin_client.get(url).content.decode()
        assert "Done" in content and "Finishing" not in content, url
