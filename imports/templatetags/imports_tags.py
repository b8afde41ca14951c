from django import template

from imports.models import ImportJob
from imports.selectors import STATUS_LEVEL, ImportProgress, import_job_progress

register = template.Library()


@register.filter
def progress(job: ImportJob) -> ImportProgress:
    return import_job_progress(job=job)


@register.filter
def status_level(job: ImportJob) -> str:
    """The badge colour of a job's status."""
    return STATUS_LEVEL[job.status]
