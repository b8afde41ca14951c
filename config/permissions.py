"""Model permissions for the staff pages' dangerous actions.

Staff status lets a user into the pages. Deleting the whole catalogue, and changing an existing
webhook endpoint (its URL, its state, or its secret, which rotating reveals) also need a Django
model permission, granted in the admin; superusers have them all. Everything else (imports,
product edits, adding and deleting endpoints, test sends, redeliveries) stays open to staff.
"""

from functools import wraps

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django_htmx.http import trigger_client_event


def permission_denied_message(action: str) -> str:
    """What a staff user without the permission is told, by the pages and the API alike."""
    return f"You do not have permission to {action}. Ask an administrator for it."


def staff_permission_required(permission: str, *, action: str):
    """Refuse the view with 403 unless the user has `permission` ("app_label.codename").

    htmx requests get an error toast and no swap; other requests the 403 page. The view keeps
    the permission in `required_permission`, so config/tests/test_access.py finds every guard.
    """

    def decorator(view):
        @wraps(view)
        def guarded(request, *args, **kwargs):
            if request.user.has_perm(permission):
                return view(request, *args, **kwargs)
            message = permission_denied_message(action)
            if not request.htmx:
                raise PermissionDenied(message)
            response = HttpResponse(status=403, headers={"HX-Reswap": "none"})
            return trigger_client_event(response, "toast", {"message": message, "level": "error"})

        guarded.required_permission = permission
        return guarded

    return decorator
