"""The admin site as a whole: its titles, and Celery's task results."""

import pytest
from django.urls import reverse
from django_celery_results.models import TaskResult

pytestmark = pytest.mark.django_db


def test_admin_names_the_application(admin_client):
    """The header says which application this is, not "Django administration"."""
    content = admin_client.get(reverse("admin:index")).content.decode()
    assert "Product importer administration" in content and "Django administration" not in content


def test_task_results_are_read_only(admin_client):
    """Task results can be looked at, never added or edited: the worker writes them."""
    result = TaskResult.objects.create(task_id="abc", status="SUCCESS", result='"completed"')
    assert admin_client.get(reverse("admin:django_celery_results_taskresult_add")).status_code == 403
    change = admin_client.get(reverse("admin:django_celery_results_taskresult_change", args=[result.pk]))
    assert change.status_code == 200 and 'name="_save"' not in change.content.decode()
    changelist = admin_client.get(reverse("admin:django_celery_results_taskresult_changelist")).content.decode()
    assert "abc" in changelist and reverse("admin:django_celery_results_taskresult_add") not in changelist
    assert admin_client.get(reverse("admin:django_celery_results_groupresult_add")).status_code == 403
