import os

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def worker_priority_lower(**kwargs):
    """A worker yields the CPU to web processes on the same machine: an import keeps every core
    busy, and staff pages must stay quick meanwhile. Its pool processes (and an import's parser
    process) inherit the priority; PostgreSQL's own processes keep theirs."""
    from django.conf import settings

    os.nice(settings.WORKER_NICENESS)
