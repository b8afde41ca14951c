from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from config.activity import activity_current
from imports import selectors, services
from imports.forms import ImportUploadForm
from imports.models import ImportJob
from imports.uploadhandlers import ImportSizeLimitHandler

HISTORY_PAGE_SIZE = 20
ROW_ERRORS_SHOWN = 100


def _history(request: HttpRequest) -> dict:
    return {"history": Paginator(selectors.import_job_list(), HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))}


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    if request.htmx:
        return render(request, "imports/_history.html", _history(request))
    # The top bar shows the running imports too: read them once, for both.
    activity = activity_current()
    context = {
        "form": ImportUploadForm(),
        "activity": activity,
        "active_jobs": activity.imports,
        "max_bytes": settings.IMPORT_MAX_UPLOAD_BYTES,
        **_history(request),
    }
    return render(request, "imports/index.html", context)


# Upload handlers must be in place before anything reads the body, and CSRF's middleware reads it:
# exempt this view from the middleware and check the token in the wrapped view instead.
@csrf_exempt
@require_POST
def upload(request: HttpRequest) -> HttpResponse:
    size_limit = ImportSizeLimitHandler(request)
    request.upload_handlers.insert(0, size_limit)
    return _upload(request, size_limit)


@csrf_protect
def _upload(request: HttpRequest, size_limit: ImportSizeLimitHandler) -> HttpResponse:
    form = ImportUploadForm(request.POST, request.FILES, too_large=size_limit.too_large)
    if not form.is_valid():
        context = {"form": form, "max_bytes": settings.IMPORT_MAX_UPLOAD_BYTES}
        if request.htmx:
            return render(request, "imports/_upload_form.html", context, status=422)
        messages.error(request, form.errors["file"][0])
        return redirect("imports:index")
    file = form.cleaned_data["file"]
    job = services.import_job_create(file=file, name=file.name, user=request.user)
    if not request.htmx:
        messages.success(request, f"“{job.original_name}” is queued for import.")
        return redirect(job)
    context = {"form": ImportUploadForm(), "max_bytes": settings.IMPORT_MAX_UPLOAD_BYTES, "new_job": job}
    response = render(request, "imports/_upload_form.html", context)
    trigger_client_event(response, "imports-changed")
    return trigger_client_event(response, "toast", {"message": f"“{job.original_name}” uploaded.", "level": "success"})


@require_GET
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(selectors.import_job_list(), pk=pk)
    row_errors = job.row_errors.all()[:ROW_ERRORS_SHOWN]
    return render(request, "imports/detail.html", {"job": job, "row_errors": row_errors})


@require_GET
def progress(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(ImportJob, pk=pk)
    # On the imports page the job's history row is updated from this same read.
    history_row = urlsplit(request.htmx.current_url or "").path == reverse("imports:index")
    response = render(request, "imports/_progress.html", {"job": job, "history_row": history_row})
    if job.has_ended:  # the last poll: the fragment comes back without its trigger
        trigger_client_event(response, "imports-changed")
    return response


@require_POST
def cancel(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, services.import_job_cancel, "Cancelling the import.")


@require_POST
def retry(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, services.import_job_retry, "Import queued again.")


def _act(request: HttpRequest, pk: int, action, success: str) -> HttpResponse:
    job = get_object_or_404(ImportJob, pk=pk)
    try:
        job = action(job=job)
        toast = {"message": success, "level": "success"}
    except ValidationError as error:
        toast = {"message": error.messages[0], "level": "error"}
    if not request.htmx:
        getattr(messages, toast["level"])(request, toast["message"])
        return redirect(job)
    response = render(request, "imports/_progress.html", {"job": job})
    trigger_client_event(response, "imports-changed")
    return trigger_client_event(response, "toast", toast)


@require_GET
def errors_csv(request: HttpRequest, pk: int) -> FileResponse:
    job = get_object_or_404(ImportJob, pk=pk)
    if not job.errors_file:
        raise Http404("This import has no row errors.")
    filename = job.errors_file.name.rsplit("/", 1)[-1]
    return FileResponse(job.errors_file.open("rb"), as_attachment=True, filename=filename, content_type="text/csv")
