"""The DRF plumbing every app's API uses: staff-only views outside the login redirect, one JSON
error shape, cursor pagination and a CSV renderer (throttling: api.throttling)."""

import logging

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import BasePermission
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler

from config.permissions import permission_denied_message

logger = logging.getLogger(__name__)


class ModelPermissionRequired(BasePermission):
    """The model permission a staff page's action needs (config.permissions), for the same action here."""

    def __init__(self, permission: str, action: str):
        self.permission, self.message = permission, permission_denied_message(action)

    def has_permission(self, request, view):
        return request.user.has_perm(self.permission)


class StaffApiMixin:
    """For API views: they answer a missing or bad token with 401 JSON themselves (DRF's
    authentication, staff only), so the site's login redirect (config.middleware) skips them.

    `action_permissions` maps a viewset action to the (permission, action text) its page
    counterpart needs, refused with 403 JSON.
    """

    action_permissions: dict[str, tuple[str, str]] = {}

    @classmethod
    def as_view(cls, *args, **kwargs):
        return login_not_required(super().as_view(*args, **kwargs))

    def get_permissions(self):
        permissions = super().get_permissions()
        if required := self.action_permissions.get(getattr(self, "action", None)):
            permissions.append(ModelPermissionRequired(*required))
        return permissions


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The resource is not in a state that allows this."
    default_code = "conflict"


def api_exception_handler(exc, context):
    """DRF's error shape everywhere: `{"detail": ...}`, or field errors as `{"field": [...]}`.

    A service's Django ValidationError is a 400 with its field errors, and an unexpected error a
    logged 500 in the same shape, never an HTML page.
    """
    if isinstance(exc, DjangoValidationError):
        exc = ValidationError(as_serializer_error(exc))
    elif isinstance(exc, RequestDataTooBig):
        exc = APIException(str(exc))
        exc.status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    response = exception_handler(exc, context)
    if response is None:
        logger.exception("Unhandled error in %s", context.get("view"), exc_info=exc)
        response = Response({"detail": "A server error occurred."}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    request = context.get("request")
    if request is not None:
        # Errors are JSON even where the view renders CSV.
        request.accepted_renderer, request.accepted_media_type = JSONRenderer(), JSONRenderer.media_type
    return response


class IdCursorPagination(CursorPagination):
    """Newest first, by id: opaque `next`/`previous` links and items under `results`."""

    ordering = "-id"
    page_size_query_param = "per_page"
    max_page_size = 100


class CsvRenderer(BaseRenderer):
    """Declares text/csv for views that stream CSV themselves (their errors are JSON)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data
