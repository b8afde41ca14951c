"""The admin site's titles, and Celery's task results shown read-only: the worker writes them.

Imported by the root URLconf, after the admin has registered every app's models.
"""

from django.contrib import admin
from django_celery_results.admin import GroupResultAdmin, TaskResultAdmin
from django_celery_results.models import GroupResult, TaskResult

admin.site.site_header = "Product importer administration"
admin.site.site_title = "Product importer admin"
admin.site.index_title = "Catalogue, imports, webhooks and tasks"


class ReadOnlyResultMixin:
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class TaskResultReadOnlyAdmin(ReadOnlyResultMixin, TaskResultAdmin):
    pass


class GroupResultReadOnlyAdmin(ReadOnlyResultMixin, GroupResultAdmin):
    pass


for model, model_admin in ((TaskResult, TaskResultReadOnlyAdmin), (GroupResult, GroupResultReadOnlyAdmin)):
    admin.site.unregister(model)
    admin.site.register(model, model_admin)
