"""The top bar's running-job indicator: an import or a delete-all in progress, on every page.

Pages render it from two small indexed reads; it polls only while something runs, and the poll
that finds the shown job ended toasts how it ended, unless the page already shows that job.
"""

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.http import HttpRequest
from django.shortcuts import render
from django.urls import reverse
from django.utils.functional import SimpleLazyObject
from django.views.decorators.http import require_GET
from django_htmx.http import trigger_client_event

from imports.models import ImportJob
from imports.selectors import STATUS_LEVEL, import_job_active_list
from products.models import DeleteAllJob
from products.selectors import delete_all_job_pending


@dataclass(frozen=True)
class Activity:
    imports: list[ImportJob]
    delete_all: DeleteAllJob | None

    def __bool__(self) -> bool:
        return bool(self.imports or self.delete_all)

    @property
    def import_job(self) -> ImportJob | None:
        return self.imports[0] if self.imports else None

    @property
    def more_imports(self) -> int:
        return max(0, len(self.imports) - 1)


def activity_current() -> Activity:
    return Activity(imports=list(import_job_active_list()), delete_all=delete_all_job_pending())


def activity(request: HttpRequest) -> dict:
    """Context processor. Lazy: fragments that do not render the top bar do not read it."""
    if not request.user.is_authenticated:
        return {}
    return {"activity": SimpleLazyObject(activity_current)}


def _shown(request: HttpRequest, model, name: str):
    """The job of `model` that the polling indicator showed (its id is in the query string)."""
    job_id = request.GET.get(name, "")
    return model.objects.filter(pk=job_id).first() if job_id.isdigit() else None


def _import_toast(job: ImportJob, page: str) -> dict | None:
    if not job.has_ended or page in {reverse("imports:index"), job.get_absolute_url()}:
        return None
    message = f"Import of “{job.original_name}”: {job.get_status_display().lower()}."
    return {"message": message, "level": STATUS_LEVEL[job.status] or "info"}


def _delete_all_toast(job: DeleteAllJob, page: str) -> dict | None:
    # The products page has its own notice of the job, which toasts when it ends.
    if not job.is_finished or page == reverse("products:index"):
        return None
    if job.status == DeleteAllJob.Status.FAILED:
        return {"message": f"Delete all failed: {job.error}", "level": "error"}
    return {"message": f"Deleted all products ({job.deleted_count:,}).", "level": "success"}


@require_GET
def activity_indicator(request: HttpRequest):
    """The indicator alone: polled while a job runs, fetched again when a page starts one."""
    response = render(request, "_activity.html", {"activity": activity_current()})
    page = urlsplit(request.htmx.current_url or "").path
    toasts = []
    if job := _shown(request, ImportJob, "import"):
        toasts.append(_import_toast(job, page))
    if job := _shown(request, DeleteAllJob, "delete_all"):
        toasts.append(_delete_all_toast(job, page))
    toasts = [toast for toast in toasts if toast]
    if len(toasts) == 1:
        trigger_client_event(response, "toast", toasts[0])
    elif toasts:  # HX-Trigger holds one value per event name
        trigger_client_event(response, "toast", {"toasts": toasts})
    return response
